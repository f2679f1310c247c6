// Scalar load/store of the element types the CPU kernels handle. Torch-free.
#pragma once
#include <cstdint>

#include "../common/numeric.h"

LF_NS_BEGIN

template <DType D>
struct Elem;

template <>
struct Elem<DType::F32> {
  using Storage = float;
  static float load(const Storage* p, int64_t i) { return p[i]; }
  static void store(Storage* p, int64_t i, float v) { p[i] = v; }
};

template <>
struct Elem<DType::F16> {
  using Storage = uint16_t;
  static float load(const Storage* p, int64_t i) { return half_to_float(p[i]); }
  static void store(Storage* p, int64_t i, float v) { p[i] = float_to_half(v); }
};

template <>
struct Elem<DType::BF16> {
  using Storage = uint16_t;
  static float load(const Storage* p, int64_t i) { return bf16_to_float(p[i]); }
  static void store(Storage* p, int64_t i, float v) { p[i] = float_to_bf16(v); }
};

LF_NS_END

#include "../common/functors.h"
#include "step_cpu.h"

LF_NS_BEGIN

// The chunk kernel Kernel<Functor, dtype, masked>::run chosen at run time.
template <template <class, DType, bool> class Kernel>
StepChunkFn pick_step_chunk(Algo algo, DType dtype, const OptimHyper& h, bool masked) {
  StepChunkFn fn = nullptr;
  visit_functor(algo, h, [&]<class Fn>() {
    visit_dtype<false>(dtype, [&]<DType D>() {
      fn = masked ? &Kernel<Fn, D, true>::run : &Kernel<Fn, D, false>::run;
    });
  });
  return fn;
}

LF_NS_END
