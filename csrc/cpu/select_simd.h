// AVX-512 loops of the radix select for float32 sources (select_avx512.cpp), used by
// select_cpu.cpp when the active CPU ISA is AVX-512. Torch-free.
#pragma once
#include <cstdint>

namespace lf {

// Adds the digits of the unpruned keys |x| of x[0..n) to four interleaved histograms `sub`.
// first: every key counts, digit = key >> shift. Later passes: keys with
// key >> (shift + bits) == prefix count, digit = (key >> shift) & (2^bits - 1).
// Returns the largest counted key on the first pass (NaN detection), else 0.
uint32_t avx512_hist_f32(const float* x, const uint8_t* mask, int64_t n, bool first, int shift, int bits,
                         uint32_t prefix, uint32_t (*sub)[2048]);

// out[i] = unpruned and key(x[i]) > threshold; returns the number of unpruned keys == threshold.
uint64_t avx512_prune_f32(const float* x, const uint8_t* mask, int64_t n, uint32_t threshold, uint8_t* out);

}  // namespace lf
