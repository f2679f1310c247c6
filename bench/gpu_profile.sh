#!/usr/bin/env bash
# Build, then the density sweep of bench/gpu_profile.py and one Nsight Compute report of the step.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/lf_gpu}; mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 TORCH_CUDA_ARCH_LIST=9.0 LOTTERYFAST_CUDA=1 MAX_JOBS=16
LOTTERYFAST_CUDA_STEP_SWEEP=1 python3 setup.py build_ext --inplace > "$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
[ -n "${SKIP_SWEEP:-}" ] || python3 bench/gpu_profile.py | tee "$OUT/profile.md"
for d in ${DENSITIES:-0.2 0.5}; do
  # The second step of the run (-s 1): state already allocated.
  timeout 120 ncu --clock-control none -k regex:step_kernel -s 1 -c 1 --section SpeedOfLight --section MemoryWorkloadAnalysis \
    --section WarpStateStats --section Occupancy --section SchedulerStats --section InstructionStats \
    python3 bench/gpu_profile.py --once --density "$d" > "$OUT/ncu-$d.txt" 2>&1
  echo "== density $d"
  grep -E "Duration|DRAM Throughput|Compute \(SM\)|Warp Cycles Per Issued|Active Threads|Stall|Executed Instructions  |Issued Warp|L2 Hit|L1/TEX Hit" "$OUT/ncu-$d.txt" | head -14
done
