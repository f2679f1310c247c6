// CUDA masked optimizer step (torch-free API; see common/types.h for the slot layout).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "../common/types.h"

namespace lf {

// Steps all slots (one dtype, one device) on `stream`: one launch per kMaxSlotsPerLaunch tensors.
void step_cuda(Algo algo, DType dtype, const TensorSlot* slots, int64_t n_slots, const OptimHyper& h,
               cudaStream_t stream);

}  // namespace lf
