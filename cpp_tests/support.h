// Helpers shared by the C++ test and benchmark: mask codes and kernel descriptions from tensors.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "common/types.h"

namespace lft {

// The packed mask the kernels read (see common/types.h): bits and per-group kept counts.
struct MaskCode {
  std::vector<uint32_t> bits;
  std::vector<int64_t> group_base;
  int64_t n_alive = 0;
};

inline MaskCode encode(const torch::Tensor& mask) {
  const torch::Tensor m = mask.contiguous().to(torch::kBool);
  const bool* b = m.data_ptr<bool>();
  const int64_t n = m.numel(), groups = (n + 127) / 128;
  MaskCode code;
  code.bits.assign(static_cast<size_t>(groups) * 4, 0);
  code.group_base.assign(static_cast<size_t>(groups), 0);
  for (int64_t i = 0; i < n; ++i) {
    if (i % 128 == 0) code.group_base[i / 128] = code.n_alive;
    if (b[i]) {
      code.bits[i / 32] |= 1u << (i % 32);
      ++code.n_alive;
    }
  }
  return code;
}

inline lf::SelectSource source(const torch::Tensor& t, const torch::Tensor& mask) {
  lf::DType d = t.scalar_type() == torch::kFloat ? lf::DType::F32
              : t.scalar_type() == torch::kBFloat16 ? lf::DType::BF16
              : t.scalar_type() == torch::kHalf ? lf::DType::F16 : lf::DType::F64;
  return {t.data_ptr(), mask.defined() ? reinterpret_cast<const uint8_t*>(mask.data_ptr<bool>()) : nullptr, t.numel(), d};
}

}  // namespace lft
