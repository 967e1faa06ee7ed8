#!/usr/bin/env bash
# One GPU session's checks and measurements, from a build folder made elsewhere (nothing is built here):
#   suite   the gpu suite (mta and neighborhood attention, the tuner, the README examples)
#   bench   bench/mta_bench.py and bench/na_bench.py (attnjit beside PyTorch's baselines and the floor)
#   python  the pytest suite of the Python front end and examples/mta_training_step.py
#   all     the three, in that order
# Each part fits one 10-minute device call; outputs go under OUT_DIR (default bench/results/<date>_<gpu>_<commit>).
# Usage: bench/gpu_round.sh BUILD_DIR [OUT_DIR] [suite|bench|python|all]
set -uo pipefail
build=${1:?usage: bench/gpu_round.sh BUILD_DIR [OUT_DIR] [suite|bench|python|all]}
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | tr ' ' '-')
commit=${ATTNJIT_COMMIT:-$(cat "$build/COMMIT" 2>/dev/null || git rev-parse --short HEAD 2>/dev/null || echo unknown)}
out=${2:-bench/results/$(date -u +%Y-%m-%d)_${gpu:-nogpu}_${commit}}
part=${3:-all}
mkdir -p "$out"
export ATTNJIT_COMMIT=$commit PYTHONUNBUFFERED=1
status=0
run_suite() {
  ATTNJIT_CACHE=$(mktemp -d)/suite.db timeout 560 tests/run_gpu_suite.sh "$build" "$out" || status=1
}
run_bench() {
  python3 bench/mta_bench.py --attnjit "$build/attnjit" --out "$out" --no-compile --reps 20 || status=1
  python3 bench/na_bench.py --attnjit "$build/attnjit" --out "$out" --reps 20 || status=1
}
run_python() {
  ATTNJIT_LIBRARY="$PWD/$build/libattnjit.so" ATTNJIT_CACHE=$(mktemp -d)/py.db \
    timeout 400 python3 -m pytest -q -p no:cacheprovider -rs tests/python 2>&1 | tee "$out/pytest.txt" || status=1
  ATTNJIT_LIBRARY="$PWD/$build/libattnjit.so" PYTHONPATH=python \
    timeout 150 python3 examples/mta_training_step.py 2>&1 | tee "$out/training_step.txt" || status=1
}
case $part in
  suite) run_suite ;;
  bench) run_bench ;;
  python) run_python ;;
  all) run_suite; run_bench; run_python ;;
  *) echo "gpu_round: unknown part '$part' (suite, bench, python or all)" >&2; exit 2 ;;
esac
echo "gpu_round $part: exit status $status, results in $out"
exit "$status"
