"""The ops as PyTorch sees them. With torch.library.custom_op (PyTorch >= 2.4) they are the custom
ops attnjit::mta_forward / mta_backward / na_forward / na_backward, with fake (shape-only)
implementations and autograd registered, so torch.compile keeps them in its graphs; the fake
implementations validate the problem too, so a bad call fails while tracing with the same message.
Older PyTorch runs the autograd.Functions of _autograd.py.
"""
from typing import List, Optional, Tuple

import torch

from . import _mta, _na
from ._autograd import MultiTokenAttentionFunction, NeighborhoodAttentionFunction
from ._tensors import as_int, as_pair, as_padding

HAS_CUSTOM_OPS = all(hasattr(torch.library, name) for name in ("custom_op", "register_fake", "register_autograd"))
Tensor = torch.Tensor


def multi_token_attention(scores, weight, bias, stride, padding, dilation, groups, sparse):
    if not HAS_CUSTOM_OPS:
        return MultiTokenAttentionFunction.apply(scores, weight, bias, stride, padding, dilation, groups, sparse)
    # Types are checked here, before the op's schema would reject them with a less helpful message.
    _mta.require_types(scores, weight, bias)
    stride, padding = list(as_pair(_mta.OP, "stride", stride)), list(as_padding(_mta.OP, padding))
    dilation, groups = list(as_pair(_mta.OP, "dilation", dilation)), as_int(_mta.OP, "groups", groups)
    if not isinstance(sparse, bool):
        raise TypeError("%s: sparse must be a bool, got %r" % (_mta.OP, sparse))
    out, _ = torch.ops.attnjit.mta_forward(scores.contiguous(), weight, bias, stride, padding, dilation, groups, sparse)
    return out


def neighborhood_attention(query, key, value, kernel_size, dilation, scale, window):
    if not HAS_CUSTOM_OPS:
        return NeighborhoodAttentionFunction.apply(query, key, value, kernel_size, dilation, scale, window)
    _na.require_types(query, key, value)
    kernel_size, dilation = as_int(_na.OP, "kernel_size", kernel_size), as_int(_na.OP, "dilation", dilation)
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float))):
        raise TypeError("%s: scale must be a float or None, got %r" % (_na.OP, scale))
    if not isinstance(window, str):
        raise TypeError("%s: window must be a str, got %r" % (_na.OP, window))
    scale = None if scale is None else float(scale)
    out, _ = torch.ops.attnjit.na_forward(query.contiguous(), key.contiguous(), value.contiguous(), kernel_size,
                                          dilation, scale, window)
    return out


def _register():
    """Defines the custom ops (PyTorch >= 2.4)."""

    @torch.library.custom_op("attnjit::mta_forward", mutates_args=())
    def mta_forward(scores: Tensor, weight: Tensor, bias: Optional[Tensor], stride: List[int], padding: List[int],
                    dilation: List[int], groups: int, sparse: bool) -> Tuple[Tensor, Tensor]:
        p = _mta.problem(scores, weight, bias, stride, padding, dilation, groups, sparse)
        return _mta.forward(p, scores, weight, bias)

    @mta_forward.register_fake
    def _(scores, weight, bias, stride, padding, dilation, groups, sparse):
        p = _mta.problem(scores, weight, bias, stride, padding, dilation, groups, sparse)
        _mta.device_of(scores, weight, bias)
        return (scores.new_empty(_mta.out_shape(p)),
                scores.new_empty((_mta.row_stats_elements(p),), dtype=torch.float32))

    @torch.library.custom_op("attnjit::mta_backward", mutates_args=())
    def mta_backward(scores: Tensor, weight: Tensor, row_stats: Tensor, grad_out: Tensor, has_bias: bool,
                     stride: List[int], padding: List[int], dilation: List[int], groups: int,
                     sparse: bool) -> Tuple[Tensor, Tensor, Tensor]:
        p = _mta.problem(scores, weight, None, stride, padding, dilation, groups, sparse)
        p.has_bias = int(has_bias)
        grad_scores, grad_weight, grad_bias = _mta.backward(p, scores, weight, row_stats, grad_out)
        # A custom op returns tensors only: no bias, an empty gradient that autograd drops.
        return grad_scores, grad_weight, grad_bias if has_bias else scores.new_empty((0,))

    @mta_backward.register_fake
    def _(scores, weight, row_stats, grad_out, has_bias, stride, padding, dilation, groups, sparse):
        bias_size = weight.shape[0] if has_bias else 0
        return scores.new_empty(scores.shape), weight.new_empty(weight.shape), scores.new_empty((bias_size,))

    def mta_setup(ctx, inputs, output):
        scores, weight, bias, stride, padding, dilation, groups, sparse = inputs
        ctx.save_for_backward(scores, weight, output[1])
        ctx.params = (bias is not None, stride, padding, dilation, groups, sparse)

    def mta_grad(ctx, grad_out, _grad_row_stats):
        scores, weight, row_stats = ctx.saved_tensors
        has_bias = ctx.params[0]
        grad_scores, grad_weight, grad_bias = torch.ops.attnjit.mta_backward(
            scores, weight, row_stats, grad_out.contiguous(), *ctx.params)
        return grad_scores, grad_weight, grad_bias if has_bias else None, None, None, None, None, None

    torch.library.register_autograd("attnjit::mta_forward", mta_grad, setup_context=mta_setup)

    @torch.library.custom_op("attnjit::na_forward", mutates_args=())
    def na_forward(query: Tensor, key: Tensor, value: Tensor, kernel_size: int, dilation: int,
                   scale: Optional[float], window: str) -> Tuple[Tensor, Tensor]:
        p = _na.problem(query, key, value, kernel_size, dilation, scale, window)
        return _na.forward(p, query, key, value)

    @na_forward.register_fake
    def _(query, key, value, kernel_size, dilation, scale, window):
        p = _na.problem(query, key, value, kernel_size, dilation, scale, window)
        _na.require_cuda(_na.OP, [("query", query), ("key", key), ("value", value)])
        return query.new_empty(query.shape), query.new_empty((_na.logsumexp_elements(p),), dtype=torch.float32)

    @torch.library.custom_op("attnjit::na_backward", mutates_args=())
    def na_backward(query: Tensor, key: Tensor, value: Tensor, out: Tensor, logsumexp: Tensor, grad_out: Tensor,
                    kernel_size: int, dilation: int, scale: Optional[float],
                    window: str) -> Tuple[Tensor, Tensor, Tensor]:
        p = _na.problem(query, key, value, kernel_size, dilation, scale, window)
        return _na.backward(p, query, key, value, out, logsumexp, grad_out)

    @na_backward.register_fake
    def _(query, key, value, out, logsumexp, grad_out, kernel_size, dilation, scale, window):
        return query.new_empty(query.shape), key.new_empty(key.shape), value.new_empty(value.shape)

    def na_setup(ctx, inputs, output):
        query, key, value, kernel_size, dilation, scale, window = inputs
        ctx.save_for_backward(query, key, value, output[0], output[1])
        ctx.params = (kernel_size, dilation, scale, window)

    def na_grad(ctx, grad_out, _grad_logsumexp):
        query, key, value, out, logsumexp = ctx.saved_tensors
        grads = torch.ops.attnjit.na_backward(query, key, value, out, logsumexp, grad_out.contiguous(), *ctx.params)
        return tuple(grads) + (None, None, None, None)

    torch.library.register_autograd("attnjit::na_forward", na_grad, setup_context=na_setup)


if HAS_CUSTOM_OPS:
    _register()
