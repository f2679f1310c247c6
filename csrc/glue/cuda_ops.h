// The CUDA side of the ops: implemented in cuda_ops.cpp, which is built only against a CUDA torch.
#pragma once
#include <torch/extension.h>

#include "tensors.h"

namespace lf {

bool built_with_cuda();
void cuda_masked_step(const StepArgs& args);
SelectResult cuda_select_kth(const PreparedSelect& in, const RankRequest& rank, const at::Device& device);
void cuda_prune(const PreparedSelect& in, const SelectResult& r, const std::vector<at::Tensor>& out, const at::Device& device);

}  // namespace lf
