#!/usr/bin/env bash
# Compiles every CUDA source (torch-free by design) for sm_80 and sm_90 so the GPU code keeps
# building on machines without a GPU or a CUDA torch. Objects go to a temporary folder.
set -euo pipefail
cd "$(dirname "$0")/.."
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
if [ ! -x "$NVCC" ]; then
  echo "compile_cu.sh: nvcc not found (set NVCC=/path/to/nvcc)" >&2
  exit 1
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
# Each source as a normal build compiles it, and with the bench-sweep kernel variants of optim.cu.
for f in csrc/cuda/*.cu; do
  for defs in "" "-DLOTTERYFAST_CUDA_STEP_SWEEP"; do
    if "$NVCC" -c -std=c++20 -O3 --fmad=false --expt-relaxed-constexpr -Werror all-warnings $defs \
        -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 "$f" -o "$out/$(basename "$f").o"; then
      echo "nvcc ok: $f ${defs:-(normal build)}"
    else
      echo "nvcc FAILED: $f ${defs:-(normal build)}" >&2
      status=1
    fi
  done
done
exit $status
