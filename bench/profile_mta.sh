#!/usr/bin/env bash
# Profiles the mta kernels of the benchmark shapes with Nsight Compute, on a GPU machine, from a build
# folder: per kernel the time, instructions, SM and DRAM throughput, registers, active warps, shared-memory
# bank conflicts and tensor-pipe use, plus the warp-state and scheduler sections of the forward and the
# input gradient (what the notes in bench/results/ quote as "what limits it").
# Usage: bench/profile_mta.sh [BUILD_DIR] [OUT_FILE]     (ATTNJIT_MTA_CONFIG pins configs, as for bench)
set -uo pipefail
build=${1:-build}
out=${2:-/dev/stdout}
ncu=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
if [ -z "$ncu" ]; then
  echo "profile_mta: Nsight Compute (ncu) not found; install it or put it on PATH" >&2
  exit 2
fi
metrics=gpu__time_duration.sum,smsp__inst_executed.sum,sm__throughput.avg.pct_of_peak_sustained_elapsed
metrics+=,dram__throughput.avg.pct_of_peak_sustained_elapsed,launch__registers_per_thread
metrics+=,sm__warps_active.avg.pct_of_peak_sustained_active,l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum
metrics+=,sm__pipe_tensor_cycles_active.avg.pct_of_peak_sustained_active,sm__pipe_fma_cycles_active.avg.pct_of_peak_sustained_active
# The shapes of bench/shapes/mta.json, as flags (one launch of each kernel: --reps 1 --warmup 0).
shapes=("-k 3" "-k 5" "-k 7" "-b 4 -k 6x11 -p causal" "-k 7 -g 1" "-b 1 -L 8192 -k 5" "-k 5 --dtype f32"
        "-k 5 --dtype f16")
{
  for shape in "${shapes[@]}"; do
    echo "## attnjit bench $shape"
    # shellcheck disable=SC2086
    timeout 300 "$ncu" --metrics "$metrics" -k regex:mta_ "$build/attnjit" bench $shape --no-verify --reps 1 \
      --warmup 0 2>&1 | grep -E "void|duration|inst_exec|__" || echo "(ncu failed for this shape)"
  done
  echo "## warp states: forward and input gradient, dw K5"
  timeout 300 "$ncu" --section WarpStateStats --section SchedulerStats -k regex:"mta_forward|mta_backward_input" \
    -c 3 "$build/attnjit" bench -k 5 --no-verify --reps 1 --warmup 0 2>&1 | grep -vE "^==PROF=="
} > "$out"
