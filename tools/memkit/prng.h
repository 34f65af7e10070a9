// memkit CLI — a seeded PRNG with a portable output (tools/memkit/prng.h)
//
// The simulators must print the same thing for the same seed on every machine and standard
// library, so they cannot use std::uniform_int_distribution (its algorithm is implementation-
// defined). This is xoshiro256** (Blackman & Vigna), seeded through splitmix64, with Lemire's
// multiply-and-reject for unbiased bounded draws.
#pragma once

#include <cstdint>

namespace memkit::cli {

class Prng {
 public:
  explicit Prng(uint64_t seed) {
    for (uint64_t& word : s_) word = splitmix64(&seed);
  }

  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  /// Uniform in [0, n); n > 0.
  uint64_t below(uint64_t n) {
    unsigned __int128 m = static_cast<unsigned __int128>(next()) * n;
    if (static_cast<uint64_t>(m) < n) {
      const uint64_t threshold = -n % n;  // 2^64 mod n
      while (static_cast<uint64_t>(m) < threshold) m = static_cast<unsigned __int128>(next()) * n;
    }
    return static_cast<uint64_t>(m >> 64);
  }

 private:
  static uint64_t splitmix64(uint64_t* state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  uint64_t s_[4];
};

}  // namespace memkit::cli
