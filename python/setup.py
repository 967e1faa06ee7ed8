"""Packaging of the PyTorch front end. Installing builds the attnjit library with CMake (in the
repository's build/ folder, as the README's build does) and puts libattnjit.so inside the package:

    python3 -m pip install --no-build-isolation ./python

--no-build-isolation uses the setuptools already installed (nothing is downloaded); the library's own
build needs what scripts/install_deps.sh installs. The package is pure Python over the library's C ABI
(ctypes): nothing is compiled against torch.
"""
import os
import subprocess

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class BuildWithLibrary(build_py):
    """build_py, then CMake's build of libattnjit.so, copied into the built package."""

    def run(self):
        super().run()
        if not os.path.isfile(os.path.join(REPO, "CMakeLists.txt")):
            raise RuntimeError("attnjit: %s is not the attnjit repository (no CMakeLists.txt): install from a "
                               "checkout, with `pip install --no-build-isolation ./python` at its root" % REPO)
        build_dir = os.path.join(REPO, "build")
        configure = ["cmake", "-S", REPO, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release"]
        cuda = os.environ.get("CUDA_HOME", "/usr/local/cuda")
        if os.path.isdir(cuda):
            configure.append("-DCUDAToolkit_ROOT=" + cuda)
        subprocess.check_call(configure)
        subprocess.check_call(["cmake", "--build", build_dir, "--target", "attnjit", "-j", str(os.cpu_count() or 2)])
        self.copy_file(os.path.join(build_dir, "libattnjit.so"), os.path.join(self.build_lib, "attnjit", "libattnjit.so"))


class BinaryDistribution(Distribution):
    """The wheel holds a compiled library: tag it for this platform, not as pure Python."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildWithLibrary}, distclass=BinaryDistribution)
