#!/usr/bin/env bash
# Build, then the density sweep of bench/gpu_profile.py and one Nsight Compute report of the step.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/lf_gpu}; mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 TORCH_CUDA_ARCH_LIST=9.0 LOTTERYFAST_CUDA=1 MAX_JOBS=16
python3 setup.py build_ext --inplace > "$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
python3 bench/gpu_profile.py | tee "$OUT/profile.md"
timeout 120 ncu --clock-control none -k regex:step_kernel -c 1 --section SpeedOfLight --section MemoryWorkloadAnalysis \
  --section WarpStateStats --section Occupancy --section LaunchStats python3 bench/gpu_profile.py --once > "$OUT/ncu.txt" 2>&1
grep -E "Throughput|Duration|Stall|Occupancy|Registers|Warp Cycles|Issued|Eligible|L2 Hit|L1/TEX Hit|Mem Busy|Max Bandwidth" "$OUT/ncu.txt" | head -40
