// CPU masked optimizer step: the entry point used by the glue, and the per-chunk kernels that
// each instruction-set translation unit provides. Torch-free.
#pragma once
#include <cstdint>

#include "../common/types.h"

namespace lf {

// Processes elements [begin, end) of one tensor; begin is a multiple of kMaskGroup.
using StepChunkFn = void (*)(const TensorSlot&, int64_t begin, int64_t end, const OptimHyper&);

// Kernels for one (algorithm, dtype, masked) combination, or nullptr when not compiled.
StepChunkFn generic_step_chunk(Algo algo, DType dtype, const OptimHyper& h, bool masked);
StepChunkFn avx512_step_chunk(Algo algo, DType dtype, const OptimHyper& h, bool masked);

enum class CpuIsa : int32_t { Generic = 0, Avx512 = 1 };
CpuIsa best_cpu_isa();        // what this CPU supports
CpuIsa active_cpu_isa();      // what step_cpu uses (best unless overridden)
void set_cpu_isa(CpuIsa isa);  // for tests and benchmarks; refuses an unsupported ISA

// One masked step over all slots (same dtype), OpenMP-parallel over fixed-size chunks.
void step_cpu(Algo algo, DType dtype, const TensorSlot* slots, int64_t n_slots, const OptimHyper& h);

}  // namespace lf
