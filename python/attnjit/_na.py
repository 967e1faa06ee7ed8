"""1-D neighborhood attention (SPEC.md section 3) over the C ABI: the problem from the tensors and
parameters, checked before any launch, and the forward and backward launches.

query, key, value and out are (batch, heads, length, head_dim) of one dtype. The forward also
returns the float32 row log-sum-exp (batch*heads*length values) that the backward reads.
"""
import ctypes
import math

import torch

from . import _abi, _library, _runtime
from ._tensors import (as_int, dtype_code, launch_on, ptr, ready, require_cuda, require_dtype,
                       require_tensor, shape_of)

OP = "neighborhood_attention"
WINDOWS = tuple(_abi.NA_WINDOWS)


def require_types(query, key, value):
    for name, tensor in (("query", query), ("key", key), ("value", value)):
        require_tensor(OP, name, tensor)


def problem(query, key, value, kernel_size, dilation, scale, window):
    """The attnjit_na_problem of these arguments, validated by the library; raises TypeError or
    ValueError with the library's message. Needs no GPU."""
    require_types(query, key, value)
    if query.dim() != 4:
        raise ValueError("%s: query has shape %s; expected (batch, heads, length, head_dim)" % (OP, shape_of(query)))
    for name, tensor in (("key", key), ("value", value)):
        if tensor.shape != query.shape:
            raise ValueError("%s: %s has shape %s but query has %s; they must be equal" % (
                OP, name, shape_of(tensor), shape_of(query)))
    dtype = dtype_code(OP, "query", query)
    require_dtype(OP, "key", key, "query", query)
    require_dtype(OP, "value", value, "query", query)
    kernel_size = as_int(OP, "kernel_size", kernel_size)
    dilation = as_int(OP, "dilation", dilation)
    if window not in _abi.NA_WINDOWS:
        raise ValueError("%s: window=%r; use one of %s" % (OP, window, ", ".join(map(repr, WINDOWS))))
    if scale is None:
        scale = 0.0  # the library's 1/sqrt(head_dim)
    elif isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise TypeError("%s: scale must be a float or None, got %r" % (OP, scale))
    elif scale == 0 or not math.isfinite(scale):
        raise ValueError("%s: scale=%r must be positive and finite; pass scale=None for 1/sqrt(head_dim)" % (OP, scale))
    batch, heads, length, head_dim = (int(s) for s in query.shape)
    p = _abi.NaProblem(batch=batch, heads=heads, length=length, head_dim=head_dim, kernel_size=kernel_size,
                       dilation=dilation, window=_abi.NA_WINDOWS[window], scale=float(scale), dtype=dtype)
    _library.call("attnjit_na_validate", ctypes.byref(p))
    return p


def logsumexp_elements(p):
    n = ctypes.c_size_t()
    _library.call("attnjit_na_logsumexp_elements", ctypes.byref(p), ctypes.byref(n))
    return n.value


def forward(p, query, key, value):
    """(out, logsumexp) on the inputs' device, launched on its current stream."""
    device = require_cuda(OP, [("query", query), ("key", key), ("value", value)])
    query, key, value = ready(query), ready(key), ready(value)
    with launch_on(device) as stream:
        out = torch.empty_like(query)
        logsumexp = torch.empty(logsumexp_elements(p), dtype=torch.float32, device=device)
        _library.call("attnjit_na_forward", _runtime.handle(), ctypes.byref(p), ptr(query), ptr(key), ptr(value),
                      ptr(out), ptr(logsumexp), stream)
    return out, logsumexp


def backward(p, query, key, value, out, logsumexp, grad_out):
    """(grad_query, grad_key, grad_value)."""
    device = require_cuda(OP, [("query", query), ("key", key), ("value", value), ("out", out),
                               ("logsumexp", logsumexp), ("grad_out", grad_out)])
    if grad_out.shape != query.shape:
        raise ValueError("%s: grad_out has shape %s; expected the output's %s" % (
            OP, shape_of(grad_out), shape_of(query)))
    require_dtype(OP, "grad_out", grad_out, "query", query)
    query, key, value, out = ready(query), ready(key), ready(value), ready(out)
    logsumexp, grad_out = ready(logsumexp), ready(grad_out)
    with launch_on(device) as stream:
        size = ctypes.c_size_t()
        _library.call("attnjit_na_workspace_bytes", _runtime.handle(), ctypes.byref(p), ctypes.byref(size))
        workspace = torch.empty(max(size.value, 1), dtype=torch.uint8, device=device)
        grad_query, grad_key, grad_value = torch.empty_like(query), torch.empty_like(key), torch.empty_like(value)
        _library.call("attnjit_na_backward", _runtime.handle(), ctypes.byref(p), ptr(query), ptr(key), ptr(value),
                      ptr(out), ptr(logsumexp), ptr(grad_out), ptr(grad_query), ptr(grad_key), ptr(grad_value),
                      ptr(workspace), stream)
    return grad_query, grad_key, grad_value
