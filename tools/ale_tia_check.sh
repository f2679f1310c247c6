#!/usr/bin/env bash
# Checks tools/patch_ale.py frame by frame: builds tools/ale_tia_check.cpp against the ALE in
# $ALE_PREFIX (default build/ale, from tools/build_ale.sh) and plays every ROM of the ale-py wheel
# with ALE's own pixel loop and with the patched one side by side.
#   tools/ale_tia_check.sh [FRAMES]        # frames per ROM (default 2000)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PREFIX=${ALE_PREFIX:-$PWD/build/ale}
FRAMES=${1:-2000}
mkdir -p build
${CXX:-g++} -O2 -std=c++17 tools/ale_tia_check.cpp -I"$PREFIX/include" "$PREFIX/lib/libale.a" -lz -pthread \
  -flto=auto -o build/ale_tia_check
mapfile -t roms < <("$VENV/bin/python" -c \
  "from ale_py import roms; print('\n'.join(str(roms.get_rom_path(r)) for r in roms.get_all_rom_ids()))")
# ALE writes why it refuses a ROM to stderr and exits; the checker reports those ROMs as skipped.
build/ale_tia_check "$FRAMES" "${roms[@]}" 2>/dev/null
