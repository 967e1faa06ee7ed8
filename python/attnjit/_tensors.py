"""Argument checks and the tensor plumbing every op shares: dtypes, devices, layouts, streams.

Messages name the op, the argument and its value, and what to do. Types are TypeError, values and
shapes ValueError; both are raised before anything is launched.
"""
import contextlib
import ctypes

import torch

from . import _abi

DTYPES = {torch.float32: _abi.F32, torch.float16: _abi.F16, torch.bfloat16: _abi.BF16}


def shape_of(tensor):
    return str(tuple(int(s) for s in tensor.shape))


def require_tensor(op, name, value, optional=False):
    if value is None and optional:
        return
    if not isinstance(value, torch.Tensor):
        raise TypeError("%s: %s must be a torch.Tensor, got %s" % (op, name, type(value).__name__))


def dtype_code(op, name, tensor):
    code = DTYPES.get(tensor.dtype)
    if code is None:
        raise TypeError("%s: %s has dtype %s; attnjit computes in torch.float32, torch.float16 and "
                        "torch.bfloat16: convert it first (e.g. .to(torch.bfloat16))" % (op, name, tensor.dtype))
    return code


def require_dtype(op, name, tensor, expected_name, expected):
    if tensor.dtype != expected.dtype:
        raise TypeError("%s: %s has dtype %s but %s has %s; they must match" % (
            op, name, tensor.dtype, expected_name, expected.dtype))


def as_int(op, name, value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s: %s must be an int, got %r" % (op, name, value))
    return value


def as_pair(op, name, value):
    """An int, or a pair of ints (for rows, for columns)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return tuple(as_int(op, name, v) for v in value)
    raise TypeError("%s: %s must be an int or a pair of ints (rows, columns), got %r" % (op, name, value))


def as_padding(op, value):
    """(top, bottom, left, right) from an int, a pair (rows, columns) or the four sides."""
    if isinstance(value, (tuple, list)) and len(value) == 4:
        return tuple(as_int(op, "padding", v) for v in value)
    if isinstance(value, (tuple, list)) and len(value) not in (2, 4):
        raise TypeError("%s: padding must be an int, a pair (rows, columns) or four sides (top, bottom, "
                        "left, right), got %r" % (op, value))
    rows, columns = as_pair(op, "padding", value)
    return (rows, rows, columns, columns)


def require_cuda(op, named_tensors):
    """The one CUDA device of every tensor given as (name, tensor) pairs (None entries skipped)."""
    named = [(n, t) for n, t in named_tensors if t is not None]
    for name, tensor in named:
        if tensor.device.type != "cuda":
            raise ValueError("%s: needs CUDA tensors, but %s is on %s; move the inputs to a GPU (.cuda()): "
                             "attnjit runs CUDA kernels only" % (op, name, tensor.device))
    first_name, first = named[0]
    for name, tensor in named[1:]:
        if tensor.device != first.device:
            raise ValueError("%s: %s is on %s but %s is on %s; put every input on one device" % (
                op, name, tensor.device, first_name, first.device))
    return first.device


def ready(tensor):
    """Contiguous and 16-byte aligned, as the kernels read it (a view into the middle of a buffer may
    not be aligned; a copy is)."""
    tensor = tensor.contiguous()
    if tensor.data_ptr() % 16 != 0:
        tensor = tensor.clone()
    return tensor


def ptr(tensor):
    return None if tensor is None else ctypes.c_void_p(tensor.data_ptr())


@contextlib.contextmanager
def launch_on(device):
    """Makes `device` current (so the library's current CUDA context is its primary context) and yields
    the handle of its current PyTorch stream, on which the kernels are launched."""
    with torch.cuda.device(device):
        yield ctypes.c_void_p(torch.cuda.current_stream(device).cuda_stream)
