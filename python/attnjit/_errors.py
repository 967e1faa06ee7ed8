"""The exceptions attnjit raises beside ValueError and TypeError (bad arguments)."""


class Error(RuntimeError):
    """A failure of the attnjit library past argument checking: no driver or GPU, a CUDA driver call,
    NVRTC missing or rejecting a kernel, the kernel store. `status` is the C ABI's status name
    ("no_driver", "driver", "no_compiler", "compile", "store", "internal")."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class LibraryError(OSError):
    """libattnjit.so could not be found or loaded, or lacks an entry point this package needs."""
