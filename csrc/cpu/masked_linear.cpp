// Row-sparse products for masked_linear.h. Tokens are the contiguous dimension, so every
// multiply-add is a full vector: the forward keeps 64 tokens of one output row in registers while
// it streams the row's kept weights; the input gradient does the same for one input, over the
// kept weights of a block of rows listed by input; the weight gradient is one dot product per
// kept weight and 256-token tile. Work is split so that no two threads write the same memory,
// and the activation tile a block reads (in x 64 or 256 floats) stays in L2. The tile kernels come
// in a portable and an AVX-512 build (masked_linear_tiles.h), chosen like the optimizer's.
#include "masked_linear.h"

#include <algorithm>
#include <cstring>

#include "masked_linear_tiles.h"
#include "step_cpu.h"

namespace lf {
namespace {

constexpr int64_t kTile = kMaskedLinearTile;
constexpr int64_t kRowBlock = 256;  // output rows per work item

const ml::Tiles& tiles() { return active_cpu_isa() == CpuIsa::Avx512 ? ml::avx512_tiles() : ml::generic_tiles(); }

// acc = init + sum over e in [begin, end) of vals[e] * m[idx[e], t0 ...] for the 64 tokens of a
// register tile: the forward (rows of x) and the input gradient (rows of g) alike.
void weighted_rows(const float* vals, const int32_t* idx, int64_t begin, int64_t end, const float* m, int64_t np,
                   int64_t t0, float init, float (&acc)[ml::kRegTile]) {
  std::fill(acc, acc + ml::kRegTile, init);
  for (int64_t e = begin; e < end; ++e) {
    const float w = vals[e];
    const float* r = m + idx[e] * np + t0;
    for (int64_t t = 0; t < ml::kRegTile; ++t) acc[t] += w * r[t];
  }
}

void forward_tile(const float* vals, const int64_t* row_ptr, const int32_t* cols, const float* xT, int64_t np,
                  const float* bias, float* yT, int64_t r0, int64_t r1, int64_t t0) {
  for (int64_t i = r0; i < r1; ++i) {
    float acc[ml::kRegTile];
    weighted_rows(vals, cols, row_ptr[i], row_ptr[i + 1], xT, np, t0, bias ? bias[i] : 0.0f, acc);
    std::memcpy(yT + i * np + t0, acc, sizeof(acc));
  }
}

void grad_input_tile(const float* col_vals, const int64_t* col_ptr, const int32_t* col_rows, int64_t in,
                     const float* gT, int64_t np, float* gxT, int64_t t0) {
  for (int64_t k = 0; k < in; ++k) {
    if (col_ptr[k] == col_ptr[k + 1]) continue;
    float acc[ml::kRegTile];
    weighted_rows(col_vals, col_rows, col_ptr[k], col_ptr[k + 1], gT, np, t0, 0.0f, acc);
    float* gx = gxT + k * np + t0;
    for (int64_t t = 0; t < ml::kRegTile; ++t) gx[t] += acc[t];
  }
}

void grad_weight_tile(const int64_t* row_ptr, const int32_t* cols, int64_t in, const float* gT, const float* xT,
                      int64_t np, float* gw, int64_t r0, int64_t r1, int64_t t0) {
  for (int64_t i = r0; i < r1; ++i) {
    const float* g = gT + i * np + t0;
    for (int64_t j = row_ptr[i]; j < row_ptr[i + 1]; ++j) {
      const float* x = xT + cols[j] * np + t0;
      float s = 0.0f;
      for (int64_t t = 0; t < kTile; ++t) s += g[t] * x[t];
      gw[i * in + cols[j]] += s;
    }
  }
}

}  // namespace

namespace ml {
const Tiles& generic_tiles() {
  static const Tiles t{forward_tile, grad_input_tile, grad_weight_tile};
  return t;
}
}  // namespace ml

void transpose_f32(const float* src, int64_t rows, int64_t cols, int64_t src_stride, float* dst, int64_t dst_stride) {
  constexpr int64_t B = 64;  // a 64 x 64 block of source and destination (16 kB each) stays in L1
  const int64_t row_blocks = (rows + B - 1) / B, col_blocks = (cols + B - 1) / B;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t cb = 0; cb < col_blocks; ++cb) {
    for (int64_t rb = 0; rb < row_blocks; ++rb) {
      const int64_t r1 = std::min(rows, rb * B + B), c1 = std::min(cols, cb * B + B);
      for (int64_t c = cb * B; c < c1; ++c)
        for (int64_t r = rb * B; r < r1; ++r) dst[c * dst_stride + r] = src[r * src_stride + c];
    }
  }
}

void masked_linear_gather(const float* w, const int64_t* row_ptr, const int32_t* cols, int64_t rows, int64_t in,
                          float* vals) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = row_ptr[i]; j < row_ptr[i + 1]; ++j) vals[j] = w[i * in + cols[j]];
}

void masked_linear_forward(const float* vals, const int64_t* row_ptr, const int32_t* cols, int64_t rows,
                           const float* xT, int64_t np, const float* bias, float* yT) {
  const ml::ForwardTile tile = tiles().forward;
  const int64_t blocks = (rows + kRowBlock - 1) / kRowBlock;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t r0 = b * kRowBlock, r1 = std::min(rows, r0 + kRowBlock);
    for (int64_t t0 = 0; t0 < np; t0 += ml::kRegTile) tile(vals, row_ptr, cols, xT, np, bias, yT, r0, r1, t0);
  }
}

void masked_linear_grad_input(const float* col_vals, const int64_t* col_ptr, const int32_t* col_rows, int64_t rows,
                              int64_t in, const float* gT, int64_t np, float* gxT) {
  const ml::GradInputTile tile = tiles().grad_input;
  const int64_t blocks = std::max<int64_t>(1, (rows + kMaskedLinearRowBlock - 1) / kMaskedLinearRowBlock);
  std::fill(gxT, gxT + in * np, 0.0f);
  // A thread owns whole token tiles of gxT; a block's rows of gT for one tile (64 kB) stay in L2
  // while every input's list of that block is summed in registers.
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t t0 = 0; t0 < np; t0 += ml::kRegTile)
    for (int64_t b = 0; b < blocks; ++b) tile(col_vals, col_ptr + b * in, col_rows, in, gT, np, gxT, t0);
}

void masked_linear_grad_weight(const int64_t* row_ptr, const int32_t* cols, int64_t rows, int64_t in,
                               const float* gT, const float* xT, int64_t np, float* gw) {
  const ml::GradWeightTile tile = tiles().grad_weight;
  const int64_t blocks = (rows + kRowBlock - 1) / kRowBlock;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t r0 = b * kRowBlock, r1 = std::min(rows, r0 + kRowBlock);
    std::fill(gw + r0 * in, gw + r1 * in, 0.0f);
    for (int64_t t0 = 0; t0 < np; t0 += kTile) tile(row_ptr, cols, in, gT, xT, np, gw, r0, r1, t0);
  }
}

}  // namespace lf
