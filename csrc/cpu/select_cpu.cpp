// CPU passes of the radix select: OpenMP over fixed-size chunks of every source, per-thread
// histograms merged at the end of each pass.
#include "select_cpu.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "../common/numeric.h"
#include "select_simd.h"
#include "step_cpu.h"

namespace lf {
namespace {

constexpr int64_t kChunk = 256 * 1024;  // elements; also the granularity of tie counting

struct Chunk {
  int64_t src, begin, end;
};

std::vector<Chunk> make_chunks(const SelectSource* src, int64_t n_src) {
  std::vector<Chunk> chunks;
  for (int64_t s = 0; s < n_src; ++s)
    for (int64_t b = 0; b < src[s].n; b += kChunk) chunks.push_back({s, b, std::min(b + kChunk, src[s].n)});
  return chunks;
}

bool needs_wide_keys(const SelectSource* src, int64_t n_src) {
  for (int64_t s = 0; s < n_src; ++s)
    if (src[s].dtype == DType::F64 && src[s].n > 0) return true;
  return false;
}

template <class Key, DType D>
inline Key key_at(const void* data, int64_t i) {
  if constexpr (D == DType::F32) return KeyTraits<Key>::from_f32(static_cast<const float*>(data)[i]);
  if constexpr (D == DType::F16) return KeyTraits<Key>::from_f16(static_cast<const uint16_t*>(data)[i]);
  if constexpr (D == DType::BF16) return KeyTraits<Key>::from_bf16(static_cast<const uint16_t*>(data)[i]);
  if constexpr (D == DType::F64) return KeyTraits<Key>::from_f64(static_cast<const double*>(data)[i]);
}

template <class Key>
class CpuBackend {
 public:
  CpuBackend(const SelectSource* src, int64_t n_src, uint8_t* const* out)
      : src_(src), out_(out), chunks_(make_chunks(src, n_src)) {}

  void histogram(const DigitPass& pass, bool first, uint64_t prefix, uint64_t* hist, int64_t* nan_source) {
    const int64_t bins = int64_t(1) << pass.bits;
    const int n_threads = omp_get_max_threads();
    std::vector<uint64_t> local(static_cast<size_t>(n_threads) * bins, 0);
    std::vector<int64_t> nan_src(n_threads, -1);
    const int64_t n_chunks = static_cast<int64_t>(chunks_.size());
#pragma omp parallel num_threads(n_threads)
    {
      const int tid = omp_get_thread_num();
      uint64_t* h = local.data() + static_cast<size_t>(tid) * bins;
#pragma omp for schedule(dynamic, 4)
      for (int64_t c = 0; c < n_chunks; ++c) {
        const Chunk& ch = chunks_[c];
        const SelectSource& s = src_[ch.src];
        visit_dtype<true>(s.dtype, [&]<DType D>() {
          const bool nan = first ? hist_chunk<D, true>(s, ch, pass, Key(prefix), h)
                                 : hist_chunk<D, false>(s, ch, pass, Key(prefix), h);
          if (nan && (nan_src[tid] < 0 || ch.src < nan_src[tid])) nan_src[tid] = ch.src;
        });
      }
    }
    *nan_source = -1;
    for (int t = 0; t < n_threads; ++t) {
      for (int64_t b = 0; b < bins; ++b) hist[b] += local[static_cast<size_t>(t) * bins + b];
      if (nan_src[t] >= 0 && (*nan_source < 0 || nan_src[t] < *nan_source)) *nan_source = nan_src[t];
    }
  }

  void prune_pass(uint64_t key, bool count_ties, std::vector<uint64_t>& ties) {
    ties.assign(chunks_.size(), 0);
    const int64_t n_chunks = static_cast<int64_t>(chunks_.size());
#pragma omp parallel for schedule(dynamic, 4)
    for (int64_t c = 0; c < n_chunks; ++c) {
      const Chunk& ch = chunks_[c];
      const SelectSource& s = src_[ch.src];
      uint8_t* out = out_[ch.src];
      uint64_t n_ties = 0;
      if (sizeof(Key) == 4 && s.dtype == DType::F32 && active_cpu_isa() == CpuIsa::Avx512) {
        n_ties = avx512_prune_f32(static_cast<const float*>(s.data) + ch.begin, s.mask ? s.mask + ch.begin : nullptr,
                                  ch.end - ch.begin, static_cast<uint32_t>(key), out + ch.begin);
        if (count_ties) ties[c] = n_ties;
        continue;
      }
      visit_dtype<true>(s.dtype, [&]<DType D>() {
        for (int64_t i = ch.begin; i < ch.end; ++i) {
          const Key k = key_at<Key, D>(s.data, i);
          const bool alive = !s.mask || s.mask[i];
          out[i] = alive && k > Key(key);
          n_ties += alive && k == Key(key);
        }
      });
      if (count_ties) ties[c] = n_ties;
    }
  }

  void restore_ties(uint64_t key, int64_t first_chunk, uint64_t skip) {
    const int64_t n_chunks = static_cast<int64_t>(chunks_.size());
#pragma omp parallel for schedule(dynamic, 4)
    for (int64_t c = first_chunk; c < n_chunks; ++c) {
      const Chunk& ch = chunks_[c];
      const SelectSource& s = src_[ch.src];
      uint8_t* out = out_[ch.src];
      uint64_t to_skip = c == first_chunk ? skip : 0;
      visit_dtype<true>(s.dtype, [&]<DType D>() {
        for (int64_t i = ch.begin; i < ch.end; ++i) {
          if ((s.mask && !s.mask[i]) || key_at<Key, D>(s.data, i) != Key(key)) continue;
          if (to_skip > 0) {
            --to_skip;
          } else {
            out[i] = 1;
          }
        }
      });
    }
  }

 private:
  // Returns whether the chunk holds a NaN among its unpruned elements (checked on the first pass).
  // Written without data-dependent branches so that the compiler vectorizes the key and filter
  // arithmetic: a random mask would otherwise mispredict on every fifth element.
  template <DType D, bool kFirst>
  static bool hist_chunk(const SelectSource& s, const Chunk& ch, const DigitPass& pass, Key prefix, uint64_t* h) {
    constexpr int64_t kBlock = 256;
    const int shift = pass.shift;
    const Key digit_mask = (Key(1) << pass.bits) - 1;
    const int high = pass.shift + pass.bits;
    const int64_t bins = int64_t(1) << pass.bits;
    // Four interleaved sub-histograms: runs of equal digits (weights crowd into few bins) would
    // otherwise chain every increment on the previous one through memory.
    uint32_t sub[4][2048];
    std::memset(sub, 0, sizeof(sub));  // bins <= 2048 (digits of at most 11 bits)
    Key keys[kBlock];
    uint8_t take[kBlock];
    Key worst = 0;
    if constexpr (D == DType::F32 && sizeof(Key) == 4) {
      if (active_cpu_isa() == CpuIsa::Avx512) {
        const float* x = static_cast<const float*>(s.data) + ch.begin;
        worst = avx512_hist_f32(x, s.mask ? s.mask + ch.begin : nullptr, ch.end - ch.begin, kFirst, shift, pass.bits,
                                static_cast<uint32_t>(prefix), sub);
        for (int64_t d = 0; d < bins; ++d) h[d] += uint64_t(sub[0][d]) + sub[1][d] + sub[2][d] + sub[3][d];
        return kFirst && worst > Key(KeyTraits<Key>::kInf);
      }
    }
    for (int64_t b = ch.begin; b < ch.end; b += kBlock) {
      const int64_t n = std::min(kBlock, ch.end - b);
      for (int64_t j = 0; j < n; ++j) {
        const Key k = key_at<Key, D>(s.data, b + j);
        const uint8_t alive = s.mask ? s.mask[b + j] : uint8_t(1);
        keys[j] = k;
        if constexpr (kFirst) {
          take[j] = alive;
          worst = std::max(worst, alive ? k : Key(0));
        } else {
          take[j] = alive & uint8_t((k >> high) == prefix);
        }
      }
      if constexpr (kFirst) {
        for (int64_t j = 0; j < n; ++j) sub[j & 3][keys[j] >> shift] += take[j];
      } else {
        uint8_t any = 0;
        for (int64_t j = 0; j < n; ++j) any |= take[j];
        if (!any) continue;
        for (int64_t j = 0; j < n; ++j)
          if (take[j]) ++sub[0][(keys[j] >> shift) & digit_mask];
      }
    }
    for (int64_t d = 0; d < bins; ++d) h[d] += uint64_t(sub[0][d]) + sub[1][d] + sub[2][d] + sub[3][d];
    return kFirst && worst > Key(KeyTraits<Key>::kInf);
  }

  const SelectSource* src_;
  uint8_t* const* out_;
  std::vector<Chunk> chunks_;
};

template <class Fn>
void with_backend(const SelectSource* src, int64_t n_src, uint8_t* const* out, Fn&& fn) {
  if (needs_wide_keys(src, n_src)) {
    CpuBackend<uint64_t> be(src, n_src, out);
    fn(be, true);
  } else {
    CpuBackend<uint32_t> be(src, n_src, out);
    fn(be, false);
  }
}

}  // namespace

SelectResult select_kth_cpu(const SelectSource* src, int64_t n_src, const RankRequest& rank) {
  SelectResult r;
  with_backend(src, n_src, nullptr, [&](auto& be, bool wide) {
    r = radix_select(be, wide, [&](uint64_t n_alive) { return rank.resolve(n_alive); });
  });
  return r;
}

void prune_cpu(const SelectSource* src, int64_t n_src, const SelectResult& r, uint8_t* const* out) {
  if (r.k == 0) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t s = 0; s < n_src; ++s) {
      if (src[s].mask) {
        std::memcpy(out[s], src[s].mask, static_cast<size_t>(src[s].n));
      } else {
        std::memset(out[s], 1, static_cast<size_t>(src[s].n));
      }
    }
    return;
  }
  with_backend(src, n_src, out, [&](auto& be, bool) { prune_selected(be, r); });
}

}  // namespace lf
