// CUDA passes of the radix select (common/select_driver.h drives them from the host): block
// histograms in shared memory with warp-aggregated atomics, merged into a global histogram; a
// pruning pass writing the new masks; and the in-order restoration of surplus threshold ties.
// Sources are split into tiles of kTile elements, numbered in (source, index) order. Torch-free.
#include <cuda_runtime.h>

#include <algorithm>
#include <cub/block/block_scan.cuh>
#include <vector>

#include "../common/numeric.h"
#include "cuda_check.h"
#include "select_cuda.h"

namespace lf {
namespace {

constexpr int kThreads = 512;
constexpr int64_t kTile = 16384;  // elements per tile; ties are counted per tile
constexpr int kMaxBins = 2048;

struct DevSource {
  const void* data;
  const uint8_t* mask;
  int64_t n;
  int64_t tile_start;
  DType dtype;
  bool vec;  // data, mask and output aligned for 4-element vector access
};

struct Workspace {
  DevSource* sources;
  uint8_t** out;
  unsigned long long* hist;
  long long* nan_source;
  unsigned long long* tile_ties;
};

int64_t tile_count(const SelectSource* src, int64_t n_src) {
  int64_t tiles = 0;
  for (int64_t s = 0; s < n_src; ++s) tiles += (src[s].n + kTile - 1) / kTile;
  return tiles;
}

size_t align_up(size_t x) { return (x + 255) & ~size_t(255); }

Workspace carve(void* base, int64_t n_src, int64_t n_tiles) {
  char* p = static_cast<char*>(base);
  Workspace w;
  w.sources = reinterpret_cast<DevSource*>(p);
  p += align_up(sizeof(DevSource) * std::max<int64_t>(n_src, 1));
  w.out = reinterpret_cast<uint8_t**>(p);
  p += align_up(sizeof(uint8_t*) * std::max<int64_t>(n_src, 1));
  w.hist = reinterpret_cast<unsigned long long*>(p);
  p += align_up(sizeof(unsigned long long) * kMaxBins);
  w.nan_source = reinterpret_cast<long long*>(p);
  p += align_up(sizeof(long long));
  w.tile_ties = reinterpret_cast<unsigned long long*>(p);
  return w;
}

__device__ __forceinline__ int find_source(const DevSource* s, int n_src, int64_t tile) {
  int lo = 0, hi = n_src - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) >> 1;
    if (s[mid].tile_start <= tile) lo = mid; else hi = mid - 1;
  }
  return lo;
}

// Keys and alive flags of elements i..i+3 of a source (alive is false past `end`).
template <class Key>
__device__ __forceinline__ void load4(const DevSource& s, int64_t i, int64_t end, Key (&k)[4], bool (&alive)[4]) {
  if (s.vec && i + 4 <= end) {
    if (s.dtype == DType::F32) {
      const float4 v = __ldcs(reinterpret_cast<const float4*>(static_cast<const float*>(s.data) + i));
      k[0] = KeyTraits<Key>::from_f32(v.x);
      k[1] = KeyTraits<Key>::from_f32(v.y);
      k[2] = KeyTraits<Key>::from_f32(v.z);
      k[3] = KeyTraits<Key>::from_f32(v.w);
    } else {
      const uint2 v = __ldcs(reinterpret_cast<const uint2*>(static_cast<const uint16_t*>(s.data) + i));
      const uint16_t h[4] = {uint16_t(v.x), uint16_t(v.x >> 16), uint16_t(v.y), uint16_t(v.y >> 16)};
#pragma unroll
      for (int j = 0; j < 4; ++j)
        k[j] = s.dtype == DType::F16 ? KeyTraits<Key>::from_f16(h[j]) : KeyTraits<Key>::from_bf16(h[j]);
    }
    const unsigned m = s.mask ? __ldcs(reinterpret_cast<const unsigned*>(s.mask + i)) : 0x01010101u;
#pragma unroll
    for (int j = 0; j < 4; ++j) alive[j] = (m >> (8 * j)) & 0xffu;
  } else {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      alive[j] = i + j < end && (!s.mask || s.mask[i + j]);
      k[j] = alive[j] ? load_key<Key>(s.data, s.dtype, i + j) : Key(0);
    }
  }
}

// Walks tile `tile` with the whole block in lockstep, four consecutive elements per thread:
// fn(source, source index, first element index, end, keys, alive).
template <class Key, class Fn>
__device__ __forceinline__ void for_tile(const DevSource* sources, int n_src, int64_t tile, Fn&& fn) {
  const int si = find_source(sources, n_src, tile);
  const DevSource& s = sources[si];
  const int64_t begin = (tile - s.tile_start) * kTile;
  const int64_t end = min(begin + kTile, s.n);
  for (int64_t base = begin; base < end; base += 4 * blockDim.x) {
    const int64_t i = base + 4 * threadIdx.x;
    Key k[4];
    bool alive[4];
    load4<Key>(s, i, end, k, alive);
    fn(s, si, i, end, k, alive);
  }
}

constexpr int kCopies = 4;  // sub-histograms per block (by warp) to spread atomic contention

template <class Key, bool kFirst>
__global__ void __launch_bounds__(kThreads) hist_kernel(Workspace w, int n_src, int64_t n_tiles, int shift, int bits,
                                                        Key prefix) {
  __shared__ unsigned int h[kCopies][kMaxBins];
  const int bins = 1 << bits;
  for (int b = threadIdx.x; b < kCopies * kMaxBins; b += blockDim.x) h[b / kMaxBins][b % kMaxBins] = 0;
  __syncthreads();
  unsigned int* mine = h[(threadIdx.x >> 5) % kCopies];
  const Key digit_mask = (Key(1) << bits) - 1;
  const int high = shift + bits;
  bool nan = false;
  int nan_src = 0;
  for (int64_t tile = blockIdx.x; tile < n_tiles; tile += gridDim.x) {
    for_tile<Key>(w.sources, n_src, tile, [&](const DevSource&, int si, int64_t, int64_t, const Key (&k)[4], const bool (&alive)[4]) {
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        if (!alive[j]) continue;
        if constexpr (kFirst) {
          if (k[j] > Key(KeyTraits<Key>::kInf) && !nan) {
            nan = true;
            nan_src = si;
          }
          atomicAdd(&mine[static_cast<unsigned>(k[j] >> shift)], 1u);
        } else if ((k[j] >> high) == prefix) {
          atomicAdd(&mine[static_cast<unsigned>((k[j] >> shift) & digit_mask)], 1u);
        }
      }
    });
  }
  if (nan) atomicMin(w.nan_source, static_cast<long long>(nan_src));
  __syncthreads();
  for (int b = threadIdx.x; b < bins; b += blockDim.x) {
    unsigned int c = 0;
#pragma unroll
    for (int copy = 0; copy < kCopies; ++copy) c += h[copy][b];
    if (c) atomicAdd(&w.hist[b], static_cast<unsigned long long>(c));
  }
}

template <class Key>
__global__ void __launch_bounds__(kThreads) prune_kernel(Workspace w, int n_src, int64_t n_tiles, Key threshold,
                                                         bool count_ties) {
  for (int64_t tile = blockIdx.x; tile < n_tiles; tile += gridDim.x) {
    unsigned int ties = 0;
    for_tile<Key>(w.sources, n_src, tile, [&](const DevSource& s, int si, int64_t i, int64_t end, const Key (&k)[4], const bool (&alive)[4]) {
      uint8_t keep[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        keep[j] = alive[j] && k[j] > threshold;
        ties += alive[j] && k[j] == threshold;
      }
      if (s.vec && i + 4 <= end) {
        *reinterpret_cast<unsigned*>(w.out[si] + i) = keep[0] | (keep[1] << 8) | (keep[2] << 16) | (unsigned(keep[3]) << 24);
      } else {
#pragma unroll
        for (int j = 0; j < 4; ++j)
          if (i + j < end) w.out[si][i + j] = keep[j];
      }
    });
    if (count_ties) {
      for (int off = 16; off; off >>= 1) ties += __shfl_down_sync(0xffffffffu, ties, off);
      if ((threadIdx.x & 31) == 0 && ties) atomicAdd(&w.tile_ties[tile], static_cast<unsigned long long>(ties));
    }
  }
}

// Tiles >= first_tile: threshold ties go back to kept, except the first `skip` of first_tile,
// which the block walks in index order with a block-wide scan.
template <class Key>
__global__ void __launch_bounds__(kThreads) restore_kernel(Workspace w, int n_src, int64_t first_tile, int64_t n_tiles,
                                                           Key threshold, unsigned long long skip) {
  using Scan = cub::BlockScan<unsigned int, kThreads>;
  __shared__ typename Scan::TempStorage scan_storage;
  __shared__ unsigned long long seen;
  for (int64_t tile = first_tile + blockIdx.x; tile < n_tiles; tile += gridDim.x) {
    const int si = find_source(w.sources, n_src, tile);
    const DevSource& s = w.sources[si];
    const int64_t begin = (tile - s.tile_start) * kTile;
    const int64_t end = min(begin + kTile, s.n);
    const unsigned long long to_skip = tile == first_tile ? skip : 0;
    if (threadIdx.x == 0) seen = 0;
    __syncthreads();
    for (int64_t base = begin; base < end; base += blockDim.x) {
      const int64_t i = base + threadIdx.x;
      const bool tie = i < end && (!s.mask || s.mask[i]) && load_key<Key>(s.data, s.dtype, i) == threshold;
      unsigned int rank = 0, total = 0;
      Scan(scan_storage).ExclusiveSum(tie ? 1u : 0u, rank, total);
      if (tie && seen + rank >= to_skip) w.out[si][i] = 1;
      __syncthreads();
      if (threadIdx.x == 0) seen += total;
      __syncthreads();
    }
  }
}

__global__ void copy_masks_kernel(Workspace w, int n_src, int64_t n_tiles) {
  for (int64_t tile = blockIdx.x; tile < n_tiles; tile += gridDim.x)
    for_tile<uint32_t>(w.sources, n_src, tile, [&](const DevSource&, int si, int64_t i, int64_t end, const uint32_t (&)[4], const bool (&alive)[4]) {
#pragma unroll
      for (int j = 0; j < 4; ++j)
        if (i + j < end) w.out[si][i + j] = alive[j];
    });
}

class CudaBackend {
 public:
  CudaBackend(const SelectSource* src, int64_t n_src, uint8_t* const* out, void* workspace, cudaStream_t stream)
      : n_src_(static_cast<int>(n_src)), n_tiles_(tile_count(src, n_src)), stream_(stream),
        w_(carve(workspace, n_src, n_tiles_)) {
    std::vector<DevSource> dev(n_src);
    int64_t tile = 0;
    for (int64_t s = 0; s < n_src; ++s) {
      const uintptr_t data_align = src[s].dtype == DType::F32 ? 16 : 8;
      const bool vec = src[s].dtype != DType::F64 && reinterpret_cast<uintptr_t>(src[s].data) % data_align == 0 &&
                       reinterpret_cast<uintptr_t>(src[s].mask) % 4 == 0 &&
                       (!out || reinterpret_cast<uintptr_t>(out[s]) % 4 == 0);
      dev[s] = DevSource{src[s].data, src[s].mask, src[s].n, tile, src[s].dtype, vec};
      tile += (src[s].n + kTile - 1) / kTile;
    }
    if (n_src > 0) {
      cuda_check(cudaMemcpyAsync(w_.sources, dev.data(), sizeof(DevSource) * n_src, cudaMemcpyHostToDevice, stream_),
                 "copy sources");
      if (out)
        cuda_check(cudaMemcpyAsync(w_.out, out, sizeof(uint8_t*) * n_src, cudaMemcpyHostToDevice, stream_), "copy outs");
    }
    int device = 0;
    cuda_check(cudaGetDevice(&device), "cudaGetDevice");
    cuda_check(cudaDeviceGetAttribute(&sms_, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
  }

  bool wide = false;

  void histogram(const DigitPass& pass, bool first, uint64_t prefix, uint64_t* hist, int64_t* nan_source) {
    const int bins = 1 << pass.bits;
    cuda_check(cudaMemsetAsync(w_.hist, 0, sizeof(unsigned long long) * bins, stream_), "memset hist");
    const long long none = -1;
    if (first) {
      const long long big = static_cast<long long>(n_src_);
      cuda_check(cudaMemcpyAsync(w_.nan_source, &big, sizeof(big), cudaMemcpyHostToDevice, stream_), "init nan");
    }
    if (n_tiles_ > 0) {
      const unsigned grid = grid_for(4);
      if (wide) launch_hist<uint64_t>(grid, first, pass, prefix);
      else launch_hist<uint32_t>(grid, first, pass, prefix);
    }
    cuda_check(cudaMemcpyAsync(hist, w_.hist, sizeof(unsigned long long) * bins, cudaMemcpyDeviceToHost, stream_), "read hist");
    long long nan = none;
    if (first) cuda_check(cudaMemcpyAsync(&nan, w_.nan_source, sizeof(nan), cudaMemcpyDeviceToHost, stream_), "read nan");
    cuda_check(cudaStreamSynchronize(stream_), "histogram");
    *nan_source = first && nan < n_src_ ? nan : -1;
  }

  void prune_pass(uint64_t key, bool count_ties, std::vector<uint64_t>& ties) {
    if (n_tiles_ == 0) return;
    if (count_ties)
      cuda_check(cudaMemsetAsync(w_.tile_ties, 0, sizeof(unsigned long long) * n_tiles_, stream_), "memset ties");
    const unsigned grid = grid_for(4);
    if (wide) prune_kernel<uint64_t><<<grid, kThreads, 0, stream_>>>(w_, n_src_, n_tiles_, key, count_ties);
    else prune_kernel<uint32_t><<<grid, kThreads, 0, stream_>>>(w_, n_src_, n_tiles_, static_cast<uint32_t>(key), count_ties);
    cuda_check(cudaGetLastError(), "prune_kernel");
    if (!count_ties) return;
    ties.assign(n_tiles_, 0);
    cuda_check(cudaMemcpyAsync(ties.data(), w_.tile_ties, sizeof(uint64_t) * n_tiles_, cudaMemcpyDeviceToHost, stream_),
               "read ties");
    cuda_check(cudaStreamSynchronize(stream_), "prune");
  }

  void restore_ties(uint64_t key, int64_t first_tile, uint64_t skip) {
    const unsigned grid = static_cast<unsigned>(std::min<int64_t>(n_tiles_ - first_tile, int64_t(sms_) * 4));
    if (wide) restore_kernel<uint64_t><<<grid, kThreads, 0, stream_>>>(w_, n_src_, first_tile, n_tiles_, key, skip);
    else restore_kernel<uint32_t><<<grid, kThreads, 0, stream_>>>(w_, n_src_, first_tile, n_tiles_, static_cast<uint32_t>(key), skip);
    cuda_check(cudaGetLastError(), "restore_kernel");
  }

  void copy_masks() {
    if (n_tiles_ == 0) return;
    copy_masks_kernel<<<grid_for(4), kThreads, 0, stream_>>>(w_, n_src_, n_tiles_);
    cuda_check(cudaGetLastError(), "copy_masks_kernel");
  }

 private:
  unsigned grid_for(int per_sm) const {
    return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(n_tiles_, int64_t(sms_) * per_sm)));
  }

  template <class Key>
  void launch_hist(unsigned grid, bool first, const DigitPass& pass, uint64_t prefix) {
    if (first) hist_kernel<Key, true><<<grid, kThreads, 0, stream_>>>(w_, n_src_, n_tiles_, pass.shift, pass.bits, Key(prefix));
    else hist_kernel<Key, false><<<grid, kThreads, 0, stream_>>>(w_, n_src_, n_tiles_, pass.shift, pass.bits, Key(prefix));
    cuda_check(cudaGetLastError(), "hist_kernel");
  }

  int n_src_;
  int64_t n_tiles_;
  cudaStream_t stream_;
  Workspace w_;
  int sms_ = 0;
};

bool needs_wide_keys(const SelectSource* src, int64_t n_src) {
  for (int64_t s = 0; s < n_src; ++s)
    if (src[s].dtype == DType::F64 && src[s].n > 0) return true;
  return false;
}

}  // namespace

size_t select_cuda_workspace_bytes(const SelectSource* src, int64_t n_src) {
  const int64_t n = std::max<int64_t>(n_src, 1);
  return align_up(sizeof(DevSource) * n) + align_up(sizeof(uint8_t*) * n) + align_up(sizeof(unsigned long long) * kMaxBins) +
         align_up(sizeof(long long)) + align_up(sizeof(unsigned long long) * std::max<int64_t>(tile_count(src, n_src), 1));
}

SelectResult select_kth_cuda(const SelectSource* src, int64_t n_src, const RankRequest& rank, void* workspace,
                             cudaStream_t stream) {
  CudaBackend be(src, n_src, nullptr, workspace, stream);
  be.wide = needs_wide_keys(src, n_src);
  return radix_select(be, be.wide, [&](uint64_t n_alive) { return rank.resolve(n_alive); });
}

void prune_cuda(const SelectSource* src, int64_t n_src, const SelectResult& r, uint8_t* const* out, void* workspace,
                cudaStream_t stream) {
  CudaBackend be(src, n_src, out, workspace, stream);
  be.wide = needs_wide_keys(src, n_src);
  if (r.k == 0) {
    be.copy_masks();
  } else {
    prune_selected(be, r);
  }
}

}  // namespace lf
