// mkb-fragmentation — heap fragmentation, single-threaded (--threads is accepted and ignored).
//
//   mkb-fragmentation [--threads T] [--scale S]
//
// Phase 1 fills 1 GiB x S (requested bytes) with small objects of random sizes 16..512 B.
// Phase 2 frees a random 90% of them (walking them in allocation order): the survivors pin the
// pages they sit on, leaving a heap full of holes. Phase 3 allocates larger objects, 1..8 KiB, up
// to the same total.
// An allocator that cannot reuse the holes for the larger sizes (or return the pages around
// them) ends with a peak near twice the live data. Then everything is checked and freed.
// The RSS lines (VmRSS after each phase, VmHWM = peak) are information, not part of the
// checksum, which combines the tags read back from every object in the (deterministic) order
// they are freed.
#include <algorithm>
#include <vector>

#include "common.h"

namespace {

constexpr std::size_t kSmallMin = 16;
constexpr std::size_t kSmallMax = 512;
constexpr std::size_t kLargeMin = 1024;
constexpr std::size_t kLargeMax = 8192;
constexpr std::size_t kGiB = std::size_t{1} << 30;

std::uint64_t tag_of(std::uint64_t phase, std::size_t index) {
  return mkb::mix64((phase << 56) ^ index);
}

void print_rss(const char* when) {
  std::printf("rss %s: %ld KiB\n", when, mkb::rss_kib());
}

}  // namespace

int main(int argc, char** argv) {
  mkb::Options opt = mkb::parse_args(argc, argv, "fragmentation");
  mkb::print_header(opt, /*single_threaded=*/true);
  const std::uint64_t target = mkb::scaled(static_cast<double>(kGiB), opt.scale, kSmallMax);
  mkb::Rng rng(0xf4a9, 0);
  std::uint64_t h = mkb::kFnvOffset;
  print_rss("at start");

  // Phase 1: small objects up to the target.
  std::vector<void*> small;
  std::vector<std::uint16_t> small_size;
  small.reserve(target / ((kSmallMin + kSmallMax) / 2) + 1024);
  small_size.reserve(small.capacity());
  for (std::uint64_t bytes = 0; bytes < target;) {
    std::size_t n = rng.range(kSmallMin, kSmallMax);
    void* p = mkb::xmalloc(n, "fragmentation");
    mkb::stamp(p, n, tag_of(1, small.size()));
    small.push_back(p);
    small_size.push_back(static_cast<std::uint16_t>(n));
    bytes += n;
  }
  print_rss("after filling with small objects");

  // Phase 2: free a random 90% (exactly floor(0.9 n), chosen by selection sampling), walking
  // the objects in allocation order.
  const std::size_t freed = small.size() / 10 * 9 + (small.size() % 10) * 9 / 10;
  std::size_t to_free = freed;
  for (std::size_t idx = 0; idx < small.size() && to_free > 0; ++idx) {
    if (rng.below(small.size() - idx) >= to_free) continue;
    --to_free;
    mkb::check_stamp(small[idx], small_size[idx], tag_of(1, idx), "fragmentation");
    h = mkb::combine(h, tag_of(1, idx));
    std::free(small[idx]);
    small[idx] = nullptr;
  }
  print_rss("after freeing 90%");

  // Phase 3: larger objects up to the same total.
  std::vector<void*> large;
  std::vector<std::uint16_t> large_size;
  large.reserve(target / ((kLargeMin + kLargeMax) / 2) + 1024);
  large_size.reserve(large.capacity());
  for (std::uint64_t bytes = 0; bytes < target;) {
    std::size_t n = rng.range(kLargeMin, kLargeMax);
    void* p = mkb::xmalloc(n, "fragmentation");
    mkb::stamp(p, n, tag_of(3, large.size()));
    large.push_back(p);
    large_size.push_back(static_cast<std::uint16_t>(n));
    bytes += n;
  }
  print_rss("after refilling with larger objects");
  const long peak = mkb::peak_rss_kib();

  // Check and free everything left.
  for (std::size_t idx = 0; idx < small.size(); ++idx) {
    if (small[idx] == nullptr) continue;
    mkb::check_stamp(small[idx], small_size[idx], tag_of(1, idx), "fragmentation");
    h = mkb::combine(h, tag_of(1, idx));
    std::free(small[idx]);
  }
  for (std::size_t idx = 0; idx < large.size(); ++idx) {
    mkb::check_stamp(large[idx], large_size[idx], tag_of(3, idx), "fragmentation");
    h = mkb::combine(h, tag_of(3, idx));
    std::free(large[idx]);
  }
  h = mkb::combine(h, small.size());
  h = mkb::combine(h, large.size());
  std::vector<void*>().swap(small);
  std::vector<void*>().swap(large);

  std::printf("target: %" PRIu64 " MiB per phase\n", target >> 20);
  std::printf("small objects: %zu of %zu..%zu B, %zu freed in phase 2\n", small_size.size(),
              kSmallMin, kSmallMax, freed);
  std::printf("large objects: %zu of %zu..%zu B\n", large_size.size(), kLargeMin, kLargeMax);
  std::printf("peak rss (VmHWM): %ld KiB\n", peak);
  print_rss("final, after freeing everything");
  mkb::print_rss_after_idle(opt);
  mkb::print_checksum(h);
  return 0;
}
