#!/usr/bin/env bash
# Builds the Arcade Learning Environment's C++ core library (the one ale-py 0.12.1 wraps) for the
# lotteryfast._ale actor pool: fetches the ale-py source distribution from the package index
# (cached in $ALE_CACHE, default ~/.cache/lotteryfast), builds it with CMake (only zlib needed, no
# vcpkg, no SDL), after tools/patch_ale.py (the TIA draws spans with a player, missile or ball
# 64 pixels at a time, pixel-identical), and installs headers and libale.a into $ALE_PREFIX (default build/ale).
#   tools/build_ale.sh [python]     # python: the interpreter whose pip downloads the source
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-${PYTHON:-python3}}
VERSION=0.12.1
PREFIX=${ALE_PREFIX:-$PWD/build/ale}
CACHE=${ALE_CACHE:-$HOME/.cache/lotteryfast}
flavour="ale-py $VERSION, pgo=${ALE_PGO:-1}, patch=$(sha256sum tools/patch_ale.py | cut -c1-12)"
if [ -f "$PREFIX/lib/libale.a" ] && [ -f "$PREFIX/include/ale/ale_interface.hpp" ] &&
  [ "$(cat "$PREFIX/BUILD" 2>/dev/null)" = "$flavour" ]; then
  echo "ALE already built in $PREFIX ($flavour)"
  exit 0
fi
mkdir -p "$CACHE"
sdist="$CACHE/ale_py-$VERSION.tar.gz"
if [ ! -f "$sdist" ]; then
  # pip prepares the sdist's metadata, which needs its build backend (scikit-build-core).
  "$PY" -m pip install -q "scikit-build-core>=0.10"
  "$PY" -m pip download -q --no-binary :all: --no-deps --no-build-isolation -d "$CACHE" "ale-py==$VERSION"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar xzf "$sdist" -C "$work"
src="$work/ale_py-$VERSION"
"$PY" tools/patch_ale.py "$src"
configure() {
  cmake -S "$src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_CPP_LIB=ON -DBUILD_PYTHON_LIB=OFF \
    -DSDL_SUPPORT=OFF -DBUILD_VECTOR_LIB=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DCMAKE_CXX_FLAGS="$1" \
    > "$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
}
build() {
  cmake --build "$work/build" -j "${MAX_JOBS:-2}" > "$work/build.log" 2>&1 || { tail -40 "$work/build.log"; exit 1; }
}
# Profile-guided optimisation (ALE_PGO=0 turns it off): the emulator (TIA + 6502) is ~95 % of an
# actor's time, and GCC's PGO build of it runs 9-15 % more frames/s than the plain -O3 LTO build
# (bench/RESULTS.md). Training: tools/ale_pgo_train.cpp on the sdist's ROMs of the paper's games.
roms="$src/src/ale/python/roms"
train_roms=()
for game in assault berzerk breakout centipede kangaroo krull qbert seaquest space_invaders pong; do
  [ -f "$roms/$game.bin" ] && train_roms+=("$roms/$game.bin")
done
if [ "${ALE_PGO:-1}" != "0" ] && [ ${#train_roms[@]} -gt 0 ]; then
  prof="$work/profile"
  configure "-fprofile-generate=$prof -fprofile-update=single"
  build
  ${CXX:-g++} -O2 -std=c++17 tools/ale_pgo_train.cpp -I"$src/src" -I"$work/build/src/ale" "$work/build/src/ale/libale.a" \
    -lz -pthread -flto=auto -fprofile-generate="$prof" -o "$work/ale_pgo_train"
  "$work/ale_pgo_train" "${ALE_PGO_FRAMES:-12000}" "${train_roms[@]}"
  configure "-fprofile-use=$prof -fprofile-partial-training -Wno-missing-profile"
  build
  echo "ALE: profile-guided build (trained on ${#train_roms[@]} games)"
else
  configure ""
  build
fi
rm -rf "$PREFIX"
mkdir -p "$PREFIX/lib" "$PREFIX/include"
cp "$work/build/src/ale/libale.a" "$PREFIX/lib/"
# Headers are included as "ale/..." plus the generated version.hpp.
(cd "$src/src" && find ale \( -name "*.h" -o -name "*.hpp" -o -name "*.hxx" \) -exec cp --parents {} "$PREFIX/include" \;)
cp "$work/build/src/ale/version.hpp" "$PREFIX/include/"
echo "$flavour" > "$PREFIX/BUILD"
echo "ALE $VERSION built into $PREFIX"
