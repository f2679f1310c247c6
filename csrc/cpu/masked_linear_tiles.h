// Tile kernels of masked_linear.cpp, in a portable and an AVX-512 build (masked_linear_avx512.cpp).
#pragma once
#include <cstdint>

namespace lf::ml {

constexpr int64_t kRegTile = 64;  // tokens of the forward's register accumulators

// Rows [r0, r1), tokens [t0, t0 + kRegTile) of yT.
using ForwardTile = void (*)(const float* vals, const int64_t* row_ptr, const int32_t* cols, const float* xT,
                             int64_t np, const float* bias, float* yT, int64_t r0, int64_t r1, int64_t t0);
// Tokens [t0, t0 + kRegTile) of gxT, the contributions of the rows of one block (lists from
// col_ptr + block * in; gxT zeroed by the caller).
using GradInputTile = void (*)(const float* col_vals, const int64_t* col_ptr, const int32_t* col_rows, int64_t in,
                               const float* gT, int64_t np, float* gxT, int64_t t0);
// Rows [r0, r1) of gw, accumulated over tokens [t0, t0 + kMaskedLinearTile).
using GradWeightTile = void (*)(const int64_t* row_ptr, const int32_t* cols, int64_t in, const float* gT,
                                const float* xT, int64_t np, float* gw, int64_t r0, int64_t r1, int64_t t0);

struct Tiles {
  ForwardTile forward;
  GradInputTile grad_input;
  GradWeightTile grad_weight;
};

const Tiles& generic_tiles();
const Tiles& avx512_tiles();

}  // namespace lf::ml
