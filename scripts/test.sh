#!/usr/bin/env bash
# Builds attnjit and runs the whole test suite that this machine can run: every CPU suite, and the
# gpu suite too when a GPU is present (tests/run_gpu_suite.sh runs it alone and records its output).
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
