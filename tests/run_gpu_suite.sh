#!/usr/bin/env bash
# Runs the gpu suite on a machine with an NVIDIA GPU, from a build folder made by
# `cmake -B build && cmake --build build`, and writes what it prints under OUT_DIR (default
# bench/results/<date>_<gpu>_<commit>/). Usage: tests/run_gpu_suite.sh [BUILD_DIR] [OUT_DIR]
set -uo pipefail
build=${1:-build}
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | tr ' ' '-')
commit=${ATTNJIT_COMMIT:-$(cat "$build/COMMIT" 2>/dev/null || git rev-parse --short HEAD 2>/dev/null || echo unknown)}
out=${2:-bench/results/$(date -u +%Y-%m-%d)_${gpu:-nogpu}_${commit}}
mkdir -p "$out"
export ATTNJIT_CACHE=${ATTNJIT_CACHE:-$(mktemp -d)/attnjit.db}
{
  echo "# gpu suite: $(date -u +%FT%TZ), GPU ${gpu:-none}, commit $commit"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  "$build/attnjit" doctor
  "$build/tests/attnjit_gpu_tests" || echo "GPU SUITE FAILED"
  echo "# README examples (examples/mta_forward_backward.cpp, examples/na_forward_backward.cpp)"
  "$build/mta_forward_backward" || echo "README EXAMPLE FAILED"
  "$build/na_forward_backward" || echo "README EXAMPLE FAILED"
} 2>&1 | tee "$out/gpu_suite.txt"
status=0
grep -q "FAILED" "$out/gpu_suite.txt" && status=1
echo "gpu suite exit status: $status" | tee -a "$out/gpu_suite.txt"
exit "$status"
