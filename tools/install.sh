#!/usr/bin/env bash
# Creates a virtual environment ($VENV, default .venv) with the pinned CPU torch and builds
# lotteryfast in place (editable). `tools/install.sh test` adds the test and benchmark tools and
# tries the optional fairseq extra (its tests are skipped where it does not install).
# --no-build-isolation: pip must build against the torch installed here, never fetch another.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "torch==2.13.0" "numpy>=1.24" ninja "setuptools>=64" wheel
# The Atari actor pool links ALE's C++ library, built from the ale-py source distribution.
tools/build_ale.sh "$VENV/bin/python"
extra=""
[ "${1:-}" = "test" ] && extra="[test,ray]"
MAX_JOBS=${MAX_JOBS:-2} "$VENV/bin/python" -m pip install -q --no-build-isolation -e ".${extra}"
if [ "${1:-}" = "test" ]; then
  # fairseq builds Cython sources against the environment (no build isolation): Cython first.
  if "$VENV/bin/python" -m pip install -q "cython<3.2" &&
    "$VENV/bin/python" -m pip install -q --no-build-isolation "fairseq-fixed==0.12.3.1"; then
    echo "fairseq extra installed (tests/test_fairseq_plugin.py runs)"
  else
    echo "fairseq extra did not install: tests/test_fairseq_plugin.py will be skipped"
  fi
fi
"$VENV/bin/python" -c "from lotteryfast._ext import _C; import lotteryfast._ale; print('lotteryfast built: CPU ISA', _C.cpu_isa(), '| CUDA', _C.built_with_cuda(), '| ALE pool: yes')"
