"""attnjit for PyTorch: JIT-compiled CUDA kernels for Multi-Token Attention and 1-D neighborhood
attention, over the attnjit library's C ABI (loaded with ctypes; nothing is built against torch).

    attnjit.functional   multi_token_attention, neighborhood_attention, and their autograd.Functions
    attnjit.nn           MultiTokenAttention, NeighborhoodAttention, NeighborhoodAttentionLayer
    attnjit.liger        Liger-Kernel's names for the same, as a drop-in

The library is found through $ATTNJIT_LIBRARY, else inside this package, else in the repository's
build/ folder; kernels are cached in $ATTNJIT_CACHE (default ~/.cache/attnjit/attnjit.db).
"""
from . import functional, liger, nn
from ._errors import Error, LibraryError
from ._library import path as library_path
from ._library import version

__all__ = ["functional", "nn", "liger", "Error", "LibraryError", "library_path", "version"]
