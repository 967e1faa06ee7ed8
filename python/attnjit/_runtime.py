"""The one attnjit runtime of the process, made on first use.

One handle serves every device and thread: the C++ runtime keys its loaded kernels by the CUDA
context current at the call, and the callers make the tensors' device current first. The cache path
is the library's default ($ATTNJIT_CACHE, else $XDG_CACHE_HOME/attnjit/attnjit.db).

The handle is never destroyed: its kernels stay loaded as long as the process's CUDA contexts, and
destroying it at interpreter exit would race with PyTorch's own CUDA teardown.
"""
import ctypes
import threading

from . import _abi, _library

_lock = threading.Lock()
_handle = None


def handle():
    global _handle
    with _lock:
        if _handle is None:
            out = ctypes.c_void_p()
            _library.call("attnjit_runtime_create", None, _abi.CACHE_READ_WRITE, ctypes.byref(out))
            _handle = out
        return _handle
