// Bit-exact conversions between float and the 16-bit formats, and the magnitude keys used by
// the radix select. Host and device; torch-free. Rounding is round-to-nearest-even, NaN stays
// NaN, matching c10::Half / c10::BFloat16 and CUDA's __float2half_rn / __float2bfloat16_rn.
#pragma once
#include <cstdint>
#include <cstring>

#include "macros.h"
#include "types.h"

LF_NS_BEGIN

LF_HD uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}

LF_HD float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

LF_HD uint64_t double_bits(double d) {
#if defined(__CUDA_ARCH__)
  return static_cast<uint64_t>(__double_as_longlong(d));
#else
  uint64_t u;
  std::memcpy(&u, &d, 8);
  return u;
#endif
}

LF_HD double bits_double(uint64_t u) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(static_cast<long long>(u));
#else
  double d;
  std::memcpy(&d, &u, 8);
  return d;
#endif
}

LF_HD float bf16_to_float(uint16_t h) { return bits_float(static_cast<uint32_t>(h) << 16); }

LF_HD uint16_t float_to_bf16(float f) {
  uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;  // NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// IEEE half -> float, exact (after the FP16 library of Maratea, as c10 uses).
LF_HD float half_to_float(uint16_t h) {
  const uint32_t w = static_cast<uint32_t>(h) << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;
  const uint32_t exp_offset = 0xE0u << 23;
  const float exp_scale = bits_float(0x7800000u);  // 2^-112
  const float normalized = bits_float((two_w >> 4) + exp_offset) * exp_scale;
  const uint32_t magic_mask = 126u << 23;
  const float magic_bias = 0.5f;
  const float denormalized = bits_float((two_w >> 17) | magic_mask) - magic_bias;
  const uint32_t denormalized_cutoff = 1u << 27;
  const uint32_t result =
      sign | (two_w < denormalized_cutoff ? float_bits(denormalized) : float_bits(normalized));
  return bits_float(result);
}

LF_HD uint16_t float_to_half(float f) {
  const float scale_to_inf = bits_float(0x77800000u);   // 2^112
  const float scale_to_zero = bits_float(0x08800000u);  // 2^-110
  // Multiplying by 2^112 then 2^-110 rounds the mantissa once, at half precision.
  float base = (f < 0.f ? -f : f) * scale_to_inf;
  base *= scale_to_zero;
  const uint32_t w = float_bits(f);
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & 0x80000000u;
  uint32_t bias = shl1_w & 0xFF000000u;
  if (bias < 0x71000000u) bias = 0x71000000u;
  base = bits_float((bias >> 1) + 0x07800000u) + base;
  const uint32_t bits = float_bits(base);
  const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
  const uint32_t mantissa_bits = bits & 0x00000FFFu;
  const uint32_t nonsign = exp_bits + mantissa_bits;
  return static_cast<uint16_t>((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

// Magnitude keys: the bit pattern of |x| orders non-negative floats (+Inf above every finite
// value); anything above the +Inf pattern is NaN. 32-bit keys serve f32/f16/bf16 values,
// 64-bit keys are used as soon as one float64 tensor takes part.
constexpr uint32_t kKeyInf32 = 0x7f800000u;
constexpr uint64_t kKeyInf64 = 0x7ff0000000000000ull;

template <class Key>
struct KeyTraits;

template <>
struct KeyTraits<uint32_t> {
  static constexpr uint64_t kInf = kKeyInf32;
  LF_HD static uint32_t from_f32(float x) { return float_bits(x) & 0x7fffffffu; }
  LF_HD static uint32_t from_f16(uint16_t h) { return float_bits(half_to_float(h)) & 0x7fffffffu; }
  LF_HD static uint32_t from_bf16(uint16_t h) { return (static_cast<uint32_t>(h) & 0x7fffu) << 16; }
  LF_HD static uint32_t from_f64(double) { return 0; }  // never used: f64 forces 64-bit keys
  static double value(uint64_t key) { return static_cast<double>(bits_float(static_cast<uint32_t>(key))); }
};

template <>
struct KeyTraits<uint64_t> {
  static constexpr uint64_t kInf = kKeyInf64;
  LF_HD static uint64_t from_f64(double x) { return double_bits(x) & 0x7fffffffffffffffull; }
  LF_HD static uint64_t from_f32(float x) { return from_f64(static_cast<double>(x)); }
  LF_HD static uint64_t from_f16(uint16_t h) { return from_f64(static_cast<double>(half_to_float(h))); }
  LF_HD static uint64_t from_bf16(uint16_t h) { return from_f64(static_cast<double>(bf16_to_float(h))); }
  static double value(uint64_t key) { return bits_double(key); }
};

// Calls f.template operator()<D>() for the run-time dtype; float64 only when kWithF64 (the
// optimizers take float32/float16/bfloat16 params, the selection also float64).
template <bool kWithF64, class Visitor>
void visit_dtype(DType dtype, Visitor&& f) {
  switch (dtype) {
    case DType::F32: return f.template operator()<DType::F32>();
    case DType::F16: return f.template operator()<DType::F16>();
    case DType::BF16: return f.template operator()<DType::BF16>();
    case DType::F64:
      if constexpr (kWithF64) return f.template operator()<DType::F64>();
      return;
  }
}

// Key of element i of a source of the given dtype.
template <class Key>
LF_HD Key load_key(const void* data, DType dtype, int64_t i) {
  switch (dtype) {
    case DType::F32: return KeyTraits<Key>::from_f32(static_cast<const float*>(data)[i]);
    case DType::F16: return KeyTraits<Key>::from_f16(static_cast<const uint16_t*>(data)[i]);
    case DType::BF16: return KeyTraits<Key>::from_bf16(static_cast<const uint16_t*>(data)[i]);
    default: return KeyTraits<Key>::from_f64(static_cast<const double*>(data)[i]);
  }
}

LF_NS_END
