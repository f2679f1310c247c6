// SplitMix64: the small, fast generator every C++ environment pool draws from (one per
// environment, so results never depend on threads). Python replicas in the tests check streams.
#pragma once

#include <cstdint>

namespace lf {

struct SplitMix64 {
  uint64_t state;

  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

  // A double in [0, 1) from the top 53 bits (numpy's Generator.random uses the same mapping).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  // low + (high - low) * u: numpy's Generator.uniform formula.
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
};

// The seed of stream `id` of a generator family seeded `seed`.
inline uint64_t mix(uint64_t seed, uint64_t id) { return SplitMix64{seed + 0x9e3779b97f4a7c15ull * id}.next(); }

}  // namespace lf
