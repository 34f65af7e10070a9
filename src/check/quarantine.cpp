// memkit — the checked mode's quarantine (src/check/quarantine.cpp): see quarantine.h.
#include "check/quarantine.h"

#include <atomic>

#include "check/check_report.h"
#include "kmalloc/kmalloc.h"

namespace memkit::check {

namespace detail {
Queue g_queues[kQueues];
size_t g_fill_max = SIZE_MAX;
}  // namespace detail

namespace {

using detail::g_queues;

inline constexpr long kPublish = 32 << 10;
std::atomic<long> g_quarantined{0};  // bytes in all queues, give or take kPublish a queue
size_t g_budget = 4u << 20;          // quarantine_bytes
size_t g_max_full = 0;               // blocks on their own pages per queue

inline void account(Queue& q, long delta) {
  q.unpublished += delta;
  if (q.unpublished >= kPublish || q.unpublished <= -kPublish) {
    g_quarantined.fetch_add(q.unpublished, std::memory_order_relaxed);
    q.unpublished = 0;
  }
}
inline bool over_budget(const Queue& q) {
  return g_quarantined.load(std::memory_order_relaxed) + q.unpublished > static_cast<long>(g_budget);
}

size_t quarantine_cost(const Block& b) {
  return b.full || b.magic != 0 ? block_span(b) : b.span_ + sizeof(Block);
}

}  // namespace

void quarantine_configure(size_t bytes, size_t full_max_blocks, size_t fill_max) {
  g_budget = bytes;
  // Blocks on their own pages each hold kernel mappings: at most half of full_max_blocks wait.
  g_max_full = (full_max_blocks / 2) / kQueues + 1;
  detail::g_fill_max = fill_max;
}

void lock_queues() {
  for (Queue& q : g_queues) q.lock.lock();
}
void unlock_queues() {
  for (unsigned i = kQueues; i-- > 0;) g_queues[i].lock.unlock();
}

void release_header(Block* b) {
  __atomic_store_n(&b->magic, 0, __ATOMIC_RELAXED);
  kfree(b, "free");  // the header starts the kmalloc object
}

Block* enqueue_locked(Queue& q, Block* b) {
  Block* out = nullptr;
  b->qnext = nullptr;
  if (q.tail) q.tail->qnext = b;
  else q.head = b;
  q.tail = b;
  account(q, static_cast<long>(quarantine_cost(*b)));
  q.full_blocks += b->full;
  while (q.head != nullptr && (over_budget(q) || q.full_blocks > g_max_full)) {
    Block* old = q.head;
    q.head = old->qnext;
    if (q.head == nullptr) q.tail = nullptr;
    account(q, -static_cast<long>(quarantine_cost(*old)));
    q.full_blocks -= old->full;
    if (old->magic != 0 &&
        (reporting_now() ||
         all_bytes_equal(reinterpret_cast<const unsigned char*>(block_user(*old)), fill_bytes(*old), kFreedFill))) {
      release_header(old);
      continue;
    }
    old->qnext = out;
    out = old;
  }
  // The next block to leave has been out of the cache since it was freed: fetch its record and
  // the start of its fill now, so that the eviction a later free makes does not wait for them.
  if (q.head != nullptr) {
    const char* next = reinterpret_cast<const char*>(q.head);
    __builtin_prefetch(next);
    for (unsigned line = 1; line < 6; ++line) __builtin_prefetch(next + 64 * line);  // header blocks: the fill follows
  }
  return out;
}

}  // namespace memkit::check
