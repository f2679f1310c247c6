#!/usr/bin/env bash
# Configures and builds the C++ test/benchmark targets (CMakeLists.txt) against the torch wheel
# of $VENV and runs them with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
mkdir -p build
prefix=$("$VENV/bin/python" -c 'import torch; print(torch.utils.cmake_prefix_path)')
cmake -S . -B build/cpp -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
  -DPython3_EXECUTABLE="$VENV/bin/python" > build/cpp-configure.log 2>&1 || { cat build/cpp-configure.log; exit 1; }
cmake --build build/cpp -j "${MAX_JOBS:-2}"
ctest --test-dir build/cpp --output-on-failure
