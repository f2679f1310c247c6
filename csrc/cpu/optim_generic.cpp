// Portable scalar kernels of the masked optimizer step (any x86-64 or other CPU).
#include <cstdint>

#include "elem.h"

LF_NS_BEGIN
namespace {

template <class Fn, DType D, bool kMasked>
struct StepChunk {
  static void run(const TensorSlot& t, int64_t begin, int64_t end, const OptimHyper& h);
};

template <class Fn, DType D, bool kMasked>
void StepChunk<Fn, D, kMasked>::run(const TensorSlot& t, int64_t begin, int64_t end, const OptimHyper& h) {
  using E = Elem<D>;
  using S = typename E::Storage;
  S* p = static_cast<S*>(t.p);
  const S* g = static_cast<const S*>(t.g);
  S* st[Fn::kStates];
  for (int k = 0; k < Fn::kStates; ++k) st[k] = static_cast<S*>(t.state[k]);
  int64_t j = kMasked ? t.group_base[begin / kMaskGroup] : begin;
  for (int64_t i = begin; i < end; ++i) {
    if (kMasked && !((t.bits[i >> 5] >> (i & 31)) & 1u)) {
      E::store(p, i, 0.0f);
      continue;
    }
    float s[Fn::kStates];
    for (int k = 0; k < Fn::kStates; ++k) s[k] = E::load(st[k], j);
    const float pn = Fn::update(E::load(p, i), E::load(g, i), s, h, t);
    E::store(p, i, pn);
    for (int k = 0; k < Fn::kStates; ++k) E::store(st[k], j, s[k]);
    ++j;
  }
}

}  // namespace
LF_NS_END

namespace lf {

StepChunkFn generic_step_chunk(Algo algo, DType dtype, const OptimHyper& h, bool masked) {
  return generic::pick_step_chunk<generic::StepChunk>(algo, dtype, h, masked);
}

}  // namespace lf
