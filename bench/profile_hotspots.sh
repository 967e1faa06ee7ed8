#!/usr/bin/env bash
# Where each benchmark kernel's warps stall, instruction by instruction: Nsight Compute's SASS stall sampling
# (one launch per kernel), summarized by bench/ncu_hotspots.py. On a GPU machine, from a build folder.
# Writes OUT_DIR/<name>.csv (ncu's table) and OUT_DIR/<name>.txt (the summary) for each kernel below, and
# prints the summaries.
# Usage: bench/profile_hotspots.sh [BUILD_DIR] [OUT_DIR]     (ATTNJIT_NA_CONFIG / ATTNJIT_MTA_CONFIG pin configs)
set -uo pipefail
build=${1:-build}
out=${2:-hotspots}
here=$(cd "$(dirname "$0")" && pwd)
ncu=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
if [ -z "$ncu" ]; then
  echo "profile_hotspots: Nsight Compute (ncu) not found; install it or put it on PATH" >&2
  exit 2
fi
mkdir -p "$out"
# name | kernel-name regex | attnjit bench flags (bf16 unless said)
cases=(
  "mta_fwd_dw_k5|mta_forward|-k 5"
  "mta_bwd_input_dw_k5|mta_backward_input|-k 5"
  "mta_bwd_input_g1_k7|mta_backward_input|-k 7 -g 1"    # channel mixing: on tensor cores
  "mta_bwd_weight_g1_k7|mta_backward_weight|-k 7 -g 1"  # depthwise fuses it into the input gradient
  "mta_stats_dw_k5|mta_row_stats|-k 5"
  "mta_fwd_g1_k7|mta_forward|-k 7 -g 1"
  "na_fwd_k7_d128|na_forward|--op na -b 2 -c 32 -L 4096 -D 128 -k 7"
  "na_bwd_fused_k7_d128|na_backward_fused|--op na -b 2 -c 32 -L 4096 -D 128 -k 7"
  "na_fwd_k257_d64|na_forward|--op na -b 8 -c 16 -L 4096 -D 64 -k 257"
  "na_fwd_k2049_d128|na_forward|--op na -b 1 -c 16 -L 32768 -D 128 -k 2049"
)
for entry in "${cases[@]}"; do
  IFS='|' read -r name regex flags <<< "$entry"
  # shellcheck disable=SC2086
  timeout 300 "$ncu" --section SourceCounters --section WarpStateStats -k regex:"$regex" -c 1 --page source \
    --print-source sass --csv "$build/attnjit" bench $flags --no-verify --reps 1 --warmup 0 > "$out/$name.csv" 2>&1
  {
    echo "## $name: attnjit bench $flags (kernel $regex)"
    python3 "$here/ncu_hotspots.py" "$out/$name.csv" --top 25 || echo "(no profile: see $out/$name.csv)"
  } | tee "$out/$name.txt"
done
