// Portable kernels of the masked optimizer step (any CPU): scalar packing over the set bits of
// the mask words, and an update loop the compiler can vectorize.
#include <cstdint>
#include <type_traits>

#include "step_kernel.h"

LF_NS_BEGIN
namespace {

// Element i of a float32 buffer or of a tensor stored as D.
template <class T, DType D>
inline float load_any(const T* p, int64_t i) {
  if constexpr (std::is_same_v<T, float>) {
    return p[i];
  } else {
    return Elem<D>::load(p, i);
  }
}

template <class T, DType D>
inline void store_any(T* p, int64_t i, float v) {
  if constexpr (std::is_same_v<T, float>) {
    p[i] = v;
  } else {
    Elem<D>::store(p, i, v);
  }
}

struct Portable {
  template <DType D>
  static int64_t pack(const typename Elem<D>::Storage* p, const typename Elem<D>::Storage* g, const uint32_t* bits,
                      int64_t begin, int64_t end, float* pbuf, float* gbuf) {
    int64_t n = 0;
    for (int64_t w = begin >> 5; w < (end + 31) >> 5; ++w) {
      for (uint32_t word = bits[w]; word; word &= word - 1) {
        const int64_t i = (w << 5) + __builtin_ctz(word);
        pbuf[n] = Elem<D>::load(p, i);
        gbuf[n] = Elem<D>::load(g, i);
        ++n;
      }
    }
    return n;
  }

  template <DType D>
  static void unpack(const float* pbuf, const uint32_t* bits, int64_t begin, int64_t end, typename Elem<D>::Storage* p) {
    for (int64_t i = begin; i < end; ++i) Elem<D>::store(p, i, 0.0f);
    int64_t n = 0;
    for (int64_t w = begin >> 5; w < (end + 31) >> 5; ++w) {
      for (uint32_t word = bits[w]; word; word &= word - 1) Elem<D>::store(p, (w << 5) + __builtin_ctz(word), pbuf[n++]);
    }
  }

  template <class Fn, DType D, class PT>
  static void update(PT* __restrict p, const PT* __restrict g, typename Elem<D>::Storage* const* st, int64_t n,
                     const OptimHyper& h, const TensorSlot& t) {
    for (int64_t i = 0; i < n; ++i) {
      float s[Fn::kStates];
      for (int k = 0; k < Fn::kStates; ++k) s[k] = Elem<D>::load(st[k], i);
      store_any<PT, D>(p, i, Fn::update(load_any<PT, D>(p, i), load_any<PT, D>(g, i), s, h, t));
      for (int k = 0; k < Fn::kStates; ++k) Elem<D>::store(st[k], i, s[k]);
    }
  }
};

template <class Fn, DType D, bool kMasked>
using PortableChunk = StepChunk<Portable, Fn, D, kMasked>;

}  // namespace
LF_NS_END

namespace lf {

StepChunkFn generic_step_chunk(Algo algo, DType dtype, const OptimHyper& h, bool masked) {
  return generic::pick_step_chunk<generic::PortableChunk>(algo, dtype, h, masked);
}

}  // namespace lf
