// AVX-512 loops of the radix select over float32 values: 16 keys per iteration, the mask bytes
// turned into a lane mask, and the filter of the later passes decided for 16 lanes at once (most
// blocks have no match and cost one compare). Built for AVX-512 through a pragma; called only
// where the CPU has it.
#include <cstdint>

#pragma GCC target("avx512f,avx512bw,avx512vl,popcnt")
#include <immintrin.h>

#include "select_simd.h"

namespace lf {
namespace {

constexpr int64_t kAhead = 2048;  // elements prefetched ahead (8 KB of values; measured best of 512-4096)

inline __mmask16 tail(int64_t rem) { return rem >= 16 ? __mmask16(0xffff) : __mmask16((1u << rem) - 1u); }

// |x| bit patterns and the unpruned lanes of x[i..i+16).
inline __m512i keys16(const float* x, const uint8_t* mask, int64_t i, __mmask16 valid, __mmask16* alive) {
  _mm_prefetch(reinterpret_cast<const char*>(x + i + kAhead), _MM_HINT_T0);
  if (mask && (i & 63) == 0) _mm_prefetch(reinterpret_cast<const char*>(mask + i + kAhead), _MM_HINT_T0);
  const __m512i k = _mm512_and_si512(_mm512_maskz_loadu_epi32(valid, x + i), _mm512_set1_epi32(0x7fffffff));
  if (mask) {
    const __m128i m = _mm_maskz_loadu_epi8(valid, mask + i);
    *alive = _mm_test_epi8_mask(m, m);
  } else {
    *alive = valid;
  }
  return k;
}

}  // namespace

uint32_t avx512_hist_f32(const float* x, const uint8_t* mask, int64_t n, bool first, int shift, int bits,
                         uint32_t prefix, uint32_t (*sub)[2048]) {
  const __m128i sh = _mm_cvtsi32_si128(shift);
  const __m128i hi = _mm_cvtsi32_si128(shift + bits);
  const __m512i digit_mask = _mm512_set1_epi32(static_cast<int>((1u << bits) - 1u));
  const __m512i pre = _mm512_set1_epi32(static_cast<int>(prefix));
  __m512i worst = _mm512_setzero_si512();
  alignas(64) uint32_t d[16];
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 alive;
    const __m512i k = keys16(x, mask, i, tail(n - i), &alive);
    if (first) {
      worst = _mm512_mask_max_epu32(worst, alive, worst, k);
      _mm512_store_si512(d, _mm512_srl_epi32(k, sh));
      // Branch-free: every lane adds its alive bit; interleaving breaks chains on equal digits.
#pragma GCC unroll 16
      for (int j = 0; j < 16; ++j) sub[j & 3][d[j]] += (alive >> j) & 1u;
    } else {
      __mmask16 take = _mm512_mask_cmpeq_epi32_mask(alive, _mm512_srl_epi32(k, hi), pre);
      if (!take) continue;
      _mm512_store_si512(d, _mm512_and_si512(_mm512_srl_epi32(k, sh), digit_mask));
      for (; take; take &= take - 1) ++sub[0][d[__builtin_ctz(take)]];
    }
  }
  return first ? _mm512_reduce_max_epu32(worst) : 0u;
}

uint64_t avx512_prune_f32(const float* x, const uint8_t* mask, int64_t n, uint32_t threshold, uint8_t* out) {
  const __m512i t = _mm512_set1_epi32(static_cast<int>(threshold));
  const __m128i one = _mm_set1_epi8(1);
  uint64_t ties = 0;
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 valid = tail(n - i);
    __mmask16 alive;
    const __m512i k = keys16(x, mask, i, valid, &alive);
    const __mmask16 keep = _mm512_mask_cmpgt_epu32_mask(alive, k, t);
    ties += static_cast<uint64_t>(__builtin_popcount(_mm512_mask_cmpeq_epi32_mask(alive, k, t)));
    _mm_mask_storeu_epi8(out + i, valid, _mm_maskz_mov_epi8(keep, one));
  }
  return ties;
}

}  // namespace lf
