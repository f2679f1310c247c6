#!/usr/bin/env bash
# Builds the Arcade Learning Environment's C++ core library (the one ale-py 0.12.1 wraps) for the
# lotteryfast._ale actor pool: fetches the ale-py source distribution from the package index
# (cached in $ALE_CACHE, default ~/.cache/lotteryfast), builds it with CMake (only zlib needed, no
# vcpkg, no SDL) and installs headers and libale.a into $ALE_PREFIX (default build/ale).
#   tools/build_ale.sh [python]     # python: the interpreter whose pip downloads the source
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-${PYTHON:-python3}}
VERSION=0.12.1
PREFIX=${ALE_PREFIX:-$PWD/build/ale}
CACHE=${ALE_CACHE:-$HOME/.cache/lotteryfast}
if [ -f "$PREFIX/lib/libale.a" ] && [ -f "$PREFIX/include/ale/ale_interface.hpp" ]; then
  echo "ALE $VERSION already built in $PREFIX"
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
cmake -S "$src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_CPP_LIB=ON -DBUILD_PYTHON_LIB=OFF \
  -DSDL_SUPPORT=OFF -DBUILD_VECTOR_LIB=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON > "$work/configure.log" 2>&1 \
  || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/build" -j "${MAX_JOBS:-2}" > "$work/build.log" 2>&1 || { tail -40 "$work/build.log"; exit 1; }
rm -rf "$PREFIX"
mkdir -p "$PREFIX/lib" "$PREFIX/include"
cp "$work/build/src/ale/libale.a" "$PREFIX/lib/"
# Headers are included as "ale/..." plus the generated version.hpp.
(cd "$src/src" && find ale \( -name "*.h" -o -name "*.hpp" -o -name "*.hxx" \) -exec cp --parents {} "$PREFIX/include" \;)
cp "$work/build/src/ale/version.hpp" "$PREFIX/include/"
echo "ALE $VERSION built into $PREFIX"
