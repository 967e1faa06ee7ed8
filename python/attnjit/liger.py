"""Drop-in names for Liger-Kernel's Multi-Token Attention and fused neighborhood attention, on
attnjit's kernels: switching is a change of import, e.g.

    from liger_kernel.transformers.functional import liger_multi_token_attention
    from attnjit.liger import liger_multi_token_attention

Signatures, defaults, module attributes, parameter names (so state dicts load either way) and the
modules' validation messages are Liger-Kernel's. Differences: sparse=True (sparsemax) works in every
dtype here, where Liger-Kernel accepts only float32 scores; the tensors must be on a CUDA device;
arguments are checked before any launch with attnjit's messages.
"""
from typing import Optional

from . import functional, nn

__all__ = ["liger_multi_token_attention", "LigerMultiTokenAttention", "liger_fused_neighborhood_attention",
           "LigerFusedNeighborhoodAttention", "LigerFusedNeighborhoodAttentionLayer"]


def liger_multi_token_attention(scores, weight, bias=None, stride: int = 1, padding: int = 0, dilation: int = 1,
                                groups: int = 1, sparse: bool = False):
    """Multi-Token Attention: mask0(conv2d(softmax_or_sparsemax(mask(scores)))); see
    attnjit.functional.multi_token_attention."""
    return functional.multi_token_attention(scores, weight, bias, stride, padding, dilation, groups, sparse)


def liger_fused_neighborhood_attention(query, key, value, kernel_size: int = 7, dilation: int = 1,
                                       scale: float = None):
    """Neighborhood attention with the window clipped at the sequence's ends; see
    attnjit.functional.neighborhood_attention."""
    return functional.neighborhood_attention(query, key, value, kernel_size, dilation, scale)


class LigerMultiTokenAttention(nn.MultiTokenAttention):
    """Multi-Token Attention: out = mask_{0}(conv2d(softmax(mask_{-inf}(scores)))) (arXiv 2504.00927)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 dilation: int = 1, groups: int = 1, bias: bool = True, sparse: bool = False):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, sparse)


class LigerFusedNeighborhoodAttention(nn.NeighborhoodAttention):
    """Neighborhood attention (arXiv 2504.16922) with q_proj, k_proj, v_proj and out_proj."""

    def __init__(self, hidden_size: int, num_heads: int, kernel_size: int = 7, dilation: int = 1, bias: bool = True,
                 dropout: float = 0.0, scale: Optional[float] = None):
        super().__init__(hidden_size, num_heads, kernel_size, dilation, bias, dropout, scale)


class LigerFusedNeighborhoodAttentionLayer(nn.NeighborhoodAttentionLayer):
    """Neighborhood attention with a pre-norm LayerNorm and a residual connection."""

    attention_class = LigerFusedNeighborhoodAttention

    def __init__(self, hidden_size: int, num_heads: int, kernel_size: int = 7, dilation: int = 1, bias: bool = True,
                 dropout: float = 0.0, layer_norm_eps: float = 1e-5, scale: Optional[float] = None):
        super().__init__(hidden_size, num_heads, kernel_size, dilation, bias, dropout, layer_norm_eps, scale)
