"""pytest setup for the Python front end: the package is imported from this checkout's python/
folder; the library from $ATTNJIT_LIBRARY, else the checkout's build/libattnjit.so.

Test files that need PyTorch skip themselves without it (pytest.importorskip). Tests marked `gpu` are
skipped without a CUDA device; tests that take the `na_library` fixture are skipped while the loaded
library has no neighborhood-attention entry points (the skip says so).
"""
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def cuda_available():
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a CUDA device (skipped without one)")


def pytest_collection_modifyitems(config, items):
    if cuda_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device: GPU tests run on a GPU machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def na_library():
    """Skips while libattnjit.so lacks the attnjit_na_* entry points (a build older than them)."""
    from attnjit import _library
    missing = [n for n in ("attnjit_na_validate", "attnjit_na_forward", "attnjit_na_backward") if not _library.has(n)]
    if missing:
        pytest.skip("%s has no %s yet: rebuild it" % (_library.path(), ", ".join(missing)))


@pytest.fixture
def repo():
    return REPO
