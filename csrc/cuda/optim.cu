// CUDA kernels of the masked optimizer step: a multi-tensor launch over up to kMaxSlotsPerLaunch
// tensors whose descriptions travel as a __grid_constant__ kernel parameter. A persistent grid
// walks tiles of 4096 elements; a warp handles 128-element mask groups, a lane four consecutive
// elements of a group (one vector load of p and g). A lane finds the compacted-state index of its
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

constexpr int kThreads = 256;                         // 8 warps
constexpr int kUnroll = 4;                            // mask groups per warp per tile, loaded together
constexpr int64_t kTile = kThreads * 4 * kUnroll;     // elements per block iteration (32 groups)
constexpr int kMaxSlotsPerLaunch = 96;                // keeps the parameter block near 14 KB

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

// One lane's four consecutive elements e..e+3: which are kept (bit j), where the state of the
// first kept one lives, and the loaded values of p and g.
struct Quad {
  int64_t e, idx;
  unsigned keep;
  bool vec;
  float p[4], g[4];
};

template <DType D>
__device__ __forceinline__ void load_quad(const TensorSlot& t, int64_t group, int lane, Quad& q) {
  using E = DevElem<D>;
  using T = typename E::T;
  q.e = group * kMaskGroup + 4 * lane;
  const int64_t e = q.e;
  const unsigned exists = e >= t.n ? 0u : (e + 4 <= t.n ? 0xfu : (1u << (t.n - e)) - 1u);
  if (t.bits == nullptr) {
    q.keep = exists;
    q.idx = e;
  } else if (exists) {
    // The group's four mask words (groups are 128 bits, so this load is 16-byte aligned).
    const uint4 w = __ldg(reinterpret_cast<const uint4*>(t.bits) + group);
    const unsigned words[4] = {w.x, w.y, w.z, w.w};
    const int wi = lane >> 3, shift = (lane & 7) * 4;
    int before = __popc(words[wi] & ((1u << shift) - 1u));
#pragma unroll
    for (int k = 0; k < 3; ++k) before += k < wi ? __popc(words[k]) : 0;
    q.keep = (words[wi] >> shift) & 0xfu & exists;
    q.idx = __ldg(t.group_base + group) + before;
  } else {
    q.keep = 0;
    q.idx = 0;
  }
  const T* p = static_cast<const T*>(t.p);
  const T* g = static_cast<const T*>(t.g);
  q.vec = e + 4 <= t.n && ((reinterpret_cast<uintptr_t>(p + e) | reinterpret_cast<uintptr_t>(g + e)) % sizeof(Vec4<T>)) == 0;
  if (q.vec) {
    const Vec4<T> pl = *reinterpret_cast<const Vec4<T>*>(p + e);
    const Vec4<T> gl = load_streaming(reinterpret_cast<const Vec4<T>*>(g + e));
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      q.p[j] = E::load(pl.v, j);
      q.g[j] = E::load(gl.v, j);
    }
  } else {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      q.p[j] = (exists >> j) & 1u ? E::load(p, e + j) : 0.0f;
      q.g[j] = (q.keep >> j) & 1u ? E::load(g, e + j) : 0.0f;
    }
  }
}

template <DType D>
__device__ __forceinline__ void store_quad(const TensorSlot& t, const Quad& q) {
  using E = DevElem<D>;
  using T = typename E::T;
  T* p = static_cast<T*>(t.p);
  if (q.vec) {
    Vec4<T> out;
#pragma unroll
    for (int j = 0; j < 4; ++j) E::store(out.v, j, q.p[j]);
    *reinterpret_cast<Vec4<T>*>(p + q.e) = out;
  } else {
#pragma unroll
    for (int j = 0; j < 4; ++j)
      if (q.e + j < t.n) E::store(p, q.e + j, q.p[j]);
  }
}

// Each block iteration covers one tile of 32 mask groups; warp w takes groups w, w+8, w+16, w+24
// and issues all their loads (mask words, p, g, then the kept elements' state) before computing,
// so every lane has kUnroll independent memory round trips in flight.
template <class Fn, DType D>
__global__ void __launch_bounds__(kThreads, 2) step_kernel(const __grid_constant__ StepLaunch a) {
  using E = DevElem<D>;
  using T = typename E::T;
  constexpr int K = Fn::kStates;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t n_tiles = a.tile_start[a.n_slots];
  for (int64_t tile = blockIdx.x; tile < n_tiles; tile += gridDim.x) {
    const int si = find_slot(a, tile);
    const TensorSlot& t = a.slots[si];
    const int64_t group0 = (tile - a.tile_start[si]) * (kTile / kMaskGroup) + warp;
    Quad q[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) load_quad<D>(t, group0 + 8 * u, lane, q[u]);
    float s[kUnroll][4][K];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      int64_t idx = q[u].idx;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const bool kept = (q[u].keep >> j) & 1u;
#pragma unroll
        for (int k = 0; k < K; ++k) s[u][j][k] = kept ? E::load(static_cast<const T*>(t.state[k]), idx) : 0.0f;
        idx += kept;
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      int64_t idx = q[u].idx;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        if ((q[u].keep >> j) & 1u) {
          q[u].p[j] = Fn::update(q[u].p[j], q[u].g[j], s[u][j], a.h, t);
#pragma unroll
          for (int k = 0; k < K; ++k) E::store(static_cast<T*>(t.state[k]), idx, s[u][j][k]);
          ++idx;
        } else {
          q[u].p[j] = 0.0f;
        }
      }
      if (q[u].e < t.n) store_quad<D>(t, q[u]);
    }
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
