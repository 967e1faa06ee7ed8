#!/usr/bin/env bash
# Builds attnjit and runs the whole test suite that this machine can run: every CPU suite, and the
# gpu suite too when a GPU is present (tests/run_gpu_suite.sh runs it alone and records its output);
# then the Python front end's pytest suite (its GPU tests skip without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCUDAToolkit_ROOT="${CUDA_HOME:-/usr/local/cuda}" >/dev/null
cmake --build build -j"$(nproc)"
exclude=()
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "attnjit: no GPU here: running the CPU suites (the gpu suite is excluded)"
  exclude=(-LE gpu)
fi
ctest --test-dir build --output-on-failure -j"$(nproc)" "${exclude[@]}"
# The first interpreter with PyTorch and pytest: the PATH's python3 (a GPU machine's PyTorch), else the
# system's, for which install_deps.sh installed Debian's python3-torch and python3-pytest.
python=/usr/bin/python3
for candidate in python3 /usr/bin/python3; do
  if "$candidate" -c "import torch, pytest" >/dev/null 2>&1; then python=$candidate; break; fi
done
# ATTNJIT_TEST_PACKAGING=1 also installs the package into a scratch venv (pip, offline).
ATTNJIT_LIBRARY="$PWD/build/libattnjit.so" ATTNJIT_TEST_PACKAGING=1 "$python" -m pytest -q -p no:cacheprovider tests/python
