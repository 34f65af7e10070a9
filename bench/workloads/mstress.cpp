// mkb-mstress — mixed lifetimes and migrating objects, after mimalloc-bench's mstress.
//
//   mkb-mstress [--threads T] [--scale S]
//
// T lineages of threads; each lineage runs G = max(2, 20 x S) threads one after the other, each
// started by its predecessor as that one exits. Objects have power-of-two sizes 16 B..64 KiB
// (three quarters 16..128 B, a quarter uniform over all thirteen sizes) and three lifetimes:
// short (a 16-slot ring per thread, most operations), long (a 512-slot set per lineage: a thread
// exits with it full of live objects, and its successor goes on replacing, so freeing, them) and
// shared (a 4096-slot array under one mutex: a thread swaps a new object in and frees the one it
// takes out, usually allocated by another thread). Stresses remote frees, memory of exited
// threads, size-class spread and a contended lock around it all.
// Work: 12,000,000 x S operations in all, split evenly over the T x G threads. The checksum
// combines the lineages' ordered hashes (index order) with the sum of the tags read back from
// the shared array (a sum, since who frees what there depends on timing; it must equal the sum
// of the tags put in, else exit 1).
#include <algorithm>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common.h"

namespace {

constexpr std::size_t kRing = 16;
constexpr std::size_t kLocal = 512;
constexpr std::size_t kShared = 4096;
constexpr std::size_t kMinSize = 16;
constexpr std::size_t kMaxSize = std::size_t{64} << 10;

struct alignas(64) Lineage {  // a line each: the threads must not share one
  std::vector<void*> local = std::vector<void*>(kLocal, nullptr);  // long-lived, inherited
  mkb::Rng rng{0};
  std::uint64_t hash = 0;
  std::uint64_t seq = 0;
  std::uint64_t put_sum = 0;    // tags this lineage put into the shared array
  std::uint64_t taken_sum = 0;  // tags it took out of it (and freed)
  std::uint64_t taken = 0;
};

struct Shared {
  std::mutex mu;
  std::vector<void*> slots = std::vector<void*>(kShared, nullptr);
};

struct Plan {
  unsigned lineages = 0;
  std::uint64_t generations = 0;
  std::uint64_t ops_per_thread = 0;
};

std::size_t pick_size(mkb::Rng& rng) {
  unsigned k = rng.below(4) == 0 ? static_cast<unsigned>(rng.below(13))
                                 : static_cast<unsigned>(rng.below(4));
  return kMinSize << k;
}

void* make(Lineage& l, unsigned index) {
  std::size_t size = pick_size(l.rng);
  std::uint64_t tag = mkb::mix64((std::uint64_t{index} << 48) ^ l.seq++);
  void* p = mkb::xmalloc(size, "mstress");
  mkb::stamp(p, size, tag);
  return p;
}

// Checks and frees p (may be null); returns its tag (0 for null).
std::uint64_t release(void* p) {
  if (p == nullptr) return 0;
  std::uint64_t tag = mkb::read_stamp(p, kMinSize, kMaxSize, "mstress").tag;
  std::free(p);
  return tag;
}

struct Context {
  Plan plan;
  Shared shared;
  std::vector<Lineage> lineages;
  std::vector<std::vector<std::thread>> threads;  // [lineage][generation]
};

void run(Context* ctx, unsigned index, std::uint64_t gen) {
  Lineage& l = ctx->lineages[index];
  void* ring[kRing] = {};
  for (std::uint64_t op = 0; op < ctx->plan.ops_per_thread; ++op) {
    std::uint64_t r = l.rng.below(100);
    if (r < 70) {  // short-lived
      void*& slot = ring[l.rng.below(kRing)];
      l.hash = mkb::combine(l.hash, release(slot));
      slot = make(l, index);
    } else if (r < 95) {  // long-lived: may free an object of a thread that has exited
      void*& slot = l.local[l.rng.below(kLocal)];
      l.hash = mkb::combine(l.hash, release(slot));
      slot = make(l, index);
    } else {  // shared: migrates to whichever thread takes it out
      void* fresh = make(l, index);
      l.put_sum += mkb::read_stamp(fresh, kMinSize, kMaxSize, "mstress").tag;
      std::size_t k = l.rng.below(kShared);
      void* old = nullptr;
      {
        std::lock_guard<std::mutex> lock(ctx->shared.mu);
        old = ctx->shared.slots[k];
        ctx->shared.slots[k] = fresh;
      }
      if (old != nullptr) {
        l.taken_sum += release(old);
        ++l.taken;
      }
    }
  }
  for (void*& slot : ring) {
    l.hash = mkb::combine(l.hash, release(slot));
    slot = nullptr;
  }
  // Exit with the long-lived set still live; the successor inherits it.
  if (gen + 1 < ctx->plan.generations)
    ctx->threads[index][gen + 1] = std::thread(run, ctx, index, gen + 1);
}

}  // namespace

int main(int argc, char** argv) {
  mkb::Options opt = mkb::parse_args(argc, argv, "mstress");
  auto ctx = std::make_unique<Context>();
  ctx->plan.lineages = opt.threads;
  ctx->plan.generations = mkb::scaled(20, opt.scale, 2);
  ctx->plan.ops_per_thread = std::max<std::uint64_t>(
      1, mkb::scaled(12'000'000, opt.scale) / (opt.threads * ctx->plan.generations));
  ctx->lineages.resize(opt.threads);
  ctx->threads.resize(opt.threads);
  for (unsigned i = 0; i < opt.threads; ++i) {
    ctx->lineages[i].rng = mkb::Rng(0x357e55, i);
    ctx->threads[i].resize(ctx->plan.generations);
  }
  for (unsigned i = 0; i < opt.threads; ++i) ctx->threads[i][0] = std::thread(run, ctx.get(), i, 0);
  // Joining generation g happens after it started generation g + 1, so the slot is filled.
  for (unsigned i = 0; i < opt.threads; ++i)
    for (std::uint64_t g = 0; g < ctx->plan.generations; ++g) ctx->threads[i][g].join();

  std::uint64_t put_sum = 0;
  std::uint64_t taken_sum = 0;
  std::uint64_t taken = 0;
  std::uint64_t h = mkb::kFnvOffset;
  for (Lineage& l : ctx->lineages) {
    for (void*& slot : l.local) l.hash = mkb::combine(l.hash, release(slot));
    h = mkb::combine(h, l.hash);
    put_sum += l.put_sum;
    taken_sum += l.taken_sum;
    taken += l.taken;
  }
  std::uint64_t left = 0;
  for (void* p : ctx->shared.slots) {
    if (p == nullptr) continue;
    taken_sum += release(p);
    ++left;
  }
  if (taken_sum != put_sum)
    mkb::fail("tags taken out of the shared array do not add up to the tags put in");
  h = mkb::combine(h, taken_sum);
  h = mkb::combine(h, taken + left);

  mkb::print_header(opt);
  std::printf("threads started: %" PRIu64 " (%" PRIu64 " generations per lineage)\n",
              opt.threads * ctx->plan.generations, ctx->plan.generations);
  std::printf("operations: %" PRIu64 ", objects through the shared array: %" PRIu64 "\n",
              ctx->plan.ops_per_thread * opt.threads * ctx->plan.generations, taken + left);
  std::printf("sizes: powers of two %zu B..%zu KiB\n", kMinSize, kMaxSize >> 10);
  mkb::print_checksum(h);
  return 0;
}
