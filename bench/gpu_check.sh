#!/usr/bin/env bash
# One-shot GPU check: builds the CUDA extension in place, runs the whole test suite (CUDA tests
# included) and the GPU benchmarks, and prints the tables last. Logs go to $OUT (or /tmp/lf_gpu).
#   bash bench/gpu_check.sh            # build + CUDA tests + variant sweep + benchmarks
#   FULL_TESTS=1 bash bench/gpu_check.sh   # the whole suite instead of the CUDA-marked tests
#   SKIP_BENCH=1 bash bench/gpu_check.sh
#   VARIANTS=4,5 SWEEP=0,2,4,5 BENCH_BEST=1 bash bench/gpu_check.sh   # test 4 and 5, time 0,2,4,5,
#                                                   # benchmark the fastest for MaskedAdam
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/lf_gpu}
mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} LOTTERYFAST_CUDA=1 MAX_JOBS=${MAX_JOBS:-16}

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$OUT/gpu.txt"

start=$(date +%s)
rm -f lotteryfast/_C*.so
# All step-kernel variants compiled in (the sweep and the per-variant tests below pick them).
if ! LOTTERYFAST_CUDA_STEP_SWEEP=1 python3 setup.py build_ext --inplace > "$OUT/build.log" 2>&1; then
  grep -E "error|Error" "$OUT/build.log" | head -40
  tail -30 "$OUT/build.log"
  exit 1
fi
echo "build: $(( $(date +%s) - start )) s"
python3 -c "from lotteryfast._ext import _C; assert _C.built_with_cuda(), 'CUDA kernels missing'; print('built with CUDA')"
# A C++ error must reach Python as an exception, not kill the process.
python3 -c "
from lotteryfast._ext import _C
try:
    _C.set_cpu_isa('bogus')
except ValueError as e:
    print('C++ errors reach Python:', e)
" || echo "C++ exception translation FAILED (exit $?)"

# The CPU paths are tested by CI; here the CUDA-marked tests (optimizer, pruning, LSTM/cuDNN masks)
# run with the default kernels and once per step-kernel variant in VARIANTS, so that every variant
# is checked before it is timed.
marker=(-m cuda)
[ -n "${FULL_TESTS:-}" ] && marker=()
tests_rc=0
VARIANTS=${VARIANTS:-0,1,2,3,4,5,6}
for v in "" ${VARIANTS//,/ }; do
  LOTTERYFAST_CUDA_STEP_VARIANT=$v python3 -m pytest tests -q -x -p no:cacheprovider --continue-on-collection-errors "${marker[@]}" > "$OUT/tests-v$v.log" 2>&1
  rc=$?
  echo "tests, kernel variant ${v:-default}: exit $rc, $(tail -1 "$OUT/tests-v$v.log")"
  [ $rc -ne 0 ] && { tests_rc=$rc; grep -E "FAILED|Error" "$OUT/tests-v$v.log" | head -20; }
  [ -n "${FULL_TESTS:-}" ] && marker=(-m cuda)  # the whole suite once is enough
done

if [ -z "${SKIP_BENCH:-}" ]; then
  python3 bench/gpu_profile.py --variants "${SWEEP:-$VARIANTS}" --json "$OUT/sweep.json" 2>&1 | tee "$OUT/sweep.md"
  # The benchmarks run the default variant of each optimizer (csrc/cuda/optim.cu: step_variant),
  # or, with BENCH_BEST=1, the variant the sweep found fastest for MaskedAdam (for both optimizers).
  if [ -n "${BENCH_BEST:-}" ]; then
    export LOTTERYFAST_CUDA_STEP_VARIANT=$(python3 -c "import json; print(json.load(open('$OUT/sweep.json'))['best_variant']['MaskedAdam'])")
    echo "benchmarks with kernel variant $LOTTERYFAST_CUDA_STEP_VARIANT"
  fi
  python3 bench/run.py --device cuda --repeats 20 --json "$OUT/bench_cuda.json" 2>&1 | tee "$OUT/bench_cuda.md"
fi
exit "$tests_rc"
