#include "frames.h"

#include <algorithm>
#include <atomic>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// GCC 12's _mm512_cvtepi16_epi8 reads an undefined placeholder register: a false -Wuninitialized.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#define LF_FRAMES_X86 1
#endif

namespace lf::atari::frames {
namespace {

// Round-half-to-even of sum / 4 (the mean of a 2 x 2 block): q + 1 when the remainder is 3, or 2
// with q odd, i.e. when remainder + (q & 1) >= 3.
inline uint8_t mean4(int sum) {
  const int q = sum >> 2;
  return static_cast<uint8_t>(q + (((sum & 3) + (q & 1) + 1) >> 2));
}

void to_gray_scalar(const uint8_t* a, const uint8_t* b, const GrayLut& lut, uint8_t* dst, size_t n) {
  if (b) {
    for (size_t i = 0; i < n; ++i) dst[i] = std::max(lut[a[i]], lut[b[i]]);
  } else {
    for (size_t i = 0; i < n; ++i) dst[i] = lut[a[i]];
  }
}

void halve_scalar(const uint8_t* a, const uint8_t* b, const GrayLut& lut, uint8_t* dst) {
  constexpr int w = kScreenW / 2;
  for (int y = 0; y < kScreenH / 2; ++y) {
    const size_t r0 = static_cast<size_t>(2 * y) * kScreenW, r1 = r0 + kScreenW;
    for (int x = 0; x < w; ++x) {
      const size_t c = r0 + 2 * x, d = r1 + 2 * x;
      int sum;
      if (b) {
        sum = std::max(lut[a[c]], lut[b[c]]) + std::max(lut[a[c + 1]], lut[b[c + 1]]) +
              std::max(lut[a[d]], lut[b[d]]) + std::max(lut[a[d + 1]], lut[b[d + 1]]);
      } else {
        sum = lut[a[c]] + lut[a[c + 1]] + lut[a[d]] + lut[a[d + 1]];
      }
      dst[y * w + x] = mean4(sum);
    }
  }
}

#ifdef LF_FRAMES_X86
#define LF_VBMI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi")))

// The 256-entry table in four registers; lookup = two 128-entry permutes, picked by bit 7.
struct Lut512 {
  __m512i t0, t1, t2, t3;
};

LF_VBMI inline Lut512 load_lut(const GrayLut& lut) {
  return {_mm512_loadu_si512(lut.data()), _mm512_loadu_si512(lut.data() + 64), _mm512_loadu_si512(lut.data() + 128),
          _mm512_loadu_si512(lut.data() + 192)};
}

LF_VBMI inline __m512i lookup(const Lut512& t, __m512i idx) {
  const __m512i lo = _mm512_permutex2var_epi8(t.t0, idx, t.t1);
  const __m512i hi = _mm512_permutex2var_epi8(t.t2, idx, t.t3);
  return _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), lo, hi);
}

// Gray values of up to 64 pixels (mask m) at offset i: lut[a], or max(lut[a], lut[b]).
LF_VBMI inline __m512i gray64(const Lut512& t, const uint8_t* a, const uint8_t* b, size_t i, __mmask64 m) {
  const __m512i g = lookup(t, _mm512_maskz_loadu_epi8(m, a + i));
  return b ? _mm512_max_epu8(g, lookup(t, _mm512_maskz_loadu_epi8(m, b + i))) : g;
}

LF_VBMI void to_gray_vbmi(const uint8_t* a, const uint8_t* b, const GrayLut& lut, uint8_t* dst, size_t n) {
  const Lut512 t = load_lut(lut);
  for (size_t i = 0; i < n; i += 64) {
    const __mmask64 m = n - i >= 64 ? ~0ull : (1ull << (n - i)) - 1;
    _mm512_mask_storeu_epi8(dst + i, m, gray64(t, a, b, i, m));
  }
}

LF_VBMI void halve_vbmi(const uint8_t* a, const uint8_t* b, const GrayLut& lut, uint8_t* dst) {
  const Lut512 t = load_lut(lut);
  const __m512i ones = _mm512_set1_epi8(1), one16 = _mm512_set1_epi16(1), three16 = _mm512_set1_epi16(3);
  for (int y = 0; y < kScreenH / 2; ++y) {
    const size_t r0 = static_cast<size_t>(2 * y) * kScreenW, r1 = r0 + kScreenW;
    uint8_t* out = dst + y * (kScreenW / 2);
    for (int x = 0; x < kScreenW; x += 64) {  // 64 + 64 + 32 input columns per row
      const int cols = std::min(64, kScreenW - x);
      const __mmask64 m = cols == 64 ? ~0ull : (1ull << cols) - 1;
      // Adjacent-pair sums of each row (unsigned bytes x 1, added in pairs to 16 bits), then rows.
      const __m512i top = _mm512_maddubs_epi16(gray64(t, a, b, r0 + x, m), ones);
      const __m512i bottom = _mm512_maddubs_epi16(gray64(t, a, b, r1 + x, m), ones);
      const __m512i sum = _mm512_add_epi16(top, bottom);
      const __m512i q = _mm512_srli_epi16(sum, 2);
      const __m512i up = _mm512_srli_epi16(
          _mm512_add_epi16(_mm512_add_epi16(_mm512_and_si512(sum, three16), _mm512_and_si512(q, one16)), one16), 2);
      const __m256i mean = _mm512_cvtepi16_epi8(_mm512_add_epi16(q, up));
      _mm256_mask_storeu_epi8(out + x / 2, static_cast<__mmask32>((1ull << (cols / 2)) - 1), mean);
    }
  }
}

bool cpu_has_vbmi() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512vbmi");
}
#else
bool cpu_has_vbmi() { return false; }
#endif

const bool kHasVbmi = cpu_has_vbmi();
std::atomic<bool> simd_on{true};

}  // namespace

bool simd_active() { return kHasVbmi && simd_on.load(std::memory_order_relaxed); }
void set_simd(bool enabled) { simd_on.store(enabled, std::memory_order_relaxed); }

void to_gray(const uint8_t* a, const uint8_t* b, const GrayLut& lut, uint8_t* dst, size_t n) {
#ifdef LF_FRAMES_X86
  if (simd_active()) return to_gray_vbmi(a, b, lut, dst, n);
#endif
  to_gray_scalar(a, b, lut, dst, n);
}

void halve(const uint8_t* a, const uint8_t* b, const GrayLut& lut, uint8_t* dst) {
#ifdef LF_FRAMES_X86
  if (simd_active()) return halve_vbmi(a, b, lut, dst);
#endif
  halve_scalar(a, b, lut, dst);
}

}  // namespace lf::atari::frames
