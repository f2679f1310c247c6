// The CUDA side of the ops: implemented in cuda_ops.cpp, which is built only against a CUDA torch.
#pragma once
#include <torch/extension.h>

#include "tensors.h"

namespace lf {

bool built_with_cuda();
void masked_step_cuda(const StepArgs& args);
SelectResult select_kth_cuda(const PreparedSelect& in, const RankRequest& rank, const at::Device& device);
void prune_cuda(const PreparedSelect& in, const SelectResult& r, const std::vector<at::Tensor>& out, const at::Device& device);

}  // namespace lf
