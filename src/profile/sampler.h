// memkit — the heap profiler's sampling decision and estimates (src/profile/sampler.h)
//
// Sampling by bytes, as jemalloc and tcmalloc do: the allocated bytes of a thread are a line,
// and points are dropped on it by a Poisson process of mean gap `mean` bytes (the option
// profile_sample). An allocation of size s is sampled when at least one point falls in its s
// bytes, which happens with probability p(s) = 1 - e^(-s/mean); so counting a sampled
// allocation as s / p(s) bytes and 1 / p(s) objects gives unbiased estimates of every total,
// whatever the sizes. The process is kept as one countdown per thread: the bytes left to the
// next point. malloc subtracts its size and takes the slow path when the countdown goes
// negative; the slow path draws the next gap, Exp(mean) = -mean * ln(U), U uniform in (0, 1].
//
// mean == 1 is "every allocation": the gap is 0 and the weights are exact (s bytes, 1 object).
// No libm (libmemkit.so links libc only): ln and exp are computed here, to ~1e-9 relative.
#pragma once

#include <stdint.h>

namespace memkit::profile {

/// ln(x) for x > 0: x = m * 2^e with m in [sqrt(1/2), sqrt(2)), ln(m) = 2 atanh((m-1)/(m+1))
/// by its series (|z| < 0.172: 9 terms reach 1e-15).
inline double ln(double x) {
  uint64_t bits;
  __builtin_memcpy(&bits, &x, sizeof bits);
  int e = static_cast<int>((bits >> 52) & 0x7ff) - 1023;
  bits = (bits & ((uint64_t{1} << 52) - 1)) | (uint64_t{1023} << 52);  // m in [1, 2)
  double m;
  __builtin_memcpy(&m, &bits, sizeof m);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    ++e;
  }
  const double z = (m - 1) / (m + 1);
  const double z2 = z * z;
  double sum = 0;
  for (int k = 17; k >= 1; k -= 2) sum = sum * z2 + 1.0 / k;
  return 2 * z * sum + e * 0.6931471805599453;
}

/// e^(-x) for x >= 0: e^-x = 2^-k * e^-r with r = x - k ln 2 in [0, ln 2), e^-r by its Taylor
/// series (13 terms: < 1e-14).
inline double exp_neg(double x) {
  if (x > 700) return 0;
  const int k = static_cast<int>(x / 0.6931471805599453);
  const double r = x - k * 0.6931471805599453;
  double term = 1, sum = 1;
  for (int i = 1; i <= 13; ++i) {
    term *= -r / i;
    sum += term;
  }
  uint64_t bits = static_cast<uint64_t>(1023 - k) << 52;  // 2^-k (k <= 1010)
  double scale;
  __builtin_memcpy(&scale, &bits, sizeof scale);
  return sum * scale;
}

/// xorshift64*: a fast per-thread generator (state never 0).
inline uint64_t next_random(uint64_t* state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545f4914f6cdd1dull;
}

/// The next gap in bytes for a mean gap of `mean` (>= 1): Exp(mean), 0 when mean == 1.
inline int64_t next_gap(uint64_t mean, uint64_t* state) {
  if (mean <= 1) return 0;
  // U in (0, 1]: 53 random bits, plus one so that ln never sees 0.
  const double u = static_cast<double>((next_random(state) >> 11) + 1) * (1.0 / 9007199254740992.0);
  const double gap = -static_cast<double>(mean) * ln(u);
  return gap >= 9.0e18 ? INT64_MAX : static_cast<int64_t>(gap);
}

/// 1 / p(size): what one sampled allocation of `size` bytes stands for (in allocations).
inline double inverse_probability(uint64_t size, uint64_t mean) {
  if (mean <= 1) return 1;
  if (size == 0) size = 1;
  const double p = 1 - exp_neg(static_cast<double>(size) / static_cast<double>(mean));
  return p > 0 ? 1 / p : 1;
}

/// One thread's sampler as the tests drive it: the countdown and the generator. The library
/// keeps the same two words in initial-exec TLS (profile.h).
struct Sampler {
  int64_t left = 0;
  uint64_t state = 0x9e3779b97f4a7c15ull;
  uint64_t mean = 0;
  /// Starts the countdown with a first gap (a countdown starting at 0 would sample the first
  /// allocation always: a bias).
  void start(uint64_t mean_bytes, uint64_t seed) {
    mean = mean_bytes;
    state = seed != 0 ? seed : 0x9e3779b97f4a7c15ull;
    left = next_gap(mean, &state);
  }
  /// Whether an allocation of size bytes is sampled; draws the next gap when it is.
  bool take(uint64_t size) {
    left -= static_cast<int64_t>(size);
    if (left >= 0) return false;
    left = next_gap(mean, &state);
    return true;
  }
};

}  // namespace memkit::profile
