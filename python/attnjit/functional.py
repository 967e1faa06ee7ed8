"""The ops as functions: attnjit's kernels for Multi-Token Attention and 1-D neighborhood attention,
on CUDA tensors, forward and backward.

Tensors may sit on any CUDA device; the kernels run on that device's current stream. Non-contiguous
inputs are made contiguous. Every argument is checked before anything is launched: TypeError for a
wrong type or dtype, ValueError for a wrong value or shape (with the library's message, which names the
values and what to do), and ValueError for tensors that are not on a CUDA device.
"""
from ._autograd import MultiTokenAttentionFunction, NeighborhoodAttentionFunction
from . import _ops

__all__ = ["multi_token_attention", "neighborhood_attention", "MultiTokenAttentionFunction",
           "NeighborhoodAttentionFunction"]


def multi_token_attention(scores, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, sparse=False):
    """Multi-Token Attention, convolution after the normalization (SPEC.md section 1):
    ``out = mask0(conv2d(norm(mask(scores)), weight, bias, stride, padding, dilation, groups))``.

    scores: (B, C_in, L, L) in float32, float16 or bfloat16; only the causal part (column <= row) is read.
    weight: (C_out, C_in/groups, Kh, Kw) and bias: (C_out,) or None, in the scores' dtype.
    stride, dilation: an int or (rows, columns). padding: an int, (rows, columns), or the four sides
    (top, bottom, left, right), e.g. (Kh-1, 0, Kw//2, Kw//2) to pad the query axis causally.
    sparse: sparsemax instead of softmax.
    Returns (B, C_out, out_h, out_w) with out_h = (L + top + bottom - dh*(Kh-1) - 1) // sh + 1 (likewise
    out_w), zero above the diagonal.
    """
    return _ops.multi_token_attention(scores, weight, bias, stride, padding, dilation, groups, sparse)


def neighborhood_attention(query, key, value, kernel_size=7, dilation=1, scale=None, window="clipped"):
    """1-D neighborhood attention (SPEC.md section 3): query i attends the keys of its window,
    ``out_i = sum_j softmax_j(scale * q_i . k_j) v_j``; no L x L tensor is ever made.

    query, key, value: (batch, heads, length, head_dim), one dtype (float32, float16 or bfloat16).
    kernel_size: odd, the window's keys; dilation: the step between them; scale: None for 1/sqrt(head_dim).
    window: "clipped" (cut at the sequence's ends, as Liger-Kernel), "shifted" (moved inward so every
    query sees kernel_size keys, as NATTEN) or "causal" (the query and the kernel_size-1 keys before it).
    Returns (batch, heads, length, head_dim).
    """
    return _ops.neighborhood_attention(query, key, value, kernel_size, dilation, scale, window)
