// mkb-malloc_large — large blocks, after mimalloc-bench's malloc-large.
//
//   mkb-malloc_large [--threads T] [--scale S]
//
// Each thread keeps up to L = min(20, max(1, 22 / T)) live blocks of random sizes 5..25 MiB (so
// at most 22 x 25 MiB = 550 MiB live for T <= 22; at least one block per thread beyond that).
// Each step replaces a random slot: the old block is checked (one word per page) and freed, the
// new one allocated and every 4 KiB page of it written. Stresses the large-block path: mmap and
// munmap or their reuse, page faults, and how much memory the allocator keeps or returns.
// Work: 300 x S blocks in all (at least one per thread), split evenly over the threads. The
// checksum combines, per thread in index order, the words read back from every page.
#include <algorithm>
#include <thread>
#include <vector>

#include "common.h"

namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;
constexpr std::size_t kMinSize = 5 * kMiB;
constexpr std::size_t kMaxSize = 25 * kMiB;
constexpr std::size_t kPage = 4096;
constexpr std::uint64_t kPageStep = 0x9e3779b97f4a7c15ull;

struct Block {
  unsigned char* p = nullptr;
  std::size_t size = 0;
  std::uint64_t tag = 0;
};

// Stamps the block (common.h: tag, size, a byte at every page start, last byte) and writes an
// 8-byte word at offset 8 of every further page.
void fill(const Block& b) {
  mkb::stamp(b.p, b.size, b.tag);
  for (std::size_t off = kPage; off + 16 < b.size; off += kPage) {
    std::uint64_t v = b.tag + (off / kPage) * kPageStep;
    std::memcpy(b.p + off + 8, &v, 8);
  }
  mkb::escape(b.p);
}

// Checks every page's word; returns a hash of what was read.
std::uint64_t check(const Block& b) {
  mkb::check_stamp(b.p, b.size, b.tag, "malloc_large");
  std::uint64_t h = b.tag;
  for (std::size_t off = kPage; off + 16 < b.size; off += kPage) {
    std::uint64_t v = 0;
    std::memcpy(&v, b.p + off + 8, 8);
    if (v != b.tag + (off / kPage) * kPageStep)
      mkb::fail("malloc_large: block of %zu bytes: page at offset %zu read back wrong", b.size,
                off);
    h = h * 0x100000001b3ull + v;
  }
  return h;
}

}  // namespace

int main(int argc, char** argv) {
  mkb::Options opt = mkb::parse_args(argc, argv, "malloc_large");
  const unsigned threads = opt.threads;
  const std::size_t live = std::min<std::size_t>(20, std::max<std::size_t>(1, 22 / threads));
  const std::uint64_t per_thread = std::max<std::uint64_t>(1, mkb::scaled(300, opt.scale) / threads);

  std::vector<std::uint64_t> hashes(threads, 0);
  std::vector<std::uint64_t> bytes(threads, 0);
  std::vector<std::thread> running;
  for (unsigned i = 0; i < threads; ++i) {
    running.emplace_back([&, i] {
      mkb::Rng rng(0x1a26e, i);
      std::vector<Block> slots(live);
      std::uint64_t h = 0;
      std::uint64_t total = 0;  // bytes[i] once at the end: the threads must not share a line
      for (std::uint64_t n = 0; n < per_thread; ++n) {
        Block& b = slots[rng.below(live)];
        if (b.p != nullptr) {
          h = mkb::combine(h, check(b));
          std::free(b.p);
        }
        b.size = rng.range(kMinSize, kMaxSize);
        b.tag = mkb::mix64((std::uint64_t{i} << 48) ^ n);
        b.p = static_cast<unsigned char*>(mkb::xmalloc(b.size, "malloc_large"));
        fill(b);
        total += b.size;
      }
      for (Block& b : slots) {
        if (b.p == nullptr) continue;
        h = mkb::combine(h, check(b));
        std::free(b.p);
      }
      hashes[i] = h;
      bytes[i] = total;
    });
  }
  for (std::thread& t : running) t.join();
  std::uint64_t h = mkb::kFnvOffset;
  std::uint64_t total_bytes = 0;
  for (unsigned i = 0; i < threads; ++i) {
    h = mkb::combine(h, hashes[i]);
    total_bytes += bytes[i];
  }

  mkb::print_header(opt);
  std::printf("blocks: %" PRIu64 " of %zu..%zu MiB, up to %zu live per thread\n",
              per_thread * threads, kMinSize / kMiB, kMaxSize / kMiB, live);
  std::printf("allocated: %" PRIu64 " MiB in all\n", total_bytes / kMiB);
  std::printf("rss after freeing everything: %ld KiB\n", mkb::rss_kib());
  mkb::print_rss_after_idle(opt);
  mkb::print_checksum(h);
  return 0;
}
