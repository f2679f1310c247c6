// y = x W^T + b for a pruned weight W, touching only its kept entries: the products that dense
// matrix multiplies spend on pruned weights are skipped, forward and backward. Torch-free.
//
// Layout: W [rows, in] dense row-major (pruned entries hold 0); its kept entries are listed per
// row in row_ptr [rows + 1] / cols [nnz] (ascending) and their values gathered into vals [nnz];
// activations are stored transposed and padded: xT [in, np], yT / gT [rows, np], gxT [in, np],
// np a multiple of kMaskedLinearTile with zero padding columns. float32.
#pragma once
#include <cstdint>

namespace lf {

constexpr int64_t kMaskedLinearTile = 256;       // tokens per tile (np must be a multiple)
constexpr int64_t kMaskedLinearRowBlock = 1024;  // rows per block of the input gradient's lists

// vals[j] = W[i, cols[j]] for the kept entries, row by row
void masked_linear_gather(const float* w, const int64_t* row_ptr, const int32_t* cols, int64_t rows, int64_t in,
                          float* vals);

// yT[i, :] = bias[i] + sum over kept k of W[i, k] xT[k, :]   (bias may be null)
void masked_linear_forward(const float* vals, const int64_t* row_ptr, const int32_t* cols, int64_t rows,
                           const float* xT, int64_t np, const float* bias, float* yT);

// gxT[k, :] = sum over rows i keeping k of W[i, k] gT[i, :], from the kept entries listed by input
// within blocks of kMaskedLinearRowBlock rows: those of block b and input k are
// [col_ptr[b * in + k], col_ptr[b * in + k + 1]), with their rows col_rows and values col_vals.
void masked_linear_grad_input(const float* col_vals, const int64_t* col_ptr, const int32_t* col_rows, int64_t rows,
                              int64_t in, const float* gT, int64_t np, float* gxT);

// gw[i, k] = gT[i, :] . xT[k, :] for kept (i, k), 0 for pruned ones (the whole [rows, in] is written)
void masked_linear_grad_weight(const int64_t* row_ptr, const int32_t* cols, int64_t rows, int64_t in,
                               const float* gT, const float* xT, int64_t np, float* gw);

// dst[c * dst_stride + r] = src[r * src_stride + c] for r < rows, c < cols (blocked, parallel):
// the layout changes between the kernels' [features, tokens] and the model's [tokens, features].
void transpose_f32(const float* src, int64_t rows, int64_t cols, int64_t src_stride, float* dst, int64_t dst_stride);

}  // namespace lf
