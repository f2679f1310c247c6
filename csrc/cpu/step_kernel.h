// The masked optimizer step over one chunk, written once for every CPU instruction set.
//
// A chunk is processed in blocks of kBlock elements. For a masked tensor each block is
//   1. packed: the kept elements of p and g are compressed into small float32 buffers (L1-resident),
//   2. updated: the functor runs densely over the packed values and the compacted state,
//   3. unpacked: the new values are expanded back into p, with 0 at every pruned position.
// So the arithmetic runs on kept elements only and p, g and the state are each streamed once.
// Dense tensors skip steps 1 and 3. An ISA policy `Isa` supplies the three loops:
//   Isa::pack<D>(p, g, bits, begin, end, pbuf, gbuf) -> number of kept elements
//   Isa::update<Fn, D, PT>(p, g, state, n, h, t)  (PT: float for buffers, the storage type for dense)
//   Isa::unpack<D>(pbuf, bits, begin, end, p)
// Torch-free; included by the ISA translation units after their target setup.
#pragma once
#include <cstdint>

#include "elem.h"

LF_NS_BEGIN

constexpr int64_t kBlock = 512;  // elements per block: a multiple of kMaskGroup; buffers fit in L1

template <class Isa, class Fn, DType D, bool kMasked>
struct StepChunk {
  static void run(const TensorSlot& t, int64_t begin, int64_t end, const OptimHyper& h) {
    using S = typename Elem<D>::Storage;
    S* p = static_cast<S*>(t.p);
    const S* g = static_cast<const S*>(t.g);
    S* st[Fn::kStates];
    alignas(64) float pbuf[kBlock + 16];
    alignas(64) float gbuf[kBlock + 16];
    int64_t j = kMasked ? t.group_base[begin / kMaskGroup] : begin;
    for (int64_t b = begin; b < end; b += kBlock) {
      const int64_t e = b + kBlock < end ? b + kBlock : end;
      for (int k = 0; k < Fn::kStates; ++k) st[k] = static_cast<S*>(t.state[k]) + j;
      if constexpr (kMasked) {
        const int64_t n = Isa::template pack<D>(p, g, t.bits, b, e, pbuf, gbuf);
        Isa::template update<Fn, D, float>(pbuf, gbuf, st, n, h, t);
        Isa::template unpack<D>(pbuf, t.bits, b, e, p);
        j += n;
      } else {
        Isa::template update<Fn, D, S>(p + b, g + b, st, e - b, h, t);
        j += e - b;
      }
    }
  }
};

LF_NS_END
