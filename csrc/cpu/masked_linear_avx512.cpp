// AVX-512 tile kernels of the masked linear layer (masked_linear_tiles.h): 16 tokens per vector,
// accumulators and gradient tiles held in registers, explicit fused multiply-adds. Built for
// AVX-512 through a pragma; called only where the CPU has it.
#include <cstdint>

#pragma GCC target("avx512f,avx512vl,fma")
#include <immintrin.h>

#include "masked_linear.h"
#include "masked_linear_tiles.h"

namespace lf::ml {
namespace {

constexpr int kTileVecs = kMaskedLinearTile / 16;  // 16 vectors: a 256-token gradient tile
constexpr int kRegVecs = kRegTile / 16;            // 4 vectors: the forward's accumulators
static_assert(kTileVecs == 16 && kRegVecs == 4, "the kernels below are unrolled for these tiles");

// acc[q] = init + sum over e in [begin, end) of vals[e] * m[idx[e], t0 + 16 q ...] for the 64
// tokens of a register tile: the forward (rows of x) and the input gradient (rows of g) alike.
inline void weighted_rows(const float* vals, const int32_t* idx, int64_t begin, int64_t end, const float* m,
                          int64_t np, int64_t t0, __m512 init, __m512 (&acc)[kRegVecs]) {
  __m512 a0 = init, a1 = init, a2 = init, a3 = init;
  for (int64_t e = begin; e < end; ++e) {
    const __m512 w = _mm512_set1_ps(vals[e]);
    const float* r = m + idx[e] * np + t0;
    a0 = _mm512_fmadd_ps(w, _mm512_loadu_ps(r), a0);
    a1 = _mm512_fmadd_ps(w, _mm512_loadu_ps(r + 16), a1);
    a2 = _mm512_fmadd_ps(w, _mm512_loadu_ps(r + 32), a2);
    a3 = _mm512_fmadd_ps(w, _mm512_loadu_ps(r + 48), a3);
  }
  acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}

void forward_tile(const float* vals, const int64_t* row_ptr, const int32_t* cols, const float* xT, int64_t np,
                  const float* bias, float* yT, int64_t r0, int64_t r1, int64_t t0) {
  for (int64_t i = r0; i < r1; ++i) {
    __m512 acc[kRegVecs];
    weighted_rows(vals, cols, row_ptr[i], row_ptr[i + 1], xT, np, t0, _mm512_set1_ps(bias ? bias[i] : 0.0f), acc);
    float* y = yT + i * np + t0;
#pragma GCC unroll 4
    for (int q = 0; q < kRegVecs; ++q) _mm512_storeu_ps(y + 16 * q, acc[q]);
  }
}

void grad_input_tile(const float* col_vals, const int64_t* col_ptr, const int32_t* col_rows, int64_t in,
                     const float* gT, int64_t np, float* gxT, int64_t t0) {
  for (int64_t k = 0; k < in; ++k) {
    if (col_ptr[k] == col_ptr[k + 1]) continue;
    __m512 acc[kRegVecs];
    weighted_rows(col_vals, col_rows, col_ptr[k], col_ptr[k + 1], gT, np, t0, _mm512_setzero_ps(), acc);
    float* gx = gxT + k * np + t0;
#pragma GCC unroll 4
    for (int q = 0; q < kRegVecs; ++q) _mm512_storeu_ps(gx + 16 * q, _mm512_add_ps(_mm512_loadu_ps(gx + 16 * q), acc[q]));
  }
}

void grad_weight_tile(const int64_t* row_ptr, const int32_t* cols, int64_t in, const float* gT, const float* xT,
                      int64_t np, float* gw, int64_t r0, int64_t r1, int64_t t0) {
  for (int64_t i = r0; i < r1; ++i) {
    if (row_ptr[i] == row_ptr[i + 1]) continue;
    __m512 g[kTileVecs];
    const float* gi = gT + i * np + t0;
#pragma GCC unroll 16
    for (int q = 0; q < kTileVecs; ++q) g[q] = _mm512_loadu_ps(gi + 16 * q);
    float* gwi = gw + i * in;
    for (int64_t j = row_ptr[i]; j < row_ptr[i + 1]; ++j) {
      const float* x = xT + cols[j] * np + t0;
      __m512 s0 = _mm512_mul_ps(g[0], _mm512_loadu_ps(x));
      __m512 s1 = _mm512_mul_ps(g[1], _mm512_loadu_ps(x + 16));
      __m512 s2 = _mm512_mul_ps(g[2], _mm512_loadu_ps(x + 32));
      __m512 s3 = _mm512_mul_ps(g[3], _mm512_loadu_ps(x + 48));
#pragma GCC unroll 3
      for (int q = 4; q < kTileVecs; q += 4) {
        s0 = _mm512_fmadd_ps(g[q], _mm512_loadu_ps(x + 16 * q), s0);
        s1 = _mm512_fmadd_ps(g[q + 1], _mm512_loadu_ps(x + 16 * q + 16), s1);
        s2 = _mm512_fmadd_ps(g[q + 2], _mm512_loadu_ps(x + 16 * q + 32), s2);
        s3 = _mm512_fmadd_ps(g[q + 3], _mm512_loadu_ps(x + 16 * q + 48), s3);
      }
      gwi[cols[j]] += _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
    }
  }
}

}  // namespace

const Tiles& avx512_tiles() {
  static const Tiles t{forward_tile, grad_input_tile, grad_weight_tile};
  return t;
}

}  // namespace lf::ml
