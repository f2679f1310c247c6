#!/usr/bin/env bash
# GPU figures of the NLP training loops (issues 5 and 6): builds the CUDA extension, then the LSTM
# (paper size) and Transformer-base training-speed benchmarks against their torch baselines, and
# the kernel table with the default step variants. Logs go to $OUT (or /tmp/lf_gpu).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/lf_gpu}
mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} LOTTERYFAST_CUDA=1
export MAX_JOBS=${MAX_JOBS:-16}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
rm -f lotteryfast/_C*.so
python3 setup.py build_ext --inplace > "$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
python3 bench/lstm_speed.py --device cuda --steps 20 2>&1 | tee "$OUT/lstm_speed.md"
python3 bench/mt_speed.py --size base --device cuda --steps 20 2>&1 | tee "$OUT/mt_speed.md"
[ -n "${SKIP_KERNELS:-}" ] || python3 bench/run.py --device cuda --repeats 20 2>&1 | tee "$OUT/bench_cuda.md"
