// AVX-512 kernels of the masked optimizer step: 16 elements per iteration. The compacted state of
// a 16-element block is loaded with a contiguous masked load and spread to its lanes with
// vexpandps; the updated state is packed back with vcompressps. Built for AVX-512 through a
// pragma, so only this file needs the instruction set; step_cpu() calls it only where the CPU
// has it. Everything from common/ is compiled into the separate inline namespace lf::avx512.
#include <cmath>
#include <cstdint>
#include <cstring>

#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,popcnt")
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // false positives inside GCC's intrinsic headers
#define LF_ISA_NS avx512
#include <immintrin.h>

#include "elem.h"

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

// 16-lane masked load/store of each element type, converting to and from float32.
template <DType D>
struct Lanes;

template <>
struct Lanes<DType::F32> {
  using S = float;
  static __m512 load(const S* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(S* p, __mmask16 m, __m512 v) { _mm512_mask_storeu_ps(p, m, v); }
};

template <>
struct Lanes<DType::BF16> {
  using S = uint16_t;
  static __m512 load(const S* p, __mmask16 m) {
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
  }
  static void store(S* p, __mmask16 m, __m512 v) {
    // Round to nearest even like c10::BFloat16; NaN becomes the canonical 0x7fc0.
    const __m512i u = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), lsb);
    r = _mm512_srli_epi32(r, 16);
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    r = _mm512_mask_mov_epi32(r, nan, _mm512_set1_epi32(0x7fc0));
    _mm256_mask_storeu_epi16(p, m, _mm512_cvtepi32_epi16(r));
  }
};

template <>
struct Lanes<DType::F16> {
  using S = uint16_t;
  static __m512 load(const S* p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
  static void store(S* p, __mmask16 m, __m512 v) {
    _mm256_mask_storeu_epi16(p, m, _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
};

template <class Fn, DType D, bool kMasked>
struct StepChunk {
  static void run(const TensorSlot& t, int64_t begin, int64_t end, const OptimHyper& h);
};

template <class Fn, DType D, bool kMasked>
void StepChunk<Fn, D, kMasked>::run(const TensorSlot& t, int64_t begin, int64_t end, const OptimHyper& h) {
  using L = Lanes<D>;
  using S = typename L::S;
  constexpr int K = Fn::kStates;
  S* p = static_cast<S*>(t.p);
  const S* g = static_cast<const S*>(t.g);
  S* st[K];
  for (int k = 0; k < K; ++k) st[k] = static_cast<S*>(t.state[k]);
  int64_t j = kMasked ? t.group_base[begin / kMaskGroup] : begin;
  for (int64_t i = begin; i < end; i += 16) {
    const int64_t rem = end - i;
    const __mmask16 valid = rem >= 16 ? __mmask16(0xffff) : __mmask16((1u << rem) - 1u);
    __mmask16 alive = valid;
    if constexpr (kMasked) {
      alive = __mmask16(t.bits[i >> 5] >> (i & 16)) & valid;
      if (alive == 0) {
        L::store(p + i, valid, _mm512_setzero_ps());
        continue;
      }
    }
    const int c = __builtin_popcount(alive);
    const __mmask16 packed = kMasked ? __mmask16((1u << c) - 1u) : valid;
    V16 s[K];
    for (int k = 0; k < K; ++k) {
      const __m512 x = L::load(st[k] + j, packed);
      s[k] = kMasked ? _mm512_maskz_expand_ps(alive, x) : x;
    }
    const V16 pn = Fn::update(V16(L::load(p + i, alive)), V16(L::load(g + i, alive)), s, h, t);
    L::store(p + i, valid, _mm512_maskz_mov_ps(alive, pn.v));
    for (int k = 0; k < K; ++k) {
      L::store(st[k] + j, packed, kMasked ? _mm512_maskz_compress_ps(alive, s[k].v) : s[k].v);
    }
    j += c;
  }
}

}  // namespace
LF_NS_END

namespace lf {

StepChunkFn avx512_step_chunk(Algo algo, DType dtype, const OptimHyper& h, bool masked) {
  return avx512::pick_step_chunk<avx512::StepChunk>(algo, dtype, h, masked);
}

}  // namespace lf
