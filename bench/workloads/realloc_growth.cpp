// mkb-realloc_growth — strings and arrays built by repeated realloc.
//
//   mkb-realloc_growth [--threads T] [--scale S]
//
// Each thread, on its own, keeps 8 strings and 4 arrays growing at once (interleaved, so a block
// cannot always grow in place). A string starts as realloc(NULL, n) and grows by 1..16 bytes per
// step, each step a realloc to the exact new length, up to a target of 16 B..16 KiB (log-uniform);
// then it is checked in full and freed. An array of 8-byte elements grows by 1..32 elements per
// step and doubles its capacity (realloc) when full, from 4 elements up to a target of 16..64K
// elements; then it is shrunk to its length (realloc), checked in full and freed. Stresses
// realloc's in-place growth, its move-and-copy path, shrinking, and the size classes a growing
// block walks through.
// Work: 10,000,000 x S growth steps in all (three string steps for every array step), split
// evenly over the threads. The checksum combines, per thread in index order, the hashes of the
// finished strings and arrays read back.
#include <algorithm>
#include <thread>
#include <vector>

#include "common.h"

namespace {

constexpr std::size_t kStrings = 8;
constexpr std::size_t kArrays = 4;
constexpr std::uint64_t kElementStep = 0x9e3779b97f4a7c15ull;

struct String {
  unsigned char* p = nullptr;
  std::size_t len = 0;
  std::size_t target = 0;
  std::uint64_t seed = 0;  // byte k holds string_byte(seed, k)
};

unsigned char string_byte(std::uint64_t seed, std::size_t k) {
  return static_cast<unsigned char>((seed >> (8 * (k & 7))) ^ (k * 0x9d) ^ (k >> 8));
}

struct Array {
  std::uint64_t* p = nullptr;
  std::size_t len = 0;
  std::size_t cap = 0;
  std::size_t target = 0;
  std::uint64_t tag = 0;  // element k holds tag + k * kElementStep
};

struct alignas(64) Worker {  // a line each: the threads must not share one
  unsigned index = 0;
  mkb::Rng rng{0};
  std::uint64_t hash = 0;
  std::uint64_t strings_done = 0;
  std::uint64_t arrays_done = 0;
  std::uint64_t reallocs = 0;

  void start(String& s) {
    s = String{};
    s.target = std::size_t{16} << rng.below(10);  // 16 B .. 8 KiB
    s.target += rng.below(s.target + 1);          // .. 16 KiB
    s.seed = rng.next();
  }

  // Checks all of s; returns the FNV-1a of its bytes.
  std::uint64_t check(const String& s, const char* what) {
    mkb::escape(s.p);
    for (std::size_t k = 0; k < s.len; ++k)
      if (s.p[k] != string_byte(s.seed, k))
        mkb::fail("realloc_growth: %s string of %zu bytes: byte %zu read back wrong", what, s.len,
                  k);
    return mkb::fnv1a(mkb::kFnvOffset, s.p, s.len);
  }

  void step(String& s) {
    std::size_t add = std::min<std::size_t>(rng.range(1, 16), s.target - s.len);
    s.p = static_cast<unsigned char*>(mkb::xrealloc(s.p, s.len + add, "realloc_growth string"));
    ++reallocs;
    if (s.len > 0 && (s.p[0] != string_byte(s.seed, 0) ||
                      s.p[s.len - 1] != string_byte(s.seed, s.len - 1)))
      mkb::fail("realloc_growth: string of %zu bytes: contents lost in realloc", s.len);
    for (std::size_t k = 0; k < add; ++k) s.p[s.len + k] = string_byte(s.seed, s.len + k);
    s.len += add;
    mkb::escape(s.p);
    if (s.len == s.target) {
      hash = mkb::combine(hash, check(s, "finished"));
      std::free(s.p);
      ++strings_done;
      start(s);
    }
  }

  void start(Array& a) {
    a = Array{};
    a.target = std::size_t{16} << rng.below(12);  // 16 .. 32K elements
    a.target += rng.below(a.target + 1);          // .. 64K
    a.tag = rng.next();
  }

  void step(Array& a) {
    std::size_t add = std::min<std::size_t>(rng.range(1, 32), a.target - a.len);
    for (std::size_t k = 0; k < add; ++k) {
      if (a.len == a.cap) {
        a.cap = a.cap == 0 ? 4 : 2 * a.cap;
        a.p = static_cast<std::uint64_t*>(
            mkb::xrealloc(a.p, a.cap * sizeof(std::uint64_t), "realloc_growth array"));
        ++reallocs;
        if (a.len > 0 && a.p[a.len - 1] != a.tag + (a.len - 1) * kElementStep)
          mkb::fail("realloc_growth: array of %zu elements: last element lost in realloc", a.len);
      }
      a.p[a.len] = a.tag + a.len * kElementStep;
      ++a.len;
    }
    mkb::escape(a.p);
    if (a.len == a.target) {
      if (a.len < a.cap) {
        a.p = static_cast<std::uint64_t*>(
            mkb::xrealloc(a.p, a.len * sizeof(std::uint64_t), "realloc_growth array"));
        ++reallocs;
      }
      mkb::escape(a.p);
      std::uint64_t h = 0;
      for (std::size_t k = 0; k < a.len; ++k) {
        if (a.p[k] != a.tag + k * kElementStep)
          mkb::fail("realloc_growth: array of %zu elements: element %zu read back wrong", a.len, k);
        h = h * 31 + a.p[k];
      }
      hash = mkb::combine(hash, h);
      std::free(a.p);
      ++arrays_done;
      start(a);
    }
  }

  void run(std::uint64_t steps) {
    std::vector<String> strings(kStrings);
    std::vector<Array> arrays(kArrays);
    for (String& s : strings) start(s);
    for (Array& a : arrays) start(a);
    for (std::uint64_t i = 0; i < steps; ++i) {
      if (rng.below(4) != 0)
        step(strings[rng.below(kStrings)]);
      else
        step(arrays[rng.below(kArrays)]);
    }
    // Unfinished ones: hash what was built, then free.
    for (String& s : strings) {
      hash = mkb::combine(hash, check(s, "unfinished"));
      std::free(s.p);
    }
    for (Array& a : arrays) {
      for (std::size_t k = 0; k < a.len; ++k)
        if (a.p[k] != a.tag + k * kElementStep)
          mkb::fail("realloc_growth: unfinished array: element %zu read back wrong", k);
      hash = mkb::combine(hash, a.len);
      std::free(a.p);
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  mkb::Options opt = mkb::parse_args(argc, argv, "realloc_growth");
  const unsigned threads = opt.threads;
  const std::uint64_t steps = std::max<std::uint64_t>(1, mkb::scaled(10'000'000, opt.scale) / threads);

  std::vector<Worker> workers(threads);
  std::vector<std::thread> running;
  for (unsigned i = 0; i < threads; ++i) {
    workers[i].index = i;
    workers[i].rng = mkb::Rng(0x6ea110c, i);
    running.emplace_back([&w = workers[i], steps] { w.run(steps); });
  }
  for (std::thread& t : running) t.join();
  std::uint64_t h = mkb::kFnvOffset;
  std::uint64_t strings = 0, arrays = 0, reallocs = 0;
  for (const Worker& w : workers) {
    h = mkb::combine(h, w.hash);
    strings += w.strings_done;
    arrays += w.arrays_done;
    reallocs += w.reallocs;
  }

  mkb::print_header(opt);
  std::printf("growth steps: %" PRIu64 ", reallocs: %" PRIu64 "\n", steps * threads, reallocs);
  std::printf("finished: %" PRIu64 " strings (16 B..16 KiB), %" PRIu64
              " arrays (16..64K elements)\n",
              strings, arrays);
  mkb::print_checksum(h);
  return 0;
}
