// Device-side element types: DType -> CUDA type, load/store as float32 with round-to-nearest-even.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "../common/types.h"

namespace lf {

template <DType D>
struct DevElem;

template <>
struct DevElem<DType::F32> {
  using T = float;
  __device__ __forceinline__ static float load(const T* p, int64_t i) { return p[i]; }
  __device__ __forceinline__ static void store(T* p, int64_t i, float v) { p[i] = v; }
};

template <>
struct DevElem<DType::F16> {
  using T = __half;
  __device__ __forceinline__ static float load(const T* p, int64_t i) { return __half2float(p[i]); }
  __device__ __forceinline__ static void store(T* p, int64_t i, float v) { p[i] = __float2half_rn(v); }
};

template <>
struct DevElem<DType::BF16> {
  using T = __nv_bfloat16;
  __device__ __forceinline__ static float load(const T* p, int64_t i) { return __bfloat162float(p[i]); }
  __device__ __forceinline__ static void store(T* p, int64_t i, float v) { p[i] = __float2bfloat16_rn(v); }
};

// Four consecutive elements, loaded and stored as one aligned vector.
template <class T>
struct alignas(4 * sizeof(T)) Vec4 {
  T v[4];
};

// Streaming (evict-first) load of a Vec4: data read once per step need not stay in cache.
template <class T>
__device__ __forceinline__ Vec4<T> load_streaming(const Vec4<T>* p) {
  Vec4<T> out;
  if constexpr (sizeof(Vec4<T>) == 16) {
    *reinterpret_cast<uint4*>(&out) = __ldcs(reinterpret_cast<const uint4*>(p));
  } else {
    *reinterpret_cast<uint2*>(&out) = __ldcs(reinterpret_cast<const uint2*>(p));
  }
  return out;
}

}  // namespace lf
