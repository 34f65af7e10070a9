// mkb-xmalloc — producer/consumer, after xmalloc-test (Lever & Boreham).
//
//   mkb-xmalloc [--threads T] [--scale S]
//
// P = max(1, T/2) producer threads only allocate: blocks of random sizes 16..512 B, stamped, in
// batches of 64 pushed into bounded (4096-entry) mutex/condition-variable queues, one queue per
// consumer, a producer's batches dealt round-robin over them. C = max(1, T - P) consumer threads
// only pop, check and free (with T = 1 there is still one producer and one consumer). Every free is
// remote, of memory another thread allocated: what stresses an allocator's cross-thread free path
// and its ability to hand memory back to the allocating thread.
// Work: 6,000,000 x S blocks in all, split evenly over the producers. Which consumer frees which
// block depends on timing, so the consumers add the tags they read back (addition commutes); the
// sum must equal the producers' sum and the block count the number produced (else exit 1).
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "common.h"

namespace {

constexpr std::size_t kMinSize = 16;
constexpr std::size_t kMaxSize = 512;
constexpr std::size_t kBatch = 64;       // blocks per push and per pop
constexpr std::size_t kCapacity = 4096;

// A bounded multi-producer single-consumer queue of block pointers. Sleepers are woken with
// hysteresis (the consumer once kWake pointers are waiting, a producer once kWake slots are
// free), so that the threads do not ping-pong on every batch.
class Queue {
 public:
  Queue() : ring_(kCapacity) {}

  // Pushes all n pointers, waiting for room as needed.
  void push(void* const* items, std::size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    while (n > 0) {
      if (count_ == kCapacity) {
        ++producers_waiting_;
        not_full_.wait(lock, [&] { return count_ + kWake <= kCapacity; });
        --producers_waiting_;
      }
      std::size_t k = std::min(n, kCapacity - count_);
      for (std::size_t i = 0; i < k; ++i) ring_[(head_ + count_ + i) % kCapacity] = items[i];
      count_ += k;
      items += k;
      n -= k;
      if (consumer_waiting_ && count_ >= kWake) not_empty_.notify_one();
    }
  }

  // Pops up to max pointers into out; 0 once the queue is closed and empty.
  std::size_t pop(void** out, std::size_t max) {
    std::unique_lock<std::mutex> lock(mu_);
    if (count_ == 0) {
      consumer_waiting_ = true;
      not_empty_.wait(lock, [&] { return count_ >= kWake || closed_; });
      consumer_waiting_ = false;
    }
    std::size_t k = std::min(max, count_);
    for (std::size_t i = 0; i < k; ++i) out[i] = ring_[(head_ + i) % kCapacity];
    head_ = (head_ + k) % kCapacity;
    count_ -= k;
    if (producers_waiting_ > 0 && count_ + kWake <= kCapacity) not_full_.notify_all();
    return k;
  }

  void close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    not_empty_.notify_all();
  }

 private:
  static constexpr std::size_t kWake = kCapacity / 4;

  std::mutex mu_;
  std::condition_variable not_full_;
  std::condition_variable not_empty_;
  std::vector<void*> ring_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  unsigned producers_waiting_ = 0;
  bool consumer_waiting_ = false;
  bool closed_ = false;
};

struct ProducerResult {
  std::uint64_t sum = 0;   // sum of the tags produced
  std::uint64_t hash = 0;  // ordered hash of (tag, size)
};

struct ConsumerResult {
  std::uint64_t sum = 0;
  std::uint64_t count = 0;
};

}  // namespace

int main(int argc, char** argv) {
  mkb::Options opt = mkb::parse_args(argc, argv, "xmalloc");
  const unsigned producers = std::max(1u, opt.threads / 2);
  const unsigned consumers = std::max(1u, opt.threads - producers);
  const std::uint64_t total = mkb::scaled(6'000'000, opt.scale, 1);

  std::vector<Queue> queues(consumers);
  std::vector<ProducerResult> produced(producers);
  std::vector<ConsumerResult> consumed(consumers);
  std::atomic<unsigned> active{producers};

  auto producer = [&](unsigned j) {
    std::uint64_t n = total / producers + (j < total % producers ? 1 : 0);
    mkb::Rng rng(0x3a110c, j);
    ProducerResult r;
    void* batch[kBatch];
    std::uint64_t seq = 0;
    for (std::uint64_t b = 0; seq < n; ++b) {
      std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(kBatch, n - seq));
      for (std::size_t i = 0; i < k; ++i, ++seq) {
        std::size_t size = rng.range(kMinSize, kMaxSize);
        std::uint64_t tag = mkb::mix64((std::uint64_t{j} << 48) ^ seq);
        batch[i] = mkb::xmalloc(size, "xmalloc producer");
        mkb::stamp(batch[i], size, tag);
        r.sum += tag;
        r.hash = mkb::combine(r.hash, tag ^ size);
      }
      queues[(j + b) % consumers].push(batch, k);
    }
    produced[j] = r;
    if (active.fetch_sub(1) == 1)
      for (Queue& q : queues) q.close();
  };

  auto consumer = [&](unsigned c) {
    ConsumerResult r;
    void* batch[kBatch];
    while (std::size_t k = queues[c].pop(batch, kBatch)) {
      for (std::size_t i = 0; i < k; ++i) {
        mkb::Stamped s = mkb::read_stamp(batch[i], kMinSize, kMaxSize, "xmalloc consumer");
        r.sum += s.tag;
        ++r.count;
        std::free(batch[i]);
      }
    }
    consumed[c] = r;
  };

  std::vector<std::thread> workers;
  for (unsigned c = 0; c < consumers; ++c) workers.emplace_back(consumer, c);
  for (unsigned j = 0; j < producers; ++j) workers.emplace_back(producer, j);
  for (std::thread& w : workers) w.join();

  std::uint64_t produced_sum = 0;
  std::uint64_t consumed_sum = 0;
  std::uint64_t consumed_count = 0;
  std::uint64_t h = mkb::kFnvOffset;
  for (const ProducerResult& r : produced) {
    produced_sum += r.sum;
    h = mkb::combine(h, r.hash);
  }
  for (const ConsumerResult& r : consumed) {
    consumed_sum += r.sum;
    consumed_count += r.count;
  }
  if (consumed_count != total)
    mkb::fail("consumers freed %" PRIu64 " blocks, producers made %" PRIu64, consumed_count,
              total);
  if (consumed_sum != produced_sum)
    mkb::fail("tags read back by the consumers do not add up to the tags written");
  h = mkb::combine(h, consumed_sum);
  h = mkb::combine(h, consumed_count);

  mkb::print_header(opt);
  std::printf("producers: %u, consumers: %u\n", producers, consumers);
  std::printf("blocks: %" PRIu64 " of %zu..%zu B, in batches of %zu\n", total, kMinSize, kMaxSize,
              kBatch);
  mkb::print_checksum(h);
  return 0;
}
