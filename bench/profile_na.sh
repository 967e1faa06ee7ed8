#!/usr/bin/env bash
# Profiles the neighborhood-attention kernels of bench/shapes/na.json's first four shapes with Nsight Compute,
# on a GPU machine, from a build folder: per kernel the time, instructions, SM and DRAM throughput, registers,
# active warps, shared-memory bank conflicts and tensor/FMA pipe use, plus the warp-state and scheduler
# sections at k=7 (what the results' notes quote as "what limits it").
# Usage: bench/profile_na.sh [BUILD_DIR] [OUT_FILE]     (ATTNJIT_NA_CONFIG pins configs, as for bench)
set -uo pipefail
build=${1:-build}
out=${2:-/dev/stdout}
ncu=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
if [ -z "$ncu" ]; then
  echo "profile_na: Nsight Compute (ncu) not found; install it or put it on PATH" >&2
  exit 2
fi
metrics=gpu__time_duration.sum,smsp__inst_executed.sum,sm__throughput.avg.pct_of_peak_sustained_elapsed
metrics+=,dram__throughput.avg.pct_of_peak_sustained_elapsed,launch__registers_per_thread
metrics+=,sm__warps_active.avg.pct_of_peak_sustained_active,l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum
metrics+=,sm__pipe_tensor_cycles_active.avg.pct_of_peak_sustained_active,sm__pipe_fma_cycles_active.avg.pct_of_peak_sustained_active
metrics+=,lts__t_sectors_srcunit_tex_op_read.sum,dram__bytes_read.sum
shapes=("-b 2 -c 32 -L 4096 -D 128 -k 7" "-b 8 -c 16 -L 4096 -D 64 -k 7" "-b 8 -c 16 -L 4096 -D 64 -k 257"
        "-b 8 -c 16 -L 4096 -D 64 -k 257 -d 8")
{
  for shape in "${shapes[@]}"; do
    echo "## attnjit bench --op na $shape"
    # shellcheck disable=SC2086
    timeout 300 "$ncu" --metrics "$metrics" -k regex:na_ "$build/attnjit" bench --op na $shape --no-verify --reps 1 \
      --warmup 0 2>&1 | grep -E "void|duration|inst_exec|__" || echo "(ncu failed for this shape)"
  done
  echo "## warp states: the three kernels at k=7, D=128"
  timeout 300 "$ncu" --section WarpStateStats --section SchedulerStats -k regex:"na_" -c 3 "$build/attnjit" bench \
    --op na -b 2 -c 32 -L 4096 -D 128 -k 7 --no-verify --reps 1 --warmup 0 2>&1 | grep -vE "^==PROF=="
} > "$out"
