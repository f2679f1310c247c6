// Exact global selection of the k-th smallest magnitude over many tensors, by radix select on the
// bit patterns of |x|: a few histogram passes over the data, each narrowing the key by one digit,
// with O(bins) extra memory and no copy of the values. The driver is host code shared by the CPU
// and CUDA backends; a backend supplies the passes over the data. Torch-free.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

namespace lf {

struct DigitPass {
  int shift, bits;
};

// |x| keys have the sign bit clear: 31 significant bits for 32-bit keys, 63 for 64-bit keys.
inline std::vector<DigitPass> digit_schedule(bool wide) {
  if (wide) return {{52, 11}, {41, 11}, {30, 11}, {20, 10}, {10, 10}, {0, 10}};
  return {{20, 11}, {10, 10}, {0, 10}};
}

struct SelectResult {
  uint64_t n_alive = 0;     // unpruned elements over all sources
  uint64_t k = 0;           // 1-based rank that was selected; 0 = nothing selected
  uint64_t key = 0;         // key of the k-th smallest magnitude
  uint64_t n_less = 0;      // unpruned elements with a smaller key
  uint64_t n_equal = 0;     // unpruned elements with this key
  int64_t nan_source = -1;  // lowest source index holding a NaN among its unpruned elements
};

// Backend requirements:
//   void histogram(const DigitPass& pass, bool first, uint64_t prefix, uint64_t* hist, int64_t* nan_source)
//     hist[d] (2^pass.bits entries, zeroed by the backend) = unpruned elements whose key has
//     (key >> (pass.shift + pass.bits)) == prefix (any key when `first`) and digit d at pass.shift;
//     when `first`, *nan_source = lowest source index with a NaN among unpruned elements, else -1.
// choose_k(n_alive) gives the 1-based rank to select, or 0 for none (the driver then stops).
template <class Backend, class ChooseK>
SelectResult radix_select(Backend& backend, bool wide, ChooseK&& choose_k) {
  SelectResult r;
  const std::vector<DigitPass> passes = digit_schedule(wide);
  std::vector<uint64_t> hist;
  uint64_t prefix = 0, k = 0;
  for (size_t p = 0; p < passes.size(); ++p) {
    const DigitPass& pass = passes[p];
    hist.assign(size_t(1) << pass.bits, 0);
    int64_t nan_source = -1;
    backend.histogram(pass, p == 0, prefix, hist.data(), &nan_source);
    if (p == 0) {
      r.nan_source = nan_source;
      for (uint64_t c : hist) r.n_alive += c;
      if (nan_source >= 0) return r;
      k = choose_k(r.n_alive);
      if (k == 0 || k > r.n_alive) return r;
      r.k = k;
    }
    uint64_t below = 0;
    uint64_t digit = 0;
    while (below + hist[digit] < k) below += hist[digit++];
    k -= below;  // rank inside the selected digit
    prefix = (prefix << pass.bits) | digit;
    if (p + 1 == passes.size()) r.n_equal = hist[digit];
  }
  r.key = prefix;
  r.n_less = r.k - k;
  return r;
}

// Backend requirements for pruning:
//   void prune_pass(uint64_t key, bool count_ties, std::vector<uint64_t>& ties_per_chunk)
//     out = alive && key(x) > threshold key, in chunks ordered by (source, index); when count_ties,
//     ties_per_chunk[c] = unpruned elements of chunk c whose key equals the threshold.
//   void restore_ties(uint64_t key, int64_t first_chunk, uint64_t skip)
//     in chunks >= first_chunk, sets out back to alive for threshold ties, except the first
//     `skip` ties of first_chunk.
// Prunes exactly r.k elements: every key below the threshold and the first (r.k - r.n_less)
// threshold ties in (source, index) order.
template <class Backend>
void prune_selected(Backend& backend, const SelectResult& r) {
  const uint64_t ties_to_prune = r.k - r.n_less;
  const bool partial_ties = ties_to_prune < r.n_equal;
  std::vector<uint64_t> ties;
  backend.prune_pass(r.key, partial_ties, ties);
  if (!partial_ties) return;
  uint64_t seen = 0;
  for (int64_t c = 0; c < static_cast<int64_t>(ties.size()); ++c) {
    if (seen + ties[c] > ties_to_prune) {
      backend.restore_ties(r.key, c, ties_to_prune - seen);
      return;
    }
    seen += ties[c];
  }
}

// Which rank to select: a fixed 1-based k, or round(fraction * n_alive) for pruning.
struct RankRequest {
  bool by_fraction = false;
  uint64_t k = 0;
  double fraction = 0.0;
  // Python's round(fraction * n_alive) (half to even) when by_fraction, else k.
  uint64_t resolve(uint64_t n_alive) const {
    if (!by_fraction) return k;
    return static_cast<uint64_t>(std::nearbyint(fraction * static_cast<double>(n_alive)));
  }
};

}  // namespace lf
