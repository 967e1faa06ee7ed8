"""The C ABI of include/attnjit/attnjit.h, as ctypes declarations: structs, enums and prototypes.

Kept field for field in the header's order; a change there must be made here too (the tests read
the header and compare the field names).
"""
import ctypes

# attnjit_status
OK = 0
INVALID_ARGUMENT = 1
STATUS_NAMES = {
    0: "ok",
    1: "invalid_argument",
    2: "no_driver",
    3: "driver",
    4: "no_compiler",
    5: "compile",
    6: "store",
    7: "internal",
}

# attnjit_dtype, attnjit_norm, attnjit_cache_mode, attnjit_na_window
F32, F16, BF16 = 0, 1, 2
SOFTMAX, SPARSEMAX = 0, 1
CACHE_READ_WRITE = 0
NA_WINDOWS = {"clipped": 0, "shifted": 1, "causal": 2}


class MtaProblem(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int) for name in (
        "batch", "in_channels", "out_channels", "length",
        "kernel_h", "kernel_w",
        "stride_h", "stride_w",
        "pad_top", "pad_bottom", "pad_left", "pad_right",
        "dilation_h", "dilation_w",
        "groups",
        "has_bias",
        "norm",
        "dtype",
    )]


class NaProblem(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int) for name in (
        "batch", "heads", "length", "head_dim",
        "kernel_size", "dilation",
        "window",
    )] + [("scale", ctypes.c_double), ("dtype", ctypes.c_int)]


_p = ctypes.c_void_p
_size = ctypes.POINTER(ctypes.c_size_t)
_mta = ctypes.POINTER(MtaProblem)
_na = ctypes.POINTER(NaProblem)

# name -> (restype, argtypes); every status-returning entry point of the header.
PROTOTYPES = {
    "attnjit_last_error": (ctypes.c_char_p, []),
    "attnjit_version": (ctypes.c_char_p, []),
    "attnjit_runtime_create": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(_p)]),
    "attnjit_runtime_destroy": (None, [_p]),
    "attnjit_mta_validate": (ctypes.c_int, [_mta]),
    "attnjit_mta_row_stats_elements": (ctypes.c_int, [_mta, _size]),
    "attnjit_mta_prepare": (ctypes.c_int, [_p, _mta]),
    "attnjit_mta_workspace_bytes": (ctypes.c_int, [_p, _mta, _size]),
    # runtime, problem, scores, weight, bias, out, row_stats, stream
    "attnjit_mta_forward": (ctypes.c_int, [_p, _mta, _p, _p, _p, _p, _p, _p]),
    # runtime, problem, scores, weight, row_stats, grad_out, grad_scores, grad_weight, grad_bias,
    # workspace, stream
    "attnjit_mta_backward": (ctypes.c_int, [_p, _mta, _p, _p, _p, _p, _p, _p, _p, _p, _p]),
    "attnjit_na_validate": (ctypes.c_int, [_na]),
    "attnjit_na_logsumexp_elements": (ctypes.c_int, [_na, _size]),
    "attnjit_na_prepare": (ctypes.c_int, [_p, _na]),
    "attnjit_na_workspace_bytes": (ctypes.c_int, [_p, _na, _size]),
    # runtime, problem, query, key, value, out, logsumexp, stream
    "attnjit_na_forward": (ctypes.c_int, [_p, _na, _p, _p, _p, _p, _p, _p]),
    # runtime, problem, query, key, value, out, logsumexp, grad_out, grad_query, grad_key,
    # grad_value, workspace, stream
    "attnjit_na_backward": (ctypes.c_int, [_p, _na, _p, _p, _p, _p, _p, _p, _p, _p, _p, _p, _p]),
}
