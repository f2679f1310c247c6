// CUDA backend of the global magnitude select (torch-free API; see common/select_driver.h).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "../common/select_driver.h"
#include "../common/types.h"

namespace lf {

// Device workspace the two calls below need for these sources (the caller allocates it).
size_t select_cuda_workspace_bytes(const SelectSource* src, int64_t n_src);

// Exact k-th smallest |x| over the unpruned elements of all sources (device pointers).
SelectResult select_kth_cuda(const SelectSource* src, int64_t n_src, const RankRequest& rank, void* workspace,
                             cudaStream_t stream);

// out[s] (device bool arrays): unpruned after pruning exactly r.k elements; copies of the masks
// when r.k == 0.
void prune_cuda(const SelectSource* src, int64_t n_src, const SelectResult& r, uint8_t* const* out, void* workspace,
                cudaStream_t stream);

}  // namespace lf
