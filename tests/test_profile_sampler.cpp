// The heap profiler's sampling decision and estimates (src/profile/sampler.h): its own ln and
// exp (libmemkit.so has no libm), and the statistics of byte sampling with fixed seeds: the
// estimates are unbiased (the mean error over many seeds tends to 0) and their spread is the
// sampling's standard error, sqrt(sum of s^2 (1/p(s) - 1)) ~ sqrt(mean_gap * bytes) for blocks
// much smaller than the gap.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "profile/sampler.h"

namespace memkit::profile {
namespace {

TEST(ProfileSampler, LnMatchesLibm) {
  for (double x : {1e-300, 1e-16, 1e-9, 0.001, 0.3, 0.5, 0.7071, 0.99999, 1.0, 1.5, 2.0, 3.14159, 1e6, 1e300}) {
    EXPECT_NEAR(ln(x), std::log(x), 1e-12 * std::max(1.0, std::fabs(std::log(x)))) << x;
  }
}

TEST(ProfileSampler, ExpNegMatchesLibm) {
  for (double x : {0.0, 1e-9, 0.001, 0.5, 0.69314, 1.0, 2.5, 10.0, 40.0, 300.0, 700.0}) {
    EXPECT_NEAR(exp_neg(x) / std::exp(-x), 1.0, 1e-12) << x;
  }
  EXPECT_EQ(exp_neg(800.0), 0.0);
}

TEST(ProfileSampler, GapsAreExponential) {
  uint64_t state = 12345;
  const uint64_t mean = 16384;
  const int n = 200000;
  double sum = 0, sum2 = 0;
  int below_mean = 0;
  for (int i = 0; i < n; ++i) {
    const double g = static_cast<double>(next_gap(mean, &state));
    sum += g;
    sum2 += g * g;
    below_mean += g < mean;
  }
  const double m = sum / n;
  // Exp(mean): mean and standard deviation both `mean`; P(gap < mean) = 1 - 1/e.
  EXPECT_NEAR(m / mean, 1.0, 0.01);
  EXPECT_NEAR(std::sqrt(sum2 / n - m * m) / mean, 1.0, 0.02);
  EXPECT_NEAR(static_cast<double>(below_mean) / n, 1 - std::exp(-1.0), 0.005);
}

TEST(ProfileSampler, EveryAllocationAtMeanOne) {
  Sampler s;
  s.start(1, 7);
  for (uint64_t size : {1u, 16u, 64u, 4096u, 1u << 20})
    EXPECT_TRUE(s.take(size)) << size;
  EXPECT_EQ(inverse_probability(64, 1), 1.0);
}

// One run: a stream of allocations of the given sizes (repeated `rounds` times), each sampled
// or not; returns the estimated bytes and objects.
struct Estimate {
  double bytes = 0, objects = 0;
};
Estimate run(const std::vector<uint64_t>& sizes, int rounds, uint64_t mean, uint64_t seed) {
  Sampler s;
  s.start(mean, seed);
  Estimate e;
  for (int r = 0; r < rounds; ++r)
    for (uint64_t size : sizes)
      if (s.take(size)) {
        const double w = inverse_probability(size, mean);
        e.bytes += w * static_cast<double>(size);
        e.objects += w;
      }
  return e;
}

void check_unbiased(const std::vector<uint64_t>& sizes, int rounds, uint64_t mean) {
  double truth = 0, variance = 0;
  for (uint64_t size : sizes) {
    const double p = 1 - std::exp(-static_cast<double>(size) / static_cast<double>(mean));
    truth += static_cast<double>(size);
    variance += static_cast<double>(size) * static_cast<double>(size) * (1 / p - 1);
  }
  truth *= rounds;
  variance *= rounds;
  const double sigma = std::sqrt(variance);
  const int seeds = 400;
  double sum = 0, sum2 = 0;
  for (int k = 0; k < seeds; ++k) {
    const double err = run(sizes, rounds, mean, 0x1234567ull + 7919ull * k).bytes - truth;
    sum += err;
    sum2 += err * err;
  }
  const double mean_err = sum / seeds;
  const double spread = std::sqrt(sum2 / seeds - mean_err * mean_err);
  // Unbiased: the mean error is within 4 standard errors of the mean (sigma / sqrt(seeds)).
  EXPECT_LT(std::fabs(mean_err), 4 * sigma / std::sqrt(seeds))
      << "mean error " << mean_err << " of " << truth << " bytes, sigma " << sigma;
  // The spread is the sampling's standard error (the sample deviation of 400 runs: +-10 %).
  EXPECT_NEAR(spread / sigma, 1.0, 0.12) << "spread " << spread << " sigma " << sigma;
}

TEST(ProfileSampler, UnbiasedSmallBlocks) { check_unbiased({64}, 100000, 16384); }
TEST(ProfileSampler, UnbiasedPageBlocks) { check_unbiased({4096}, 4000, 16384); }
TEST(ProfileSampler, UnbiasedLargeBlocks) { check_unbiased({40000}, 400, 16384); }
TEST(ProfileSampler, UnbiasedMixedSizes) { check_unbiased({16, 100, 4096, 70000, 24}, 5000, 65536); }

TEST(ProfileSampler, SpreadIsSqrtOfGapTimesBytes) {
  // For blocks much smaller than the gap, s^2 (1/p - 1) ~ s * mean: sigma ~ sqrt(mean * bytes).
  const uint64_t mean = 1 << 20;
  const double bytes = 64.0 * 200000;
  double sum2 = 0;
  const int seeds = 300;
  for (int k = 0; k < seeds; ++k) {
    const double err = run({64}, 200000, mean, 99 + 31ull * k).bytes - bytes;
    sum2 += err * err;
  }
  EXPECT_NEAR(std::sqrt(sum2 / seeds) / std::sqrt(mean * bytes), 1.0, 0.15);
}

TEST(ProfileSampler, MeanErrorShrinksWithMoreBytes) {
  // The relative error of one run falls as 1/sqrt(bytes): 100x the bytes, a tenth the error.
  auto rms = [](int rounds) {
    double sum2 = 0;
    for (int k = 0; k < 200; ++k) {
      const double truth = 64.0 * rounds;
      const double err = (run({64}, rounds, 16384, 5 + 13ull * k).bytes - truth) / truth;
      sum2 += err * err;
    }
    return std::sqrt(sum2 / 200);
  };
  const double small = rms(10000), large = rms(1000000);
  EXPECT_NEAR(small / large, 10.0, 2.0);
}

}  // namespace
}  // namespace memkit::profile
