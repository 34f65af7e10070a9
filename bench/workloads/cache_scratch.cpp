// mkb-cache_scratch — allocator-induced false sharing, after Hoard's cache-scratch and
// cache-thrash benchmarks (Berger et al.).
//
//   mkb-cache_scratch [--threads T] [--scale S]
//
// Small objects, 8..64 B, written hard (every byte read-modify-written 16 times through a volatile
// pointer) in tight loops. Passive false sharing (cache-scratch): the main thread first allocates
// 16 objects per thread, interleaved, and hands each thread its share to free; then, every round,
// each thread allocates 16 objects, writes them and hands them to its neighbour (thread i+1 mod T),
// which writes them again and frees them. Active false sharing (cache-thrash): between handoffs
// each thread runs malloc / write hard / read back / free loops. An allocator that gives two
// threads objects from one cache line turns those writes into cache-line ping-pong.
// Work: max(2, 1000 x S) rounds; 1,600,000 x S thrash iterations in all, split evenly over the
// threads and rounds. The checksum combines, per thread in index order, the bytes it read back.
#include <algorithm>
#include <barrier>
#include <thread>
#include <vector>

#include "common.h"

namespace {

constexpr std::size_t kMinSize = 8;
constexpr std::size_t kMaxSize = 64;
constexpr unsigned kReps = 16;           // read-modify-writes of every byte per "write hard"
constexpr std::size_t kPerHandoff = 16;  // objects handed to the neighbour per round

struct Obj {
  unsigned char* p = nullptr;
  std::uint32_t size = 0;
  std::uint8_t base = 0;  // byte j holds base + j + (number of increments so far)
};

Obj make(mkb::Rng& rng, const char* who) {
  Obj o;
  o.size = static_cast<std::uint32_t>(rng.range(kMinSize, kMaxSize));
  o.base = static_cast<std::uint8_t>(rng.next() >> 56);
  o.p = static_cast<unsigned char*>(mkb::xmalloc(o.size, who));
  for (std::uint32_t j = 0; j < o.size; ++j) o.p[j] = static_cast<unsigned char>(o.base + j);
  mkb::escape(o.p);
  return o;
}

// kReps increments of every byte, each a separate volatile load and store.
void write_hard(const Obj& o) {
  volatile unsigned char* v = o.p;
  for (unsigned r = 0; r < kReps; ++r)
    for (std::uint32_t j = 0; j < o.size; ++j) v[j] = static_cast<unsigned char>(v[j] + 1);
}

// Checks that every byte went through `increments` increments; returns the FNV-1a of the bytes.
std::uint64_t read_back(const Obj& o, unsigned increments, const char* who) {
  mkb::escape(o.p);
  for (std::uint32_t j = 0; j < o.size; ++j)
    if (o.p[j] != static_cast<unsigned char>(o.base + j + increments))
      mkb::fail("%s: byte %u of a %u-byte object read back wrong", who, j, o.size);
  return mkb::fnv1a(mkb::kFnvOffset, o.p, o.size);
}

}  // namespace

int main(int argc, char** argv) {
  mkb::Options opt = mkb::parse_args(argc, argv, "cache_scratch");
  const unsigned threads = opt.threads;
  const std::uint64_t rounds = mkb::scaled(1000, opt.scale, 2);
  const std::uint64_t total_thrash = mkb::scaled(1'600'000, opt.scale, 1);
  const std::uint64_t thrash_per_round = std::max<std::uint64_t>(1, total_thrash / (threads * rounds));

  // Passive false sharing: objects allocated together by the main thread, freed by the workers.
  std::vector<std::vector<Obj>> initial(threads);
  {
    mkb::Rng rng(0xcac4e, 0);
    for (std::size_t k = 0; k < kPerHandoff * threads; ++k)
      initial[k % threads].push_back(make(rng, "cache_scratch main"));
  }

  // handoff[r % 2][i]: the objects thread i allocated in round r, for thread i + 1 to free.
  std::vector<std::vector<Obj>> handoff[2];
  for (auto& h : handoff) h.assign(threads, std::vector<Obj>(kPerHandoff));
  std::vector<std::uint64_t> hashes(threads, 0);
  std::barrier sync(static_cast<std::ptrdiff_t>(threads));

  auto worker = [&](unsigned i) {
    const char* who = "cache_scratch worker";
    mkb::Rng rng(0xcac4e, 1 + i);
    std::uint64_t h = 0;
    for (Obj& o : initial[i]) {
      write_hard(o);
      h = mkb::combine(h, read_back(o, kReps, who));
      std::free(o.p);
    }
    for (std::uint64_t r = 0; r < rounds; ++r) {
      std::vector<Obj>& mine = handoff[r % 2][i];
      for (Obj& o : mine) {
        o = make(rng, who);
        write_hard(o);
      }
      for (std::uint64_t k = 0; k < thrash_per_round; ++k) {
        Obj o = make(rng, who);
        write_hard(o);
        h = mkb::combine(h, read_back(o, kReps, who));
        std::free(o.p);
      }
      sync.arrive_and_wait();
      for (Obj& o : handoff[r % 2][(i + 1) % threads]) {
        write_hard(o);
        h = mkb::combine(h, read_back(o, 2 * kReps, who));
        std::free(o.p);
        o.p = nullptr;
      }
    }
    hashes[i] = h;
  };

  std::vector<std::thread> workers;
  for (unsigned i = 0; i < threads; ++i) workers.emplace_back(worker, i);
  for (std::thread& w : workers) w.join();

  std::uint64_t h = mkb::kFnvOffset;
  for (std::uint64_t x : hashes) h = mkb::combine(h, x);

  mkb::print_header(opt);
  std::printf("objects: %zu..%zu B, each byte written %u times per pass\n", kMinSize, kMaxSize,
              kReps);
  std::printf("rounds: %" PRIu64 ", handoffs: %" PRIu64 ", thrash iterations: %" PRIu64 "\n",
              rounds, rounds * threads * kPerHandoff, rounds * threads * thrash_per_round);
  mkb::print_checksum(h);
  return 0;
}
