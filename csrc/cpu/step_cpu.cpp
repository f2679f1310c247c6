// The CPU driver of the masked optimizer step: splits every tensor into fixed-size chunks and runs
// the chunk kernel of the active instruction set over all of them in one OpenMP parallel region.
#include "step_cpu.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace lf {
namespace {

constexpr int64_t kChunk = 32 * 1024;      // elements; a multiple of kMaskGroup
constexpr int64_t kSerialBelow = 64 * 1024;  // total elements under which threads cost more than they save

bool cpu_has_avx512() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#else
  return false;
#endif
}

CpuIsa initial_isa() {
  const char* env = std::getenv("LOTTERYFAST_CPU_ISA");
  if (env && std::strcmp(env, "generic") == 0) return CpuIsa::Generic;
  return best_cpu_isa();
}

std::atomic<int32_t> g_isa{static_cast<int32_t>(initial_isa())};

struct Chunk {
  int64_t slot, begin, end;
};

}  // namespace

CpuIsa best_cpu_isa() {
  static const CpuIsa best = cpu_has_avx512() ? CpuIsa::Avx512 : CpuIsa::Generic;
  return best;
}

CpuIsa active_cpu_isa() { return static_cast<CpuIsa>(g_isa.load()); }

void set_cpu_isa(CpuIsa isa) {
  if (isa == CpuIsa::Avx512 && best_cpu_isa() != CpuIsa::Avx512)
    throw std::invalid_argument("this CPU does not support AVX-512 (avx512f/bw/vl/dq)");
  g_isa.store(static_cast<int32_t>(isa));
}

void step_cpu(Algo algo, DType dtype, const TensorSlot* slots, int64_t n_slots, const OptimHyper& h) {
  const bool avx512 = active_cpu_isa() == CpuIsa::Avx512;
  const StepChunkFn masked_fn = avx512 ? avx512_step_chunk(algo, dtype, h, true) : generic_step_chunk(algo, dtype, h, true);
  const StepChunkFn dense_fn = avx512 ? avx512_step_chunk(algo, dtype, h, false) : generic_step_chunk(algo, dtype, h, false);
  if (!masked_fn || !dense_fn) throw std::invalid_argument("unsupported dtype for the masked optimizer step");

  std::vector<Chunk> chunks;
  int64_t total = 0;
  for (int64_t s = 0; s < n_slots; ++s) {
    for (int64_t b = 0; b < slots[s].n; b += kChunk) chunks.push_back({s, b, std::min(b + kChunk, slots[s].n)});
    total += slots[s].n;
  }
  const int64_t n_chunks = static_cast<int64_t>(chunks.size());
#pragma omp parallel for schedule(dynamic, 1) if (total >= kSerialBelow)
  for (int64_t c = 0; c < n_chunks; ++c) {
    const Chunk& ch = chunks[c];
    const TensorSlot& t = slots[ch.slot];
    (t.bits ? masked_fn : dense_fn)(t, ch.begin, ch.end, h);
  }
}

}  // namespace lf
