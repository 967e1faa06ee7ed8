"""nn.Modules over attnjit.functional: a Multi-Token Attention convolution, and neighborhood attention
with its projections, alone or as a pre-norm residual layer.

Their arguments, attributes and parameter names are those of Liger-Kernel's modules (attnjit.liger
gives them Liger's names), plus what attnjit adds: four-sided padding for MultiTokenAttention, and the
`window` of neighborhood attention.
"""
import math
from typing import Optional

import torch
from torch import nn
from torch.nn.modules.utils import _pair

from . import functional


class MultiTokenAttention(nn.Module):
    """out = mask0(conv2d(softmax_or_sparsemax(mask(scores)))) on scores (B, in_channels, L, L).

    kernel_size, stride, dilation: an int or (rows, columns); padding: an int, (rows, columns) or
    (top, bottom, left, right). The weight (out_channels, in_channels/groups, *kernel_size) starts as
    kaiming_uniform_(a=sqrt(5)), the bias at zeros. Parameters in another dtype than the scores (say
    float32 masters with bfloat16 scores) are cast to the scores' dtype for the call.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 dilation: int = 1, groups: int = 1, bias: bool = True, sparse: bool = False):
        super().__init__()
        for name, channels in (("in_channels", in_channels), ("out_channels", out_channels)):
            if groups < 1 or channels % groups != 0:
                raise ValueError("mta: groups=%d does not divide %s=%d" % (groups, name, channels))
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = tuple(_pair(padding))
        self.dilation = _pair(dilation)
        self.groups = groups
        self.sparse = sparse
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, *self.kernel_size))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        weight, bias = self.weight, self.bias
        if isinstance(scores, torch.Tensor) and weight.dtype != scores.dtype:
            weight = weight.to(scores.dtype)
            bias = None if bias is None else bias.to(scores.dtype)
        return functional.multi_token_attention(scores, weight, bias, self.stride, self.padding, self.dilation,
                                                self.groups, self.sparse)

    def extra_repr(self):
        return ("{in_channels}, {out_channels}, kernel_size={kernel_size}, stride={stride}, padding={padding}, "
                "dilation={dilation}, groups={groups}, bias={has_bias}, sparse={sparse}").format(
                    has_bias=self.bias is not None, **self.__dict__)


class NeighborhoodAttention(nn.Module):
    """Neighborhood attention over hidden_states (batch, seq_len, hidden_size): q_proj, k_proj, v_proj,
    attention over num_heads heads of hidden_size/num_heads, dropout, out_proj."""

    def __init__(self, hidden_size: int, num_heads: int, kernel_size: int = 7, dilation: int = 1, bias: bool = True,
                 dropout: float = 0.0, scale: Optional[float] = None, window: str = "clipped"):
        super().__init__()
        # The checks and messages of Liger-Kernel's module, so that attnjit.liger raises what it raises.
        if hidden_size % num_heads != 0:
            raise ValueError(f"hidden_size ({hidden_size}) must be divisible by num_heads ({num_heads})")
        if kernel_size <= 0:
            raise ValueError(f"kernel_size ({kernel_size}) must be positive")
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size ({kernel_size}) must be odd")
        if dilation < 1:
            raise ValueError(f"dilation ({dilation}) must be positive")
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.scale = scale if scale is not None else 1.0 / math.sqrt(self.head_dim)
        self.dropout_p = dropout
        self.window = window
        self.q_proj = nn.Linear(hidden_size, hidden_size, bias=bias)
        self.k_proj = nn.Linear(hidden_size, hidden_size, bias=bias)
        self.v_proj = nn.Linear(hidden_size, hidden_size, bias=bias)
        self.out_proj = nn.Linear(hidden_size, hidden_size, bias=bias)
        self.dropout = nn.Dropout(dropout) if dropout > 0.0 else None

    def _heads(self, x, batch_size, seq_len):
        return x.view(batch_size, seq_len, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, hidden_states: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if attention_mask is not None:
            raise NotImplementedError(f"Attention mask is not yet supported in {type(self).__name__}")
        batch_size, seq_len, hidden_size = hidden_states.shape
        query = self._heads(self.q_proj(hidden_states), batch_size, seq_len)
        key = self._heads(self.k_proj(hidden_states), batch_size, seq_len)
        value = self._heads(self.v_proj(hidden_states), batch_size, seq_len)
        attn = functional.neighborhood_attention(query, key, value, self.kernel_size, self.dilation, self.scale,
                                                 self.window)
        attn = attn.transpose(1, 2).contiguous().view(batch_size, seq_len, hidden_size)
        if self.dropout is not None:
            attn = self.dropout(attn)
        return self.out_proj(attn)

    def extra_repr(self) -> str:
        text = (f"hidden_size={self.hidden_size}, num_heads={self.num_heads}, head_dim={self.head_dim}, "
                f"kernel_size={self.kernel_size}, dilation={self.dilation}, scale={self.scale}, "
                f"dropout={self.dropout_p}")
        return text if self.window == "clipped" else text + f", window={self.window}"


class NeighborhoodAttentionLayer(nn.Module):
    """Pre-norm residual layer: hidden_states + dropout(attention(layer_norm(hidden_states)))."""

    attention_class = NeighborhoodAttention

    def __init__(self, hidden_size: int, num_heads: int, kernel_size: int = 7, dilation: int = 1, bias: bool = True,
                 dropout: float = 0.0, layer_norm_eps: float = 1e-5, scale: Optional[float] = None,
                 window: str = "clipped"):
        super().__init__()
        extra = {} if window == "clipped" else {"window": window}
        self.attention = self.attention_class(hidden_size=hidden_size, num_heads=num_heads, kernel_size=kernel_size,
                                              dilation=dilation, bias=bias, dropout=dropout, scale=scale, **extra)
        self.layer_norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.dropout = nn.Dropout(dropout) if dropout > 0.0 else None

    def forward(self, hidden_states: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        attn = self.attention(self.layer_norm(hidden_states), attention_mask)
        if self.dropout is not None:
            attn = self.dropout(attn)
        return hidden_states + attn
