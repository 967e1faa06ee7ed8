"""Finds and loads libattnjit.so with ctypes, and turns its status codes into Python exceptions.

Lookup order: $ATTNJIT_LIBRARY (a path to libattnjit.so), else the copy installed inside this
package, else the repository's build/libattnjit.so (when the package runs from its source checkout).
Entry points are bound on first use, so a library built before an op existed still serves the others.
"""
import ctypes
import os
import threading

from . import _abi
from ._errors import Error, LibraryError

_NAME = "libattnjit.so"
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_lock = threading.Lock()
_lib = None
_path = None
_bound = {}  # name -> ctypes function with its prototype set


def candidates():
    """The paths tried, in order, each with where it comes from."""
    found = []
    env = os.environ.get("ATTNJIT_LIBRARY")
    if env:
        found.append((env, "$ATTNJIT_LIBRARY"))
    found.append((os.path.join(_PACKAGE_DIR, _NAME), "the installed package"))
    repo_build = os.path.join(os.path.dirname(os.path.dirname(_PACKAGE_DIR)), "build", _NAME)
    found.append((os.path.normpath(repo_build), "the repository's build folder"))
    return found


def _load():
    global _lib, _path
    tried = []
    for path, origin in candidates():
        if not os.path.isfile(path):
            tried.append("%s (%s): no such file" % (path, origin))
            if origin == "$ATTNJIT_LIBRARY":
                break  # an explicit choice that is wrong must not silently fall back to another copy
            continue
        try:
            _lib = ctypes.CDLL(path)
        except OSError as e:
            raise LibraryError("attnjit: %s (%s) could not be loaded: %s" % (path, origin, e)) from e
        _path = path
        return _lib
    raise LibraryError(
        "attnjit: libattnjit.so was not found; tried " + "; ".join(tried) + ". Build it with "
        "`cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build` in the repository, "
        "install this package with `pip install --no-build-isolation ./python` (which builds it), "
        "or set ATTNJIT_LIBRARY to its path.")


def library():
    """The loaded library (loaded on first call)."""
    with _lock:
        return _lib if _lib is not None else _load()


def path():
    library()
    return _path


def has(name):
    """Whether the loaded library exports the entry point `name`."""
    return hasattr(library(), name)


def function(name):
    """The ctypes function `name` with its prototype from _abi.PROTOTYPES."""
    fn = _bound.get(name)
    if fn is not None:
        return fn
    lib = library()
    try:
        fn = getattr(lib, name)
    except AttributeError:
        raise LibraryError(
            "attnjit: %s has no entry point %s: it was built from an older attnjit; rebuild it "
            "(cmake --build build) or point ATTNJIT_LIBRARY at a current build" % (_path, name)) from None
    fn.restype, fn.argtypes = _abi.PROTOTYPES[name]
    _bound[name] = fn
    return fn


def last_error():
    return function("attnjit_last_error")().decode("utf-8", "replace")


def call(name, *args):
    """Calls a status-returning entry point; raises ValueError for invalid_argument (the library's
    message says which value and what to do) and attnjit.Error for every other failure."""
    status = function(name)(*args)
    if status == _abi.OK:
        return
    message = last_error() or "%s failed with status %d" % (name, status)
    if status == _abi.INVALID_ARGUMENT:
        raise ValueError(message)
    raise Error(_abi.STATUS_NAMES.get(status, str(status)), message)


def version():
    return function("attnjit_version")().decode()
