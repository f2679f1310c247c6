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

template <class Key>
__device__ __forceinline__ Key dev_key(const DevSource& s, int64_t i) {
  switch (s.dtype) {
    case DType::F32: return KeyTraits<Key>::from_f32(static_cast<const float*>(s.data)[i]);
    case DType::F16: return KeyTraits<Key>::from_f16(static_cast<const uint16_t*>(s.data)[i]);
    case DType::BF16: return KeyTraits<Key>::from_bf16(static_cast<const uint16_t*>(s.data)[i]);
    default: return KeyTraits<Key>::from_f64(static_cast<const double*>(s.data)[i]);
  }
}

// Walks tile `tile` with the whole block in lockstep: every thread calls fn(source, source index,
// element index, alive) the same number of times (alive is false past the end), so warp
// collectives inside fn see all 32 lanes.
template <class Fn>
__device__ __forceinline__ void for_tile(const DevSource* sources, int n_src, int64_t tile, Fn&& fn) {
  const int si = find_source(sources, n_src, tile);
  const DevSource& s = sources[si];
  const int64_t begin = (tile - s.tile_start) * kTile;
  const int64_t end = min(begin + kTile, s.n);
  for (int64_t base = begin; base < end; base += blockDim.x) {
    const int64_t i = base + threadIdx.x;
    fn(s, si, i, i < end && (!s.mask || s.mask[i]));
  }
}

template <class Key, bool kFirst>
__global__ void __launch_bounds__(kThreads) hist_kernel(Workspace w, int n_src, int64_t n_tiles, int shift, int bits,
                                                        Key prefix) {
  __shared__ unsigned int h[kMaxBins];
  const int bins = 1 << bits;
  for (int b = threadIdx.x; b < bins; b += blockDim.x) h[b] = 0;
  __syncthreads();
  const Key digit_mask = (Key(1) << bits) - 1;
  const int high = shift + bits;
  for (int64_t tile = blockIdx.x; tile < n_tiles; tile += gridDim.x) {
    for_tile(w.sources, n_src, tile, [&](const DevSource& s, int si, int64_t i, bool alive) {
      const Key k = alive ? dev_key<Key>(s, i) : Key(0);
      bool counted = alive;
      if constexpr (kFirst) {
        if (alive && k > Key(KeyTraits<Key>::kInf)) atomicMin(w.nan_source, static_cast<long long>(si));
      } else {
        counted = alive && (k >> high) == prefix;
      }
      const unsigned bin = static_cast<unsigned>((k >> shift) & digit_mask);
      // Weights crowd into few bins: one atomic per distinct bin of the warp.
      const unsigned voters = __ballot_sync(0xffffffffu, counted);
      if (counted) {
        const unsigned same = __match_any_sync(voters, bin);
        if ((threadIdx.x & 31) == __ffs(same) - 1) atomicAdd(&h[bin], static_cast<unsigned>(__popc(same)));
      }
    });
  }
  __syncthreads();
  for (int b = threadIdx.x; b < bins; b += blockDim.x)
    if (h[b]) atomicAdd(&w.hist[b], static_cast<unsigned long long>(h[b]));
}

template <class Key>
__global__ void __launch_bounds__(kThreads) prune_kernel(Workspace w, int n_src, int64_t n_tiles, Key threshold,
                                                         bool count_ties) {
  for (int64_t tile = blockIdx.x; tile < n_tiles; tile += gridDim.x) {
    unsigned int ties = 0;
    for_tile(w.sources, n_src, tile, [&](const DevSource& s, int si, int64_t i, bool alive) {
      const Key k = alive ? dev_key<Key>(s, i) : Key(0);
      if (i < s.n) w.out[si][i] = alive && k > threshold;
      ties += alive && k == threshold;
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
      const bool tie = i < end && (!s.mask || s.mask[i]) && dev_key<Key>(s, i) == threshold;
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
    for_tile(w.sources, n_src, tile, [&](const DevSource& s, int si, int64_t i, bool alive) {
      if (i < s.n) w.out[si][i] = alive;
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
      dev[s] = DevSource{src[s].data, src[s].mask, src[s].n, tile, src[s].dtype};
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
