// CUDA kernels of the masked optimizer step: a multi-tensor launch over up to kMaxSlotsPerLaunch
// tensors whose descriptions travel as a __grid_constant__ kernel parameter. A persistent grid
// walks tiles of 4096 elements; each warp takes 512 consecutive elements (four 128-element mask
// groups), each lane loads four consecutive elements of a group as one vector. For a masked
// tensor the warp compacts its kept elements through shared memory, so pruned elements cost
// neither state traffic nor arithmetic and the state is accessed contiguously (the same packing
// idea as the CPU kernels). The asynchronous variants copy a warp's p and g into shared memory
// with cp.async (sm_80+: no registers hold data in flight, all four groups' loads are issued at
// once) and start the state loads before waiting for them. Torch-free.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "../common/functors.h"
#include "cuda_check.h"
#include "elem.cuh"
#include "step_cuda.h"

namespace lf {
namespace {

constexpr int kThreads = 256;                      // 8 warps
constexpr int kWarps = kThreads / 32;
constexpr int kGroupsPerWarp = 4;                  // consecutive 128-element mask groups per warp
constexpr int kWarpSpan = kGroupsPerWarp * 128;    // elements a warp covers per tile
constexpr int64_t kTile = int64_t(kWarps) * kWarpSpan;  // elements per block iteration
constexpr int kMaxSlotsPerLaunch = 96;             // keeps the parameter block near 14 KB
constexpr int kStageRow = kWarpSpan / 32 + 1;      // staging row: 16 values + 1 of padding
constexpr int kStage = 32 * kStageRow;             // floats per warp and array

#ifdef LOTTERYFAST_CUDA_STEP_SWEEP
// Position of packed value r in a warp's staging array: value r goes to row r % 32, column r / 32,
// so the strided reads of the update (lane, lane + 32, ...) and the runs of consecutive values
// each lane writes both spread over all 32 banks.
__device__ __forceinline__ int stage(int r) { return (r & 31) * kStageRow + (r >> 5); }
#endif

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

// Bit j set when element e + j exists (e < n or not).
__device__ __forceinline__ unsigned existing(int64_t e, int64_t n) {
  return e >= n ? 0u : (e + 4 <= n ? 0xfu : (1u << (n - e)) - 1u);
}

// Four consecutive elements of a tensor as float, one vector access when `vec`.
template <DType D>
__device__ __forceinline__ void load4(const typename DevElem<D>::T* x, int64_t e, unsigned present, bool vec, bool stream,
                                      float (&v)[4]) {
  using E = DevElem<D>;
  using T = typename E::T;
  if (vec) {
    const Vec4<T> l = stream ? load_streaming(reinterpret_cast<const Vec4<T>*>(x + e)) : *reinterpret_cast<const Vec4<T>*>(x + e);
#pragma unroll
    for (int j = 0; j < 4; ++j) v[j] = E::load(l.v, j);
  } else {
#pragma unroll
    for (int j = 0; j < 4; ++j) v[j] = (present >> j) & 1u ? E::load(x, e + j) : 0.0f;
  }
}

template <DType D>
__device__ __forceinline__ void store4(typename DevElem<D>::T* x, int64_t e, unsigned present, bool vec, const float (&v)[4]) {
  using E = DevElem<D>;
  using T = typename E::T;
  if (vec) {
    Vec4<T> out;
#pragma unroll
    for (int j = 0; j < 4; ++j) E::store(out.v, j, v[j]);
    *reinterpret_cast<Vec4<T>*>(x + e) = out;
  } else {
#pragma unroll
    for (int j = 0; j < 4; ++j)
      if ((present >> j) & 1u) E::store(x, e + j, v[j]);
  }
}

template <class T>
__device__ __forceinline__ bool aligned4(const T* x) {
  return reinterpret_cast<uintptr_t>(x) % sizeof(Vec4<T>) == 0;
}

// Dense tensor: each lane steps its four elements of each of the warp's groups; p, g and the
// state are read and written as vectors.
template <class Fn, DType D>
__device__ __forceinline__ void step_dense(const TensorSlot& t, const OptimHyper& h, int64_t e0, int lane) {
  using T = typename DevElem<D>::T;
  constexpr int K = Fn::kStates;
  T* p = static_cast<T*>(t.p);
  const T* g = static_cast<const T*>(t.g);
  bool aligned = aligned4(p) && aligned4(g);
#pragma unroll
  for (int k = 0; k < K; ++k) aligned = aligned && aligned4(static_cast<const T*>(t.state[k]));
#pragma unroll
  for (int u = 0; u < kGroupsPerWarp; ++u) {
    const int64_t e = e0 + u * 128 + 4 * lane;
    const unsigned present = existing(e, t.n);
    if (!present) continue;
    const bool vec = aligned && present == 0xfu;
    float pv[4], gv[4], sv[K][4];
    load4<D>(p, e, present, vec, false, pv);
    load4<D>(g, e, present, vec, true, gv);
#pragma unroll
    for (int k = 0; k < K; ++k) load4<D>(static_cast<const T*>(t.state[k]), e, present, vec, false, sv[k]);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      float s[K];
#pragma unroll
      for (int k = 0; k < K; ++k) s[k] = sv[k][j];
      pv[j] = Fn::update(pv[j], gv[j], s, h, t);
#pragma unroll
      for (int k = 0; k < K; ++k) sv[k][j] = s[k];
    }
    store4<D>(p, e, present, vec, pv);
#pragma unroll
    for (int k = 0; k < K; ++k) store4<D>(static_cast<T*>(t.state[k]), e, present, vec, sv[k]);
  }
}

#ifdef LOTTERYFAST_CUDA_STEP_SWEEP  // the register-staged variants: bench sweeps only
// Masked tensor: the warp packs the kept elements of its groups into shared memory (their state
// is one contiguous compacted range), steps them with every lane busy and coalesced state
// accesses, then writes p back with zeros at pruned positions.
template <class Fn, DType D, int Hoist>
__device__ __forceinline__ void step_masked(const TensorSlot& t, const OptimHyper& h, int64_t group0, int lane,
                                            float* sp, float* sg) {
  using E = DevElem<D>;
  using T = typename E::T;
  constexpr int K = Fn::kStates;
  T* p = static_cast<T*>(t.p);
  const T* g = static_cast<const T*>(t.g);
  const bool aligned = aligned4(p) && aligned4(g);
  const int64_t n_groups = (t.n + 127) / 128;
  unsigned keep[kGroupsPerWarp];
  int rank[kGroupsPerWarp];
  int total = 0;
  // Three stages per group: mask words -> ranks, loads of p and g, staging of the kept values.
  auto ranks = [&](int u) {
    const int64_t group = group0 + u;
    uint4 w = make_uint4(0, 0, 0, 0);
    if (group < n_groups) w = __ldg(reinterpret_cast<const uint4*>(t.bits) + group);  // 16-byte aligned
    const unsigned words[4] = {w.x, w.y, w.z, w.w};
    const int wi = lane >> 3, shift = (lane & 7) * 4;
    int before = __popc(words[wi] & ((1u << shift) - 1u));
#pragma unroll
    for (int k = 0; k < 3; ++k) before += k < wi ? __popc(words[k]) : 0;
    const unsigned present = existing(group * 128 + 4 * lane, t.n);
    keep[u] = (words[wi] >> shift) & 0xfu & present;
    rank[u] = total + before;
    total += __popc(w.x) + __popc(w.y) + __popc(w.z) + __popc(w.w);
  };
  auto loads = [&](int u, float(&pv)[4], float(&gv)[4]) {
    const int64_t e = (group0 + u) * 128 + 4 * lane;
    const unsigned present = existing(e, t.n);
    const bool vec = aligned && present == 0xfu;
    load4<D>(p, e, present, vec, false, pv);
    load4<D>(g, e, keep[u], vec, true, gv);
  };
  auto staging = [&](int u, const float(&pv)[4], const float(&gv)[4]) {
    int r = rank[u];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      if ((keep[u] >> j) & 1u) {
        sp[stage(r)] = pv[j];
        sg[stage(r)] = gv[j];
        ++r;
      }
    }
  };
  // Groups run through the three stages in runs of Hoist: a run's loads are all in flight
  // together (more bytes in flight per warp, more registers).
  if constexpr (Hoist == 1) {
#pragma unroll
    for (int u = 0; u < kGroupsPerWarp; ++u) {
      ranks(u);
      if (keep[u]) {
        float pv[4], gv[4];
        loads(u, pv, gv);
        staging(u, pv, gv);
      }
    }
  } else {
#pragma unroll
    for (int u0 = 0; u0 < kGroupsPerWarp; u0 += Hoist) {
      float pv[Hoist][4], gv[Hoist][4];
#pragma unroll
      for (int u = u0; u < u0 + Hoist; ++u) ranks(u);
#pragma unroll
      for (int u = u0; u < u0 + Hoist; ++u)
        if (keep[u]) loads(u, pv[u - u0], gv[u - u0]);
#pragma unroll
      for (int u = u0; u < u0 + Hoist; ++u)
        if (keep[u]) staging(u, pv[u - u0], gv[u - u0]);
    }
  }
  __syncwarp();
  if (total > 0) {
    // The compacted state of the warp's kept elements is one contiguous range; each lane takes
    // every 32nd entry. All loads of a round are issued before any store so they overlap.
    const int64_t base = __ldg(t.group_base + group0);
    constexpr int kRound = 8;
    for (int first = 0; first < total; first += 32 * kRound) {
      float s[kRound][K];
#pragma unroll
      for (int i = 0; i < kRound; ++i) {
        const int c = first + 32 * i + lane;
#pragma unroll
        for (int k = 0; k < K; ++k) s[i][k] = c < total ? E::load(static_cast<const T*>(t.state[k]), base + c) : 0.0f;
      }
#pragma unroll
      for (int i = 0; i < kRound; ++i) {
        const int c = first + 32 * i + lane;
        if (c < total) {
          sp[stage(c)] = Fn::update(sp[stage(c)], sg[stage(c)], s[i], h, t);
#pragma unroll
          for (int k = 0; k < K; ++k) E::store(static_cast<T*>(t.state[k]), base + c, s[i][k]);
        }
      }
    }
  }
  __syncwarp();
#pragma unroll
  for (int u = 0; u < kGroupsPerWarp; ++u) {
    const int64_t e = (group0 + u) * 128 + 4 * lane;
    const unsigned present = existing(e, t.n);
    if (!present) continue;
    float out[4];
    int r = rank[u];
#pragma unroll
    for (int j = 0; j < 4; ++j) out[j] = (keep[u] >> j) & 1u ? sp[stage(r++)] : 0.0f;
    store4<D>(p, e, present, aligned && present == 0xfu, out);
  }
  __syncwarp();  // sp/sg are reused by the warp's next tile
}
#endif  // LOTTERYFAST_CUDA_STEP_SWEEP

// Bytes of shared memory a warp's asynchronous path needs: p and g of its kWarpSpan elements in
// their own type, and the position of each kept element (by rank).
template <DType D>
constexpr int async_warp_bytes() {
  return 2 * kWarpSpan * int(sizeof(typename DevElem<D>::T)) + kWarpSpan * int(sizeof(uint16_t));
}

// Copies 4 * sizeof(T) bytes (8 or 16, aligned) from global to shared memory without passing
// through registers; completes at cp_async_wait_all().
template <class T>
__device__ __forceinline__ void cp_async4(T* smem, const T* gmem) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  if constexpr (sizeof(T) == 4) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem) : "memory");
  } else {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 8;\n" ::"r"(s), "l"(gmem) : "memory");
  }
#else
  *reinterpret_cast<Vec4<T>*>(smem) = *reinterpret_cast<const Vec4<T>*>(gmem);
#endif
}

__device__ __forceinline__ void cp_async_wait_all() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\ncp.async.wait_group 0;\n" ::: "memory");
#endif
}

// Masked tensor, asynchronous path: p and g of the warp's four groups go to shared memory by
// cp.async while the mask words and the group base arrive; the ranks of the kept elements give
// their positions; the first round of state loads is issued before waiting for p and g. Then
// each lane steps every 32nd kept element and p is written back with zeros at pruned positions.
template <class Fn, DType D>
__device__ __forceinline__ void step_masked_async(const TensorSlot& t, const OptimHyper& h, int64_t group0, int lane,
                                                  unsigned char* smem) {
  using E = DevElem<D>;
  using T = typename E::T;
  constexpr int K = Fn::kStates;
  constexpr int kRound = 8;
  T* p = static_cast<T*>(t.p);
  const T* g = static_cast<const T*>(t.g);
  T* sp = reinterpret_cast<T*>(smem);
  T* sg = sp + kWarpSpan;
  uint16_t* pos = reinterpret_cast<uint16_t*>(sg + kWarpSpan);
  const bool aligned = aligned4(p) && aligned4(g);
  const int64_t n_groups = (t.n + 127) / 128;

  // Lanes 0..15 fetch the 16 mask words of the four groups (one 64-byte access).
  unsigned word = 0;
  if (lane < 4 * kGroupsPerWarp && group0 + (lane >> 2) < n_groups) word = __ldg(t.bits + group0 * 4 + lane);
  const int64_t base = __ldg(t.group_base + group0);
#pragma unroll
  for (int u = 0; u < kGroupsPerWarp; ++u) {
    const int o = u * 128 + 4 * lane;
    const int64_t e = (group0 + u) * 128 + 4 * lane;
    const unsigned present = existing(e, t.n);
    if (aligned && present == 0xfu) {
      cp_async4<T>(sp + o, p + e);
      cp_async4<T>(sg + o, g + e);
    } else if (present) {
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        if ((present >> j) & 1u) {
          sp[o + j] = p[e + j];
          sg[o + j] = g[e + j];
        }
      }
    }
  }

  unsigned keep[kGroupsPerWarp];
  int total = 0;
  const int wi = lane >> 3, shift = (lane & 7) * 4;
#pragma unroll
  for (int u = 0; u < kGroupsPerWarp; ++u) {
    // Counts of the group's four words, and the word holding this lane's four bits.
    const int c0 = __popc(__shfl_sync(0xffffffffu, word, 4 * u));
    const int c1 = __popc(__shfl_sync(0xffffffffu, word, 4 * u + 1));
    const int c2 = __popc(__shfl_sync(0xffffffffu, word, 4 * u + 2));
    const int c3 = __popc(__shfl_sync(0xffffffffu, word, 4 * u + 3));
    const unsigned mine = __shfl_sync(0xffffffffu, word, 4 * u + wi);
    int r = total + __popc(mine & ((1u << shift) - 1u)) + (wi > 0 ? c0 : 0) + (wi > 1 ? c1 : 0) + (wi > 2 ? c2 : 0);
    keep[u] = (mine >> shift) & 0xfu & existing((group0 + u) * 128 + 4 * lane, t.n);
#pragma unroll
    for (int j = 0; j < 4; ++j)
      if ((keep[u] >> j) & 1u) pos[r++] = static_cast<uint16_t>(u * 128 + 4 * lane + j);
    total += c0 + c1 + c2 + c3;
  }

  // The compacted state of the warp's kept elements is one contiguous range from `base`.
  float s[kRound][K];
  auto load_round = [&](int first) {
#pragma unroll
    for (int i = 0; i < kRound; ++i) {
      const int c = first + 32 * i + lane;
#pragma unroll
      for (int k = 0; k < K; ++k) s[i][k] = c < total ? E::load(static_cast<const T*>(t.state[k]), base + c) : 0.0f;
    }
  };
  load_round(0);
  cp_async_wait_all();
  __syncwarp();  // p, g and the positions written by every lane are visible
  for (int first = 0; first < total; first += 32 * kRound) {
    if (first > 0) load_round(first);
#pragma unroll
    for (int i = 0; i < kRound; ++i) {
      const int c = first + 32 * i + lane;
      if (c < total) {
        const int at = pos[c];
        E::store(sp, at, Fn::update(E::load(sp, at), E::load(sg, at), s[i], h, t));
#pragma unroll
        for (int k = 0; k < K; ++k) E::store(static_cast<T*>(t.state[k]), base + c, s[i][k]);
      }
    }
  }
  __syncwarp();
  // A 32-byte sector of p whose elements are all pruned and already +0.0 is left as it is: the
  // lanes sharing the sector agree before any of them skips its store (no partial sectors).
  constexpr int kLanesPerSector = 32 / int(sizeof(Vec4<T>));
#pragma unroll
  for (int u = 0; u < kGroupsPerWarp; ++u) {
    const int o = u * 128 + 4 * lane;
    const int64_t e = (group0 + u) * 128 + 4 * lane;
    const unsigned present = existing(e, t.n);
    bool unchanged = present == 0;
    if (present == 0xfu && keep[u] == 0) {
      unsigned bits = 0;  // the raw bits of the four old values (shared memory is 16-byte aligned)
      if constexpr (sizeof(T) == 4) {
        const uint4 v = *reinterpret_cast<const uint4*>(sp + o);
        bits = v.x | v.y | v.z | v.w;
      } else {
        const uint2 v = *reinterpret_cast<const uint2*>(sp + o);
        bits = v.x | v.y;
      }
      unchanged = bits == 0;
    }
#pragma unroll
    for (int w = 1; w < kLanesPerSector; w <<= 1) unchanged = __shfl_xor_sync(0xffffffffu, unchanged, w) && unchanged;
    if (!present || unchanged) continue;
    float out[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) out[j] = (keep[u] >> j) & 1u ? E::load(sp, o + j) : 0.0f;
    store4<D>(p, e, present, aligned && present == 0xfu, out);
  }
  __syncwarp();  // the warp's shared memory is reused by its next tile
}

// MinBlocks (resident blocks per SM the register allocation must allow) and Hoist (groups whose
// loads are issued together; 0 = the asynchronous path) are tuning choices measured by
// bench/gpu_profile.py.
template <class Fn, DType D, int MinBlocks, int Hoist>
__global__ void __launch_bounds__(kThreads, MinBlocks) step_kernel(const __grid_constant__ StepLaunch a) {
  constexpr bool kAsync = Hoist == 0;
  constexpr int kWarpBytes = kAsync ? async_warp_bytes<D>() : int(2 * kStage * sizeof(float));
  __shared__ alignas(16) unsigned char smem[kWarps][kWarpBytes];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t n_tiles = a.tile_start[a.n_slots];
  for (int64_t tile = blockIdx.x; tile < n_tiles; tile += gridDim.x) {
    const int si = find_slot(a, tile);
    const TensorSlot& t = a.slots[si];
    const int64_t group0 = (tile - a.tile_start[si]) * (kTile / 128) + int64_t(warp) * kGroupsPerWarp;
    if (group0 * 128 >= t.n) continue;
    if (t.bits == nullptr) {
      step_dense<Fn, D>(t, a.h, group0 * 128, lane);
    } else if constexpr (kAsync) {
      step_masked_async<Fn, D>(t, a.h, group0, lane, smem[warp]);
    } else {
#ifdef LOTTERYFAST_CUDA_STEP_SWEEP
      float* staging = reinterpret_cast<float*>(smem[warp]);
      step_masked<Fn, D, Hoist>(t, a.h, group0, lane, staging, staging + kStage);
#endif
    }
  }
}

// Resident blocks per SM times SMs, per device, computed once per kernel instantiation.
template <class Kernel>
int64_t persistent_grid(Kernel kernel) {
  static int cached[64] = {};  // benign race: every thread computes the same value
  int device = 0;
  cuda_check(cudaGetDevice(&device), "cudaGetDevice");
  if (device < 64 && cached[device] > 0) return cached[device];
  int sms = 0, per_sm = 0;
  cuda_check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
  cuda_check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, 0), "occupancy");
  const int grid = sms * std::max(per_sm, 1);
  if (device < 64) cached[device] = grid;
  return grid;
}

template <class Fn, DType D, int MinBlocks, int Hoist>
void launch(const TensorSlot* slots, int64_t n_slots, const OptimHyper& h, cudaStream_t stream) {
  const auto kernel = step_kernel<Fn, D, MinBlocks, Hoist>;
  const int64_t max_grid = persistent_grid(kernel);
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
    const int64_t grid = std::min<int64_t>(n_tiles, max_grid);
    kernel<<<static_cast<unsigned>(grid), kThreads, 0, stream>>>(a);
    cuda_check(cudaGetLastError(), "step_kernel launch");
  }
}

// Kernel variants (resident blocks per SM the registers must allow, groups loaded together;
// "async" = the cp.async path): 0 = (3, 1); 1 = (3, 2); 2 = (3, 4); 3 = (4, 1); 4 = (4, async);
// 5 = (5, async); 6 = (3, async). Measured on an H200 (bench/RESULTS.md, 400M-parameter sweep):
// the asynchronous path with 4 blocks per SM is the fastest, or within a few percent of it, for
// both optimizers at every density (94-105 % of the copy bandwidth, where the register-staged
// variants reach 68-87 %); a normal build compiles only it. A build with
// LOTTERYFAST_CUDA_STEP_SWEEP defined (setup.py: LOTTERYFAST_CUDA_STEP_SWEEP=1) compiles all of
// them and LOTTERYFAST_CUDA_STEP_VARIANT picks one per launch (bench sweeps, tests of every variant).
#ifdef LOTTERYFAST_CUDA_STEP_SWEEP
constexpr int kStepVariants = 7;

int step_variant() {
  const char* env = std::getenv("LOTTERYFAST_CUDA_STEP_VARIANT");
  if (env == nullptr || *env == '\0') return 4;
  const int v = std::atoi(env);
  if (v < 0 || v > kStepVariants - 1)
    throw std::invalid_argument("LOTTERYFAST_CUDA_STEP_VARIANT must be 0.." + std::to_string(kStepVariants - 1) +
                                ", got '" + env + "'");
  return v;
}

template <class Fn, DType D>
void launch_variant(const TensorSlot* slots, int64_t n_slots, const OptimHyper& h, cudaStream_t stream) {
  switch (step_variant()) {
    case 0: return launch<Fn, D, 3, 1>(slots, n_slots, h, stream);
    case 1: return launch<Fn, D, 3, 2>(slots, n_slots, h, stream);
    case 2: return launch<Fn, D, 3, 4>(slots, n_slots, h, stream);
    case 3: return launch<Fn, D, 4, 1>(slots, n_slots, h, stream);
    case 4: return launch<Fn, D, 4, 0>(slots, n_slots, h, stream);
    case 5: return launch<Fn, D, 5, 0>(slots, n_slots, h, stream);
    default: return launch<Fn, D, 3, 0>(slots, n_slots, h, stream);
  }
}
#else
template <class Fn, DType D>
void launch_variant(const TensorSlot* slots, int64_t n_slots, const OptimHyper& h, cudaStream_t stream) {
  launch<Fn, D, 4, 0>(slots, n_slots, h, stream);
}
#endif

}  // namespace

void step_cuda(Algo algo, DType dtype, const TensorSlot* slots, int64_t n_slots, const OptimHyper& h,
               cudaStream_t stream) {
  visit_functor(algo, h, [&]<class Fn>() {
    switch (dtype) {
      case DType::F32: return launch_variant<Fn, DType::F32>(slots, n_slots, h, stream);
      case DType::F16: return launch_variant<Fn, DType::F16>(slots, n_slots, h, stream);
      case DType::BF16: return launch_variant<Fn, DType::BF16>(slots, n_slots, h, stream);
      default: throw std::invalid_argument("unsupported dtype for the masked optimizer step");
    }
  });
}

}  // namespace lf
