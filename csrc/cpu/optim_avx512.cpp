// AVX-512 kernels of the masked optimizer step, 16 lanes at a time: packing compresses the kept
// lanes of p and g with vcompressps, unpacking spreads them back with vexpandps, and the update
// runs the functor on 16-lane vectors. Built for AVX-512 through a pragma, so only this file needs
// the instruction set; step_cpu() calls it only where the CPU has it. Everything from common/ is
// compiled here into the separate inline namespace lf::avx512.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,popcnt")
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // false positives inside GCC's intrinsic headers
#define LF_ISA_NS avx512
#include <immintrin.h>

#include "step_kernel.h"

LF_NS_BEGIN
namespace {

struct V16 {
  __m512 v;
  V16() = default;
  V16(__m512 x) : v(x) {}  // NOLINT: implicit on purpose, the functors mix V16 and __m512
  explicit V16(float f) : v(_mm512_set1_ps(f)) {}
};
inline V16 operator+(V16 a, V16 b) { return _mm512_add_ps(a.v, b.v); }
inline V16 operator-(V16 a, V16 b) { return _mm512_sub_ps(a.v, b.v); }
inline V16 operator*(V16 a, V16 b) { return _mm512_mul_ps(a.v, b.v); }
inline V16 operator/(V16 a, V16 b) { return _mm512_div_ps(a.v, b.v); }
inline V16 lf_sqrt(V16 a) { return _mm512_sqrt_ps(a.v); }

constexpr __mmask16 kAll = 0xffff;
constexpr int64_t kAhead = 1024;  // elements prefetched ahead in p and g (measured: 0, 1024, 2048)

// 16-lane load/store of each element type as float32; m selects lanes (kAll: plain access).
template <DType D>
struct Lanes;

template <>
struct Lanes<DType::F32> {
  using S = float;
  static __m512 load(const S* p, __mmask16 m) { return m == kAll ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m, p); }
  static void store(S* p, __mmask16 m, __m512 v) {
    if (m == kAll) {
      _mm512_storeu_ps(p, v);
    } else {
      _mm512_mask_storeu_ps(p, m, v);
    }
  }
};

inline __m256i load16(const uint16_t* p, __mmask16 m) {
  return m == kAll ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)) : _mm256_maskz_loadu_epi16(m, p);
}

inline void store16(uint16_t* p, __mmask16 m, __m256i v) {
  if (m == kAll) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
  } else {
    _mm256_mask_storeu_epi16(p, m, v);
  }
}

template <>
struct Lanes<DType::BF16> {
  using S = uint16_t;
  static __m512 load(const S* p, __mmask16 m) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(load16(p, m)), 16));
  }
  static void store(S* p, __mmask16 m, __m512 v) {
    // Round to nearest even like c10::BFloat16; NaN becomes the canonical 0x7fc0.
    const __m512i u = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), lsb), 16);
    r = _mm512_mask_mov_epi32(r, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), _mm512_set1_epi32(0x7fc0));
    store16(p, m, _mm512_cvtepi32_epi16(r));
  }
};

template <>
struct Lanes<DType::F16> {
  using S = uint16_t;
  static __m512 load(const S* p, __mmask16 m) { return _mm512_cvtph_ps(load16(p, m)); }
  static void store(S* p, __mmask16 m, __m512 v) {
    store16(p, m, _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
};

inline __mmask16 tail_mask(int64_t rem) { return rem >= 16 ? kAll : __mmask16((1u << rem) - 1u); }

// The 16 mask bits of elements [i, i + 16), i a multiple of 16.
inline __mmask16 mask_bits(const uint32_t* bits, int64_t i) { return __mmask16(bits[i >> 5] >> (i & 16)); }

struct Avx512 {
  template <DType D>
  static int64_t pack(const typename Lanes<D>::S* p, const typename Lanes<D>::S* g, const uint32_t* bits,
                      int64_t begin, int64_t end, float* pbuf, float* gbuf) {
    int64_t n = 0;
    for (int64_t i = begin; i < end; i += 16) {
      const __mmask16 valid = tail_mask(end - i);
      const __mmask16 keep = mask_bits(bits, i) & valid;
      // Software prefetch: the hardware prefetcher alone leaves bandwidth unused on these streams.
      _mm_prefetch(reinterpret_cast<const char*>(p + i + kAhead), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(g + i + kAhead), _MM_HINT_T0);
      if (!keep) continue;
      // Buffers have 16 floats of slack: full-width stores, the next one overwrites the tail.
      _mm512_storeu_ps(pbuf + n, _mm512_maskz_compress_ps(keep, Lanes<D>::load(p + i, valid)));
      _mm512_storeu_ps(gbuf + n, _mm512_maskz_compress_ps(keep, Lanes<D>::load(g + i, valid)));
      n += __builtin_popcount(keep);
    }
    return n;
  }

  template <DType D>
  static void unpack(const float* pbuf, const uint32_t* bits, int64_t begin, int64_t end, typename Lanes<D>::S* p) {
    int64_t n = 0;
    for (int64_t i = begin; i < end; i += 16) {
      const __mmask16 valid = tail_mask(end - i);
      const __mmask16 keep = mask_bits(bits, i) & valid;
      Lanes<D>::store(p + i, valid, _mm512_maskz_expand_ps(keep, _mm512_loadu_ps(pbuf + n)));
      n += __builtin_popcount(keep);
    }
  }

  template <class Fn, DType D, class PT>
  static void update(PT* p, const PT* g, typename Lanes<D>::S* const* st, int64_t n, const OptimHyper& h,
                     const TensorSlot& t) {
    constexpr DType PD = std::is_same_v<PT, float> ? DType::F32 : D;
    for (int64_t i = 0; i < n; i += 16) {
      const __mmask16 m = tail_mask(n - i);
      V16 s[Fn::kStates];
      for (int k = 0; k < Fn::kStates; ++k) s[k] = Lanes<D>::load(st[k] + i, m);
      const V16 pn = Fn::update(V16(Lanes<PD>::load(p + i, m)), V16(Lanes<PD>::load(g + i, m)), s, h, t);
      Lanes<PD>::store(p + i, m, pn.v);
      for (int k = 0; k < Fn::kStates; ++k) Lanes<D>::store(st[k] + i, m, s[k].v);
    }
  }
};

template <class Fn, DType D, bool kMasked>
using Avx512Chunk = StepChunk<Avx512, Fn, D, kMasked>;

}  // namespace
LF_NS_END

namespace lf {

StepChunkFn avx512_step_chunk(Algo algo, DType dtype, const OptimHyper& h, bool masked) {
  return avx512::pick_step_chunk<avx512::Avx512Chunk>(algo, dtype, h, masked);
}

}  // namespace lf
