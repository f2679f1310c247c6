// Torch tensors -> the plain kernel descriptions of common/types.h.
#pragma once
#include <torch/extension.h>

#include <optional>
#include <vector>

#include "../common/select_driver.h"
#include "../common/types.h"

namespace lf {

DType kernel_dtype(const at::Tensor& t);

// Arguments of one masked optimizer step, as Python hands them over (see lotteryfast/optim.py).
struct StepArgs {
  Algo algo;
  std::vector<at::Tensor> params, grads;
  std::vector<std::vector<at::Tensor>> states;  // states[i]: the state tensors of params[i]
  std::vector<std::optional<at::Tensor>> bits, group_base;
  std::vector<at::Tensor> steps;  // float32 CPU scalars, incremented by the step
  double lr, beta1, beta2;        // as Python floats, for the bias corrections
  OptimHyper hyper;               // the same values rounded to float32 for the kernels
};

// Slots for the kernels. Non-contiguous params are stepped in contiguous copies which
// finish_slots() writes back; non-contiguous grads are read from contiguous copies.
struct PreparedStep {
  std::vector<TensorSlot> slots;
  std::vector<at::Tensor> keep_alive;
  std::vector<std::pair<at::Tensor, at::Tensor>> write_back;  // (param, contiguous copy)
};

PreparedStep prepare_step(const StepArgs& a);
void finish_step(PreparedStep& prepared);

// Global-select inputs. Non-contiguous tensors are read from contiguous copies.
struct PreparedSelect {
  std::vector<SelectSource> sources;
  std::vector<at::Tensor> keep_alive;
};

PreparedSelect prepare_select(const std::vector<at::Tensor>& tensors, const std::vector<std::optional<at::Tensor>>& masks);

}  // namespace lf
