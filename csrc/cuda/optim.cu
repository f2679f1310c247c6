// CUDA kernels of the masked optimizer step: a multi-tensor launch over up to kMaxSlotsPerLaunch
// tensors whose descriptions travel as a __grid_constant__ kernel parameter. A persistent grid
// walks tiles of 1024 elements; each warp takes one 128-element mask group, each lane four
// consecutive elements (one vector load of p and g). A lane finds the compacted-state index of its
// first kept element from the group's base count and popcounts of the mask words, so pruned
// elements cost neither state traffic nor arithmetic. Torch-free.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "../common/functors.h"
#include "cuda_check.h"
#include "elem.cuh"
#include "step_cuda.h"

namespace lf {
namespace {

constexpr int kThreads = 256;                // 8 warps
constexpr int64_t kTile = kThreads * 4;      // elements per block iteration
constexpr int kMaxSlotsPerLaunch = 96;       // keeps the parameter block under ~8 KB

struct StepLaunch {
  TensorSlot slots[kMaxSlotsPerLaunch];
  int64_t tile_start[kMaxSlotsPerLaunch + 1];  // prefix sums of tiles per slot
  int32_t n_slots;
  OptimHyper h;
};

__device__ __forceinline__ int find_slot(const StepLaunch& a, int64_t tile) {
  int lo = 0, hi = a.n_slots - 1;
  while (lo < hi) {  // last slot whose tile_start <= tile
    const int mid = (lo + hi + 1) >> 1;
    if (a.tile_start[mid] <= tile) lo = mid; else hi = mid - 1;
  }
  return lo;
}

// Four elements starting at e of one slot; `keep` has bit j set when element e + j is kept and
// exists; state index `idx` belongs to the first kept one.
template <class Fn, DType D>
__device__ __forceinline__ void step4(const TensorSlot& t, const OptimHyper& h, int64_t e, unsigned keep, int64_t idx) {
  using E = DevElem<D>;
  using T = typename E::T;
  T* p = static_cast<T*>(t.p);
  const T* g = static_cast<const T*>(t.g);
  const bool vec = e + 4 <= t.n && ((reinterpret_cast<uintptr_t>(p + e) | reinterpret_cast<uintptr_t>(g + e)) % sizeof(Vec4<T>)) == 0;
  float pv[4], gv[4];
  if (vec) {
    const Vec4<T> pl = *reinterpret_cast<const Vec4<T>*>(p + e);
    const Vec4<T> gl = *reinterpret_cast<const Vec4<T>*>(g + e);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      pv[j] = E::load(pl.v, j);
      gv[j] = E::load(gl.v, j);
    }
  } else {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      pv[j] = e + j < t.n ? E::load(p, e + j) : 0.0f;
      gv[j] = (keep >> j) & 1u ? E::load(g, e + j) : 0.0f;
    }
  }
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    if ((keep >> j) & 1u) {
      float s[Fn::kStates];
#pragma unroll
      for (int k = 0; k < Fn::kStates; ++k) s[k] = E::load(static_cast<const T*>(t.state[k]), idx);
      pv[j] = Fn::update(pv[j], gv[j], s, h, t);
#pragma unroll
      for (int k = 0; k < Fn::kStates; ++k) E::store(static_cast<T*>(t.state[k]), idx, s[k]);
      ++idx;
    } else {
      pv[j] = 0.0f;
    }
  }
  if (vec) {
    Vec4<T> out;
#pragma unroll
    for (int j = 0; j < 4; ++j) E::store(out.v, j, pv[j]);
    *reinterpret_cast<Vec4<T>*>(p + e) = out;
  } else {
#pragma unroll
    for (int j = 0; j < 4; ++j)
      if (e + j < t.n) E::store(p, e + j, pv[j]);
  }
}

template <class Fn, DType D>
__global__ void __launch_bounds__(kThreads) step_kernel(const __grid_constant__ StepLaunch a) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t n_tiles = a.tile_start[a.n_slots];
  for (int64_t tile = blockIdx.x; tile < n_tiles; tile += gridDim.x) {
    const int si = find_slot(a, tile);
    const TensorSlot& t = a.slots[si];
    const int64_t group = (tile - a.tile_start[si]) * (kTile / kMaskGroup) + warp;
    const int64_t e0 = group * kMaskGroup;
    if (e0 >= t.n) continue;
    const int64_t e = e0 + 4 * lane;
    const unsigned exists = e >= t.n ? 0u : (e + 4 <= t.n ? 0xfu : (1u << (t.n - e)) - 1u);
    if (t.bits == nullptr) {
      step4<Fn, D>(t, a.h, e, exists, e);
      continue;
    }
    // The group's four mask words (16-byte aligned: groups are 128 bits).
    const uint4 w = reinterpret_cast<const uint4*>(t.bits)[group];
    const unsigned words[4] = {w.x, w.y, w.z, w.w};
    const int wi = lane >> 3, shift = (lane & 7) * 4;
    int before = __popc(words[wi] & ((1u << shift) - 1u));
#pragma unroll
    for (int k = 0; k < 3; ++k) before += k < wi ? __popc(words[k]) : 0;
    const unsigned keep = (words[wi] >> shift) & 0xfu & exists;
    step4<Fn, D>(t, a.h, e, keep, t.group_base[group] + before);
  }
}

template <class Fn, DType D>
void launch(const TensorSlot* slots, int64_t n_slots, const OptimHyper& h, cudaStream_t stream) {
  int device = 0, sms = 0, per_sm = 0;
  cuda_check(cudaGetDevice(&device), "cudaGetDevice");
  cuda_check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
  cuda_check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, step_kernel<Fn, D>, kThreads, 0), "occupancy");
  for (int64_t first = 0; first < n_slots; first += kMaxSlotsPerLaunch) {
    StepLaunch a{};
    a.n_slots = static_cast<int32_t>(std::min<int64_t>(kMaxSlotsPerLaunch, n_slots - first));
    a.h = h;
    a.tile_start[0] = 0;
    for (int i = 0; i < a.n_slots; ++i) {
      a.slots[i] = slots[first + i];
      a.tile_start[i + 1] = a.tile_start[i] + (a.slots[i].n + kTile - 1) / kTile;
    }
    const int64_t n_tiles = a.tile_start[a.n_slots];
    if (n_tiles == 0) continue;
    const int64_t grid = std::min<int64_t>(n_tiles, static_cast<int64_t>(sms) * std::max(per_sm, 1));
    step_kernel<Fn, D><<<static_cast<unsigned>(grid), kThreads, 0, stream>>>(a);
    cuda_check(cudaGetLastError(), "step_kernel launch");
  }
}

}  // namespace

void step_cuda(Algo algo, DType dtype, const TensorSlot* slots, int64_t n_slots, const OptimHyper& h,
               cudaStream_t stream) {
  visit_functor(algo, h, [&]<class Fn>() {
    switch (dtype) {
      case DType::F32: return launch<Fn, DType::F32>(slots, n_slots, h, stream);
      case DType::F16: return launch<Fn, DType::F16>(slots, n_slots, h, stream);
      case DType::BF16: return launch<Fn, DType::BF16>(slots, n_slots, h, stream);
      default: throw std::invalid_argument("unsupported dtype for the masked optimizer step");
    }
  });
}

}  // namespace lf
