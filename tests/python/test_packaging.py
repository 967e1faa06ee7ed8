"""`pip install --no-build-isolation ./python` works offline and installs a package that carries its
library. It builds the library with CMake, so it runs where scripts/test.sh asks for it
(ATTNJIT_TEST_PACKAGING=1, on a machine with the build's dependencies)."""
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.skipif(os.environ.get("ATTNJIT_TEST_PACKAGING") != "1",
                                reason="set ATTNJIT_TEST_PACKAGING=1 to install the package into a scratch venv")


def test_pip_install_offline_into_a_venv(repo, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    install = subprocess.run([python, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-index",
                              os.path.join(repo, "python")], capture_output=True, text=True, cwd=str(tmp_path))
    assert install.returncode == 0, install.stdout + install.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("ATTNJIT_LIBRARY", "PYTHONPATH")}
    code = ("import attnjit, torch\n"
            "print(attnjit.library_path())\n"
            "try:\n"
            "    attnjit.liger.liger_multi_token_attention(torch.randn(1, 4, 8, 8), torch.randn(4, 1, 3, 3), groups=3)\n"
            "except ValueError as e:\n"
            "    print(e)\n")
    run = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=str(tmp_path), env=env)
    assert run.returncode == 0, run.stderr
    library, message = run.stdout.splitlines()
    assert library.startswith(str(venv)) and library.endswith(os.path.join("attnjit", "libattnjit.so"))
    assert message == "mta: groups=3 does not divide in_channels=4"
