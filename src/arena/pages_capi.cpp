// memkit — the page allocator's C API (src/arena/pages_capi.cpp), over global_page_heap().
//
// The void-returning frees cannot hand an error back, so a refused free is a fatal report
// (src/os/report.h): "memkit: ERROR: double-free mk_free_pages 0x... ...", then abort.
#include <errno.h>

#include <cstdio>

#include "arena/page_heap.h"
#include "memkit/memkit.h"
#include "os/report.h"

using memkit::BuddyStatus;
using memkit::global_page_heap;

namespace {

// order < 0: the function takes no order (mk_vfree).
[[noreturn]] void refuse(const char* function, const void* p, int order, BuddyStatus st) {
  char detail[160];
  char what[24] = "";
  if (order >= 0) std::snprintf(what, sizeof what, "(order %d): ", order);
  unsigned actual = 0;
  switch (st) {
    case BuddyStatus::kDoubleFree:
      std::snprintf(detail, sizeof detail, "%sthe block is already free", what);
      memkit::report_fatal("double-free", function, p, detail);
    case BuddyStatus::kWrongOrder:
      if (global_page_heap().order_of(p, &actual) == BuddyStatus::kOk)
        std::snprintf(detail, sizeof detail, "%sthe block was allocated with order %u", what,
                      actual);
      else
        std::snprintf(detail, sizeof detail, "%swrong order", what);
      memkit::report_fatal("invalid-free", function, p, detail);
    case BuddyStatus::kOutOfRange:
      memkit::report_fatal("invalid-free", function, p, "is not memory memkit handed out");
    default:
      std::snprintf(detail, sizeof detail, "%s%s", what, memkit::to_string(st));
      memkit::report_fatal("invalid-free", function, p, detail);
  }
}

}  // namespace

extern "C" {

size_t mk_page_size(void) { return global_page_heap().page_size(); }

void* mk_alloc_pages(unsigned gfp, unsigned order) {
  return global_page_heap().alloc_pages(order, gfp);
}

void mk_free_pages(void* p, unsigned order) {
  if (p == nullptr) return;
  const BuddyStatus st = global_page_heap().free_pages(p, order);
  if (st != BuddyStatus::kOk) refuse("mk_free_pages", p, static_cast<int>(order), st);
}

unsigned long mk_get_free_pages(unsigned gfp, unsigned order) {
  return reinterpret_cast<unsigned long>(mk_alloc_pages(gfp, order));
}

void mk_free_pages_addr(unsigned long addr, unsigned order) {
  if (addr == 0) return;
  void* p = reinterpret_cast<void*>(addr);
  const BuddyStatus st = global_page_heap().free_pages(p, order);
  if (st != BuddyStatus::kOk) refuse("mk_free_pages_addr", p, static_cast<int>(order), st);
}

int mk_page_order(const void* p) {
  unsigned order;
  if (p == nullptr || global_page_heap().order_of(p, &order) != BuddyStatus::kOk) return -1;
  return static_cast<int>(order);
}

void* mk_vmalloc(size_t size) { return global_page_heap().vmalloc(size, 0); }

void* mk_vzalloc(size_t size) { return global_page_heap().vmalloc(size, MK_GFP_ZERO); }

void mk_vfree(void* p) {
  const BuddyStatus st = global_page_heap().vfree(p);
  if (st != BuddyStatus::kOk) refuse("mk_vfree", p, -1, st);
}

size_t mk_purge(void) { return global_page_heap().purge(); }

void mk_get_page_stats(struct mk_page_stats* out) { global_page_heap().stats(out); }

int mk_buddyinfo(char* buf, size_t len) { return global_page_heap().format_buddyinfo(buf, len); }

}  // extern "C"
