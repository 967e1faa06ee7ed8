#!/usr/bin/env bash
# Installs what is missing, builds attnjit (Release) and runs the main job, `attnjit bench`: with a
# GPU it compiles, verifies against the double-precision reference and times the mta kernels at a
# standard shape; without one it compiles them for sm_90 into the store and says so. Arguments go
# to `attnjit bench` (see build/attnjit bench --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCUDAToolkit_ROOT="${CUDA_HOME:-/usr/local/cuda}" >/dev/null
cmake --build build -j"$(nproc)"
exec build/attnjit bench "$@"
