// memkit — kmalloc's size classes (src/kmalloc/size_classes.h)
//
// The table is constexpr data that checks itself (Scudo's size_class_map.h): every property
// the rest of memkit relies on is a static_assert below, and tests/test_size_classes.cpp checks
// them again at run time; `memkit sizeclasses` prints it.
//
//   8  16  32  48  64 | 80 96 112 128 | 160 192 224 256 | 320 ... 512 | ... | 20480 24576 28672 32768
//   (16-byte steps)    (four classes per doubling: steps of a quarter of the power of two below)
//
// Why this spacing: a request of the previous class + 1 bytes is the worst case, and with four
// classes per doubling its waste is (P/4 - 1) / (P + 1) < 25 % for every power of two P >= 64.
// Below 64 B the classes are 8, 16, 32, 48, 64 (every class from 16 B up is a multiple of 16,
// which is the alignment malloc will promise; 8 B requests keep their own class).
//
// size -> class is one load from a 253-byte table (four cache lines), with no branch but a
// conditional move on the index:
//
//   size <= 1024:  index = (size + 7) >> 3                    0 .. 128  (8-byte steps)
//   size >  1024:  index = ((size + 255) >> 8) + 124        129 .. 252  (256-byte steps)
//
// which is exact because every class up to 1024 is a multiple of 8 and every class above it a
// multiple of 256 (so rounding the size up to that step never crosses a class boundary).
#pragma once

#include <cstddef>
#include <cstdint>

#include "memkit/memkit.h"

namespace memkit::size_class {

inline constexpr uint32_t kSizes[] = {
    8,     16,    32,    48,    64,                  // 16-byte steps (and 8 for the smallest)
    80,    96,    112,   128,                         // then four per doubling
    160,   192,   224,   256,   320,   384,   448,   512,
    640,   768,   896,   1024,  1280,  1536,  1792,  2048,
    2560,  3072,  3584,  4096,  5120,  6144,  7168,  8192,
    10240, 12288, 14336, 16384, 20480, 24576, 28672, 32768,
};
inline constexpr unsigned kNumClasses = sizeof kSizes / sizeof kSizes[0];
inline constexpr size_t kMaxSize = kSizes[kNumClasses - 1];
/// Requests above this size are rounded to whole pages and come from the page heap.
static_assert(kMaxSize == MK_KMALLOC_MAX_CACHE_SIZE, "the table ends at the C API's limit");

// ---- the lookup (see the top of the file) ----

inline constexpr size_t kFineMax = 1024;
inline constexpr unsigned kFineShift = 3;    // 8-byte steps up to kFineMax
inline constexpr unsigned kCoarseShift = 8;  // 256-byte steps above
inline constexpr size_t kCoarseOffset =
    (kFineMax >> kFineShift) + 1 - ((kFineMax + 1 + (size_t{1} << kCoarseShift) - 1) >> kCoarseShift);
inline constexpr size_t kLookupSize = ((kMaxSize + (size_t{1} << kCoarseShift) - 1) >> kCoarseShift) +
                                      kCoarseOffset + 1;

/// The lookup index of a size (0 <= size <= kMaxSize).
constexpr size_t lookup_index(size_t size) {
  return size <= kFineMax ? (size + (size_t{1} << kFineShift) - 1) >> kFineShift
                          : ((size + (size_t{1} << kCoarseShift) - 1) >> kCoarseShift) + kCoarseOffset;
}

/// The smallest class that holds size, by search (the reference the table is checked against);
/// kNumClasses if none does.
constexpr unsigned naive_class(size_t size) {
  for (unsigned c = 0; c < kNumClasses; ++c)
    if (size <= kSizes[c]) return c;
  return kNumClasses;
}

struct LookupTable {
  uint8_t cls[kLookupSize];
};

constexpr LookupTable make_lookup() {
  LookupTable t{};
  for (size_t i = 0; i <= (kFineMax >> kFineShift); ++i)
    t.cls[i] = static_cast<uint8_t>(naive_class(i << kFineShift));
  for (size_t i = (kFineMax >> kFineShift) + 1; i < kLookupSize; ++i)
    t.cls[i] = static_cast<uint8_t>(naive_class((i - kCoarseOffset) << kCoarseShift));
  return t;
}

inline constexpr LookupTable kLookup __attribute__((visibility("hidden"))) = make_lookup();

/// The class of a request of size bytes, 0 <= size <= kMaxSize (0 gets the smallest class).
constexpr unsigned size_to_class(size_t size) { return kLookup.cls[lookup_index(size)]; }

/// The bytes a class hands out.
constexpr size_t class_size(unsigned cls) { return kSizes[cls]; }

// ---- malloc's lookup: 16-byte steps, never the 8-byte class ----
//
// malloc hands out at least 16 bytes (its alignment), and every class from 16 B up is a
// multiple of 16, so one load from a table in 16-byte steps is exact for every size up to
// kMaxSize: index (size + 15) >> 4, 2049 bytes. The entries are class + 1, kmalloc's cache
// index of the class (kmalloc.h), so the fast path uses them as they are.

inline constexpr unsigned kMallocShift = 4;
inline constexpr size_t kMallocLookupSize = (kMaxSize >> kMallocShift) + 1;

struct MallocLookupTable {
  uint8_t index[kMallocLookupSize];
};

constexpr MallocLookupTable make_malloc_lookup() {
  MallocLookupTable t{};
  for (size_t i = 0; i < kMallocLookupSize; ++i) {
    const size_t size = i << kMallocShift;
    t.index[i] = static_cast<uint8_t>(naive_class(size < 16 ? 16 : size) + 1);
  }
  return t;
}

inline constexpr MallocLookupTable kMallocLookup __attribute__((visibility("hidden"))) =
    make_malloc_lookup();

/// class + 1 of a malloc request: the class of max(size, 16), 0 <= size <= kMaxSize.
constexpr unsigned malloc_class_index(size_t size) {
  return kMallocLookup.index[(size + (size_t{1} << kMallocShift) - 1) >> kMallocShift];
}

/// The alignment of a class's objects, given the page size: the class size for powers of two up
/// to the page size (natural alignment), else 16 (8 for the 8-byte class).
constexpr size_t class_align(unsigned cls, size_t page_size) {
  const size_t s = kSizes[cls];
  if ((s & (s - 1)) == 0 && s <= page_size) return s;
  return s >= 16 ? 16 : 8;
}

/// The request that wastes the most in a class: one byte above the previous class (1 for the
/// first class).
constexpr size_t worst_request(unsigned cls) { return cls == 0 ? 1 : kSizes[cls - 1] + 1; }

/// The worst rounding waste of a class in per mille of the request.
constexpr size_t worst_waste_permille(unsigned cls) {
  return (kSizes[cls] - worst_request(cls)) * 1000 / worst_request(cls);
}

// ---- the table checks itself ----

namespace check {

constexpr size_t floor_pow2(size_t x) {
  size_t p = 1;
  while (p * 2 <= x) p *= 2;
  return p;
}

constexpr bool strictly_increasing() {
  for (unsigned c = 1; c < kNumClasses; ++c)
    if (kSizes[c] <= kSizes[c - 1]) return false;
  return true;
}

constexpr bool multiples_of_16_from_16() {
  for (unsigned c = 0; c < kNumClasses; ++c)
    if (kSizes[c] >= 16 && kSizes[c] % 16 != 0) return false;
  return true;
}

// Above 64 B every step is a quarter of the power of two below the previous class: four
// classes per doubling, the last of them the power of two itself.
constexpr bool four_per_doubling() {
  for (unsigned c = 1; c < kNumClasses; ++c) {
    const size_t prev = kSizes[c - 1];
    if (prev < 64) continue;
    if (kSizes[c] - prev != floor_pow2(prev) / 4) return false;
  }
  return true;
}

// Every request above 64 B wastes at most 25 % of itself (worst case: previous class + 1).
constexpr bool waste_at_most_a_quarter() {
  for (unsigned c = 1; c < kNumClasses; ++c) {
    if (kSizes[c - 1] < 64) continue;
    const size_t request = worst_request(c);
    if ((kSizes[c] - request) * 4 > request) return false;
  }
  return true;
}

// The lookup's precondition: multiples of 8 up to kFineMax, of 256 above.
constexpr bool lookup_steps_divide_classes() {
  for (unsigned c = 0; c < kNumClasses; ++c) {
    const size_t step = kSizes[c] <= kFineMax ? (size_t{1} << kFineShift) : (size_t{1} << kCoarseShift);
    if (kSizes[c] % step != 0) return false;
  }
  return true;
}

// Every size 0 .. kMaxSize gets the smallest class that holds it.
constexpr bool lookup_is_exact() {
  unsigned c = 0;
  for (size_t s = 0; s <= kMaxSize; ++s) {
    while (kSizes[c] < s) ++c;
    if (size_to_class(s) != c) return false;
  }
  return true;
}

// malloc's lookup gives the smallest class >= max(size, 16) for every size 0 .. kMaxSize.
constexpr bool malloc_lookup_is_exact() {
  unsigned c = 1;
  for (size_t s = 0; s <= kMaxSize; ++s) {
    while (kSizes[c] < s) ++c;
    if (malloc_class_index(s) != c + 1) return false;
  }
  return true;
}

}  // namespace check

static_assert(kSizes[0] == 8 && kSizes[1] == 16, "8 and 16 byte classes");
static_assert(kNumClasses < 256, "a class index fits the lookup's uint8_t");
static_assert(check::strictly_increasing(), "classes strictly increase");
static_assert(check::multiples_of_16_from_16(), "every class from 16 B up is a multiple of 16");
static_assert(check::four_per_doubling(), "four classes per doubling above 64 B");
static_assert(check::waste_at_most_a_quarter(), "rounding waste <= 25 % of requests above 64 B");
static_assert(check::lookup_steps_divide_classes(), "the lookup's steps divide every class");
static_assert(kLookupSize == 253, "the lookup table is 253 bytes");
static_assert(lookup_index(kMaxSize) == kLookupSize - 1, "the last index is the last entry");
static_assert(lookup_index(kFineMax + 1) == lookup_index(kFineMax) + 1, "the halves are adjacent");
static_assert(check::lookup_is_exact(), "size_to_class is the smallest class >= size");
static_assert(check::malloc_lookup_is_exact(), "malloc_class_index is that of max(size, 16)");

}  // namespace memkit::size_class
