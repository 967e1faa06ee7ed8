"""Multi-Token Attention (SPEC.md section 1) over the C ABI: the problem from the tensors and
parameters, checked before any launch, and the forward and backward launches.

scores (B, C_in, L, L), weight (C_out, C_in/groups, Kh, Kw), bias (C_out) or None, all of one dtype;
out (B, C_out, out_h, out_w). The forward also returns the float32 row statistics (B*C_in*L values)
that the backward reads.
"""
import ctypes

import torch

from . import _abi, _library, _runtime
from ._tensors import (as_int, as_pair, as_padding, dtype_code, launch_on, ptr, ready, require_cuda,
                       require_dtype, require_tensor, shape_of)

OP = "mta"


def require_types(scores, weight, bias):
    require_tensor(OP, "scores", scores)
    require_tensor(OP, "weight", weight)
    require_tensor(OP, "bias", bias, optional=True)


def problem(scores, weight, bias, stride, padding, dilation, groups, sparse):
    """The attnjit_mta_problem of these arguments, validated by the library; raises TypeError or
    ValueError with the library's message. Needs no GPU: tensors on any device are checked the same."""
    require_types(scores, weight, bias)
    if scores.dim() != 4 or scores.shape[2] != scores.shape[3]:
        raise ValueError("%s: scores has shape %s; expected (batch, in_channels, L, L)" % (OP, shape_of(scores)))
    if weight.dim() != 4:
        raise ValueError("%s: weight has shape %s; expected (out_channels, in_channels/groups, kernel_h, "
                         "kernel_w)" % (OP, shape_of(weight)))
    dtype = dtype_code(OP, "scores", scores)
    require_dtype(OP, "weight", weight, "scores", scores)
    if bias is not None:
        require_dtype(OP, "bias", bias, "scores", scores)
    stride_h, stride_w = as_pair(OP, "stride", stride)
    dilation_h, dilation_w = as_pair(OP, "dilation", dilation)
    top, bottom, left, right = as_padding(OP, padding)
    groups = as_int(OP, "groups", groups)
    if not isinstance(sparse, bool):
        raise TypeError("%s: sparse must be a bool, got %r" % (OP, sparse))
    batch, in_channels, length = (int(s) for s in scores.shape[:3])
    out_channels, per_group, kernel_h, kernel_w = (int(s) for s in weight.shape)
    p = _abi.MtaProblem(
        batch=batch, in_channels=in_channels, out_channels=out_channels, length=length,
        kernel_h=kernel_h, kernel_w=kernel_w, stride_h=stride_h, stride_w=stride_w,
        pad_top=top, pad_bottom=bottom, pad_left=left, pad_right=right,
        dilation_h=dilation_h, dilation_w=dilation_w, groups=groups,
        has_bias=int(bias is not None), norm=_abi.SPARSEMAX if sparse else _abi.SOFTMAX, dtype=dtype)
    _library.call("attnjit_mta_validate", ctypes.byref(p))
    if per_group * groups != in_channels:
        raise ValueError("%s: weight has shape %s; with in_channels=%d and groups=%d it must be (%d, %d, %d, %d)"
                         % (OP, shape_of(weight), in_channels, groups, out_channels, in_channels // groups,
                            kernel_h, kernel_w))
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError("%s: bias has shape %s; expected (%d,), one value per output channel" % (
            OP, shape_of(bias), out_channels))
    return p


def out_shape(p):
    out_h = (p.length + p.pad_top + p.pad_bottom - p.dilation_h * (p.kernel_h - 1) - 1) // p.stride_h + 1
    out_w = (p.length + p.pad_left + p.pad_right - p.dilation_w * (p.kernel_w - 1) - 1) // p.stride_w + 1
    return (p.batch, p.out_channels, out_h, out_w)


def row_stats_elements(p):
    n = ctypes.c_size_t()
    _library.call("attnjit_mta_row_stats_elements", ctypes.byref(p), ctypes.byref(n))
    return n.value


def device_of(scores, weight, bias, *more):
    return require_cuda(OP, [("scores", scores), ("weight", weight), ("bias", bias)] + list(more))


def forward(p, scores, weight, bias):
    """(out, row_stats) on the scores' device, launched on its current stream."""
    device = device_of(scores, weight, bias)
    scores, weight = ready(scores), ready(weight)
    bias = None if bias is None else ready(bias)
    with launch_on(device) as stream:
        out = torch.empty(out_shape(p), dtype=scores.dtype, device=device)
        row_stats = torch.empty(row_stats_elements(p), dtype=torch.float32, device=device)
        _library.call("attnjit_mta_forward", _runtime.handle(), ctypes.byref(p), ptr(scores), ptr(weight),
                      ptr(bias), ptr(out), ptr(row_stats), stream)
    return out, row_stats


def backward(p, scores, weight, row_stats, grad_out):
    """(grad_scores, grad_weight, grad_bias); grad_bias is None when the problem has no bias."""
    device = device_of(scores, weight, None, ("row_stats", row_stats), ("grad_out", grad_out))
    if tuple(grad_out.shape) != out_shape(p):
        raise ValueError("%s: grad_out has shape %s; expected the output's %s" % (
            OP, shape_of(grad_out), out_shape(p)))
    require_dtype(OP, "grad_out", grad_out, "scores", scores)
    if row_stats.dtype != torch.float32 or row_stats.numel() != row_stats_elements(p):
        raise ValueError("%s: row_stats must be the forward's %d float32 values, got %d of %s" % (
            OP, row_stats_elements(p), row_stats.numel(), row_stats.dtype))
    scores, weight, row_stats, grad_out = ready(scores), ready(weight), ready(row_stats), ready(grad_out)
    with launch_on(device) as stream:
        size = ctypes.c_size_t()
        _library.call("attnjit_mta_workspace_bytes", _runtime.handle(), ctypes.byref(p), ctypes.byref(size))
        workspace = torch.empty(max(size.value, 1), dtype=torch.uint8, device=device)
        grad_scores = torch.empty_like(scores)
        grad_weight = torch.empty_like(weight)
        grad_bias = torch.empty(p.out_channels, dtype=scores.dtype, device=device) if p.has_bias else None
        _library.call("attnjit_mta_backward", _runtime.handle(), ctypes.byref(p), ptr(scores), ptr(weight),
                      ptr(row_stats), ptr(grad_out), ptr(grad_scores), ptr(grad_weight), ptr(grad_bias),
                      ptr(workspace), stream)
    return grad_scores, grad_weight, grad_bias
