// CPU backend of the global magnitude select (see common/select_driver.h). Torch-free.
#pragma once
#include <cstdint>
#include <vector>

#include "../common/select_driver.h"
#include "../common/types.h"

namespace lf {

// Exact k-th smallest |x| over the unpruned elements of all sources.
SelectResult select_kth_cpu(const SelectSource* src, int64_t n_src, const RankRequest& rank);

// Writes out[s][i] = unpruned after pruning exactly r.k elements (r from select_kth_cpu);
// when r.k == 0 copies the current masks.
void prune_cpu(const SelectSource* src, int64_t n_src, const SelectResult& r, uint8_t* const* out);

}  // namespace lf
