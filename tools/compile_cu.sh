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
for f in csrc/cuda/*.cu; do
  if "$NVCC" -c -std=c++20 -O3 --fmad=false --expt-relaxed-constexpr -Werror all-warnings \
      -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 "$f" -o "$out/$(basename "$f").o"; then
    echo "nvcc ok: $f"
  else
    echo "nvcc FAILED: $f" >&2
    status=1
  fi
done
exit $status
