"""Patches the ALE 0.12.1 source tree before tools/build_ale.sh compiles it.

    python tools/patch_ale.py SRC_ROOT      # SRC_ROOT: the unpacked ale_py-0.12.1 directory

Speed only: the emulated games, their RAM and every drawn pixel stay as they were. Checked frame by
frame against ALE's own drawing on every ROM of the ale-py wheel by tools/ale_tia_check.sh (CI),
and against the ale-py wheel's emulator by tests/test_atari.py.

The patch: TIA::updateFrameScanline draws a span of a scanline. ALE has a loop per combination of
the objects in it (playfield, ball, players, missiles) and one general pixel-by-pixel loop for the
rest: per pixel it tests six masks, ORs a collision-table entry into the collision register and
looks the colour up through the priority encoder. On CPUs with AVX-512 VBMI the patched TIA draws
every span that holds a player, missile or ball as that general loop does, 64 pixels at a time:
one bit mask per object (masked loads, so nothing past the span is read), the collisions from
ANDs of those masks (ALE's collision table is a union over pairs of objects,
computeCollisionTable), the colours with two byte permutes (priority-encoder row -> colour index
-> colour byte). The general loop equals each special loop because ALE keeps an object's bit in
myEnabledObjects exactly when it can draw (player graphics or playfield bits non-zero; ALE never
masks objects out with enableBit). Spans with only the playfield (4 pixels per step) or nothing
(memset) in them keep ALE's loops, as does every span without VBMI or with
LOTTERYFAST_ALE_SCALAR_TIA set. Measured speed: bench/RESULTS.md (Atari actor pool).
"""

from __future__ import annotations

import sys
from pathlib import Path

MARKER = "// lotteryfast: spans with objects 64 pixels at a time (v2)"

HEADER_DECL = """
// lotteryfast (tools/patch_ale.py): whether TIA::updateFrameScanline draws the spans that hold
// an object with AVX-512 (true on CPUs with VBMI unless LOTTERYFAST_ALE_SCALAR_TIA is set);
// tools/ale_tia_check.cpp flips it to compare both ways frame by frame.
namespace ale { namespace stella { extern bool lf_tia_simd; } }
"""

SIMD_SPAN = (
    r"""
"""
    + MARKER
    + r""" (tools/patch_ale.py)
#if defined(__x86_64__) && defined(__GNUC__)
#define LF_TIA_SIMD_BUILD 1
#define LF_TIA_TARGET __attribute__((target("avx512f,avx512bw,avx512vbmi")))

static bool lf_tia_simd_default()
{
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vbmi") && std::getenv("LOTTERYFAST_ALE_SCALAR_TIA") == nullptr;
}
bool lf_tia_simd = lf_tia_simd_default();

// The pixels (bits of the result) among `lanes` where the object's mask byte shares a bit with
// `graphics` (a player's graphics register; 0xff for a missile or the ball, drawn wherever their
// mask is non-zero).
LF_TIA_TARGET static inline __mmask64 lf_object_pixels(const uint8_t* mask, __mmask64 lanes, __m512i graphics)
{
  return _mm512_mask_test_epi8_mask(lanes, _mm512_maskz_loadu_epi8(lanes, mask), graphics);
}

// A span of TIA::updateFrameScanline with objects in it, n pixels from hpos into fp, computed as
// ALE's general ("other cases") loop computes them. The masks of disabled missiles and ball are
// null. encoder0/1: the priority-encoder rows already offset by the playfield priority and score
// bits; colour: the four colour registers. Returns the collision bits the span sets.
LF_TIA_TARGET static uint16_t lf_mixed_span(
    uint8_t* fp, uint32_t n, uint32_t hpos, uint32_t pf, const uint32_t* pfMask,
    uint8_t grp0, const uint8_t* p0Mask, const uint8_t* m0Mask,
    uint8_t grp1, const uint8_t* p1Mask, const uint8_t* m1Mask, const uint8_t* blMask,
    const uint8_t* encoder0, const uint8_t* encoder1, const uint32_t* colour, const uint16_t* collisionTable)
{
  // Object bits as in TIA.hxx: P0 1, M0 2, P1 4, M1 8, BL 16, PF 32.
  const __m512i colours = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
      int((colour[0] & 0xff) | (colour[1] & 0xff) << 8 | (colour[2] & 0xff) << 16 | (colour[3] & 0xff) << 24));
  const __m512i lut0 = _mm512_permutexvar_epi8(_mm512_loadu_si512(encoder0), colours);
  const __m512i lut1 = _mm512_permutexvar_epi8(_mm512_loadu_si512(encoder1), colours);
  const __m512i pfBits = _mm512_set1_epi32(int(pf));
  const __m512i grp0Bits = _mm512_set1_epi8(char(grp0));
  const __m512i grp1Bits = _mm512_set1_epi8(char(grp1));
  const __m512i anyBits = _mm512_set1_epi8(char(0xff));
  uint16_t collision = 0;
  while(n != 0)
  {
    const uint32_t count = n < 64 ? n : 64;
    const __mmask64 lanes = count == 64 ? ~__mmask64(0) : (__mmask64(1) << count) - 1;
    __mmask64 k[6];
    k[0] = lf_object_pixels(p0Mask + hpos, lanes, grp0Bits);
    k[1] = m0Mask ? lf_object_pixels(m0Mask + hpos, lanes, anyBits) : 0;
    k[2] = lf_object_pixels(p1Mask + hpos, lanes, grp1Bits);
    k[3] = m1Mask ? lf_object_pixels(m1Mask + hpos, lanes, anyBits) : 0;
    k[4] = blMask ? lf_object_pixels(blMask + hpos, lanes, anyBits) : 0;
    k[5] = 0;
    for(uint32_t q = 0; q < 4 && 16 * q < count; ++q)
    {
      const __mmask16 quarter = __mmask16(lanes >> (16 * q));
      const __m512i words = _mm512_maskz_loadu_epi32(quarter, pfMask + hpos + 16 * q);
      k[5] |= __mmask64(_mm512_mask_test_epi32_mask(quarter, words, pfBits)) << (16 * q);
    }

    for(int a = 0; a < 6; ++a)
      for(int b = a + 1; b < 6; ++b)
        if(k[a] & k[b])
          collision |= collisionTable[(1 << a) | (1 << b)];

    __m512i enabled = _mm512_setzero_si512();
    for(int a = 0; a < 6; ++a)
      enabled = _mm512_or_si512(enabled, _mm512_maskz_mov_epi8(k[a], _mm512_set1_epi8(char(1 << a))));
    const __m512i low = _mm512_permutexvar_epi8(enabled, lut0);
    const __m512i high = _mm512_permutexvar_epi8(enabled, lut1);
    // Pixels left of the middle (hpos < 80) take the left encoder row.
    const __mmask64 left = hpos >= 80 ? 0 : (80 - hpos >= 64 ? ~__mmask64(0) : (__mmask64(1) << (80 - hpos)) - 1);
    _mm512_mask_storeu_epi8(fp, lanes, _mm512_mask_blend_epi8(left, high, low));

    fp += count;
    hpos += count;
    n -= count;
  }
  return collision;
}
#else
bool lf_tia_simd = false;
#endif

"""
)

SWITCH = """  // Handle all other possible combinations
  else
  {
    switch(myEnabledObjects | myPlayfieldPriorityAndScore)"""

SIMD_BRANCH = """#ifdef LF_TIA_SIMD_BUILD
  // lotteryfast: spans with a player, missile or ball in them, 64 pixels at a time (the
  // playfield-only loop already does 4 pixels per step; tools/patch_ale.py)
  else if(lf_tia_simd && (myEnabledObjects & ~myPFBit) != 0)
  {
    myCollision |= lf_mixed_span(myFramePointer, uint32_t(ending - myFramePointer), hpos,
        myPF, myCurrentPFMask,
        myCurrentGRP0, myCurrentP0Mask, (myEnabledObjects & myM0Bit) ? myCurrentM0Mask : nullptr,
        myCurrentGRP1, myCurrentP1Mask, (myEnabledObjects & myM1Bit) ? myCurrentM1Mask : nullptr,
        (myEnabledObjects & myBLBit) ? myCurrentBLMask : nullptr,
        myPriorityEncoder[0] + myPlayfieldPriorityAndScore,
        myPriorityEncoder[1] + myPlayfieldPriorityAndScore, myColor, ourCollisionTable);
  }
#endif
"""

INCLUDES_AFTER = "#include <cstring>\n"
INCLUDES = """#include <cstdlib>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
"""

FUNCTION = "inline void TIA::updateFrameScanline(uint32_t clocksToUpdate, uint32_t hpos)\n{"


def patch_tia_source(text: str) -> str:
    """TIA.cxx with the AVX-512 mixed-span drawing (unchanged if already patched)."""
    if MARKER in text:
        return text
    start = text.find(FUNCTION)
    if start < 0:
        raise SystemExit("patch_ale: TIA::updateFrameScanline not found: not ALE 0.12.1's TIA.cxx")
    switch = text.find(SWITCH, start)
    next_function = text.find("\ninline void TIA::", start + len(FUNCTION))
    if switch < 0 or switch > next_function:
        raise SystemExit("patch_ale: TIA::updateFrameScanline's switch over the objects is not ALE 0.12.1's")
    includes = text.find(INCLUDES_AFTER)
    if includes < 0 or includes > start:
        raise SystemExit("patch_ale: TIA.cxx does not include <cstring> where ALE 0.12.1's does")
    includes += len(INCLUDES_AFTER)
    text = text[:switch] + SIMD_BRANCH + text[switch:]
    text = text[:start] + SIMD_SPAN + text[start:]
    return text[:includes] + INCLUDES + text[includes:]


def patch_tia_header(text: str) -> str:
    """TIA.hxx declaring the switch (unchanged if already patched)."""
    if "lf_tia_simd" in text:
        return text
    guard_end = text.rstrip().rfind("#endif")
    if guard_end < 0:
        raise SystemExit("patch_ale: TIA.hxx has no include guard: not ALE 0.12.1's")
    return text[:guard_end] + HEADER_DECL.lstrip("\n") + "\n" + text[guard_end:]


def main(root: str) -> None:
    """Patch the ALE source tree under `root` in place (idempotent)."""
    emucore = Path(root) / "src" / "ale" / "emucore"
    for name, patch in (("TIA.cxx", patch_tia_source), ("TIA.hxx", patch_tia_header)):
        path = emucore / name
        if not path.is_file():
            raise SystemExit(f"patch_ale: {path} does not exist")
        path.write_text(patch(path.read_text()))
    print(f"patch_ale: {emucore}/TIA.{{cxx,hxx}} patched")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(sys.argv[1])
