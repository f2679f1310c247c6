#!/usr/bin/env bash
# One-shot GPU check: builds the CUDA extension in place, runs the whole test suite (CUDA tests
# included) and the GPU benchmarks, and prints the tables last. Logs go to $OUT (or /tmp/lf_gpu).
#   bash bench/gpu_check.sh            # build + tests + benchmarks
#   SKIP_BENCH=1 bash bench/gpu_check.sh
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
if ! python3 setup.py build_ext --inplace > "$OUT/build.log" 2>&1; then
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

python3 -m pytest tests -q -x -p no:cacheprovider 2>&1 | tee "$OUT/tests.log" | tail -25
tests_rc=${PIPESTATUS[0]}
echo "tests exit code: $tests_rc"

if [ -z "${SKIP_BENCH:-}" ]; then
  python3 bench/run.py --device cuda --repeats 20 --json "$OUT/bench_cuda.json" 2>&1 | tee "$OUT/bench_cuda.md"
fi
exit "$tests_rc"
