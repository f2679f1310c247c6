"""tools/patch_ale.py: what it changes in ALE's source, and that the pool plays the same with it off.

The frame-by-frame check over every ROM is tools/ale_tia_check.sh (CI); the pool against the
unpatched ale-py wheel is tests/test_atari.py.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SDIST = Path(os.environ.get("ALE_CACHE", Path.home() / ".cache" / "lotteryfast")) / "ale_py-0.12.1.tar.gz"


def load_patch_module():
    spec = importlib.util.spec_from_file_location("patch_ale", ROOT / "tools" / "patch_ale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tia_source() -> tuple[str, str]:
    """ALE 0.12.1's TIA.cxx and TIA.hxx from the cached source distribution (tools/build_ale.sh)."""
    if not SDIST.is_file():
        pytest.skip(f"{SDIST} is not there (tools/build_ale.sh fetches it)")
    with tarfile.open(SDIST) as tar:
        cxx = tar.extractfile("ale_py-0.12.1/src/ale/emucore/TIA.cxx").read().decode()
        hxx = tar.extractfile("ale_py-0.12.1/src/ale/emucore/TIA.hxx").read().decode()
    return cxx, hxx


def test_patch_adds_the_span_path_once_before_the_object_switch(tia_source):
    patch = load_patch_module()
    cxx, hxx = tia_source
    patched = patch.patch_tia_source(cxx)
    assert patch.patch_tia_source(patched) == patched  # idempotent
    assert patched.count("lf_mixed_span(") == 2  # the definition and the one call
    start = patched.index("inline void TIA::updateFrameScanline(")
    branch = patched.index("else if(lf_tia_simd && (myEnabledObjects & ~myPFBit) != 0)", start)
    assert branch < patched.index("switch(myEnabledObjects | myPlayfieldPriorityAndScore)", start)
    assert branch < patched.index("\ninline void TIA::", start + 1)  # inside updateFrameScanline
    assert patched.index("#include <immintrin.h>") < patched.index("namespace ale {")
    # Nothing of ALE's own code is removed: the patch only inserts.
    assert all(line in patched for line in cxx.splitlines())
    header = patch.patch_tia_header(hxx)
    assert patch.patch_tia_header(header) == header
    assert header.rstrip().endswith("#endif") and "extern bool lf_tia_simd;" in header


def test_patch_refuses_source_it_does_not_know(tia_source):
    patch = load_patch_module()
    cxx, hxx = tia_source
    with pytest.raises(SystemExit, match="updateFrameScanline not found"):
        patch.patch_tia_source(cxx.replace("TIA::updateFrameScanline(", "TIA::drawScanline("))
    with pytest.raises(SystemExit, match="switch over the objects"):
        patch.patch_tia_source(cxx.replace("switch(myEnabledObjects | myPlayfieldPriorityAndScore)", "switch(x)"))
    with pytest.raises(SystemExit, match="include guard"):
        patch.patch_tia_header(hxx.replace("#endif", ""))


PLAY = """
import hashlib, torch
from lotteryfast import _ale
from lotteryfast.envs.atari import AtariPool
print("tia_simd", _ale.tia_simd_active())
digest = hashlib.sha256()
for game in ("Breakout", "Krull", "SpaceInvaders"):
    pool = AtariPool(game, num_envs=4, num_threads=2, seed=3, max_episode_steps=150)
    obs, _ = pool.reset()
    actions = torch.randint(0, pool.num_actions, (200, 4), generator=torch.Generator().manual_seed(5))
    for step in range(200):
        obs, rew, term, trunc, info = pool.step(actions[step])
        for t in (obs, rew, term, trunc, info["lives"]):
            digest.update(t.numpy().tobytes())
print(digest.hexdigest())
"""


def test_pool_plays_the_same_with_the_patch_switched_off():
    pytest.importorskip("ale_py")
    pytest.importorskip("lotteryfast._ale", reason="the ALE pool is not built (tools/build_ale.sh)")

    from lotteryfast import _ale

    _ale.set_frames_simd(True)  # on only where the CPU has AVX-512 VBMI, like the TIA path
    if not _ale.frames_simd_active():
        pytest.skip("this CPU has no AVX-512 VBMI: the patched TIA path never runs")

    def play(scalar: bool) -> tuple[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "LOTTERYFAST_ALE_SCALAR_TIA"}
        if scalar:
            env["LOTTERYFAST_ALE_SCALAR_TIA"] = "1"
        out = subprocess.run([sys.executable, "-c", PLAY], env=env, capture_output=True, text=True, check=True)
        lines = out.stdout.strip().splitlines()
        return next(line for line in lines if line.startswith("tia_simd")), lines[-1]

    (simd_flag, simd_digest), (scalar_flag, scalar_digest) = play(scalar=False), play(scalar=True)
    assert (simd_flag, scalar_flag) == ("tia_simd True", "tia_simd False")
    assert simd_digest == scalar_digest
