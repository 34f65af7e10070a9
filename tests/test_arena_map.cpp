// Unit tests of the arena map (src/arena/arena_map.h): set/lookup/clear over an arena-sized
// aligned range; foreign addresses (stack, malloc, above 2^47, nullptr) look up as 0; a range
// that crosses from one leaf to the next; EINVAL above 47 bits; ENOMEM when a leaf cannot be
// made (through FakeOs), with nothing changed; the leaves are given back on destruction.
//
// The map never dereferences the addresses it records, only its own leaves, so most tests use
// made-up chunk-aligned addresses.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <memory>

#include "arena/arena_map.h"
#include "fake_os.h"

namespace {

using memkit::ArenaMap;
using memkit::test::FakeOs;
using memkit::test::FakeOsScope;

constexpr size_t MiB = size_t{1} << 20;
constexpr uintptr_t kChunk = ArenaMap::kChunkSize;
constexpr uintptr_t kLeafSpan = uintptr_t{1} << (ArenaMap::kChunkShift + ArenaMap::kLeafBits);
constexpr uintptr_t kEntryA = 0x1000;  // any non-zero word; the map does not interpret it
constexpr uintptr_t kEntryB = 0x2001;

const void* at(uintptr_t a) { return reinterpret_cast<const void*>(a); }

std::unique_ptr<ArenaMap> make_map(const memkit::os::OsApi& os = memkit::os::system_os()) {
  return std::make_unique<ArenaMap>(&os);
}

TEST(ArenaMap, GeometryCoversTheUserAddressSpace) {
  EXPECT_EQ(ArenaMap::kRootBits + ArenaMap::kLeafBits + ArenaMap::kChunkShift,
            ArenaMap::kAddressBits);
  EXPECT_EQ(kChunk, 4 * MiB);
}

TEST(ArenaMap, EmptyMapLooksUpZero) {
  auto map = make_map();
  int local = 0;
  EXPECT_EQ(map->lookup(nullptr), 0u);
  EXPECT_EQ(map->lookup(&local), 0u);
  EXPECT_EQ(map->lookup(at(0x7f0000000000)), 0u);
}

TEST(ArenaMap, SetLookupClearOfARealArena) {
  // A real 16 MiB reservation aligned to its size, as an arena would be.
  const size_t size = 16 * MiB;
  void* mem = nullptr;
  ASSERT_EQ(memkit::os::system_os().reserve(size, size, &mem), 0);
  const uintptr_t base = reinterpret_cast<uintptr_t>(mem);
  auto map = make_map();
  ASSERT_EQ(map->set(base, size, kEntryA), 0);
  EXPECT_EQ(map->lookup(at(base)), kEntryA);
  EXPECT_EQ(map->lookup(at(base + 1)), kEntryA);
  EXPECT_EQ(map->lookup(at(base + size / 2 + 12345)), kEntryA);
  EXPECT_EQ(map->lookup(at(base + size - 1)), kEntryA);
  EXPECT_EQ(map->lookup(at(base - 1)), 0u);
  EXPECT_EQ(map->lookup(at(base + size)), 0u);

  // Foreign addresses.
  int local = 0;
  void* heap = std::malloc(64);
  EXPECT_EQ(map->lookup(&local), 0u);
  EXPECT_EQ(map->lookup(heap), 0u);
  EXPECT_EQ(map->lookup(nullptr), 0u);
  EXPECT_EQ(map->lookup(at(uintptr_t{1} << 47)), 0u);
  EXPECT_EQ(map->lookup(at((uintptr_t{1} << 47) + base)), 0u) << "aliases above 47 bits";
  EXPECT_EQ(map->lookup(at(base | (uintptr_t{1} << 63))), 0u);
  EXPECT_EQ(map->lookup(at(UINTPTR_MAX)), 0u);
  std::free(heap);

  // Overwrite with another entry, then clear half, then all.
  ASSERT_EQ(map->set(base, size, kEntryB), 0);
  EXPECT_EQ(map->lookup(at(base + size - 1)), kEntryB);
  map->clear(base, size / 2);
  EXPECT_EQ(map->lookup(at(base)), 0u);
  EXPECT_EQ(map->lookup(at(base + size / 2 - 1)), 0u);
  EXPECT_EQ(map->lookup(at(base + size / 2)), kEntryB);
  map->clear(base, size);
  EXPECT_EQ(map->lookup(at(base + size - 1)), 0u);
  EXPECT_EQ(memkit::os::system_os().release(mem, size), 0);
}

TEST(ArenaMap, NeighbouringRegionsKeepTheirEntries) {
  auto map = make_map();
  const uintptr_t a = 0x500000000000;  // chunk-aligned, made up
  ASSERT_EQ(map->set(a, 2 * kChunk, kEntryA), 0);
  ASSERT_EQ(map->set(a + 2 * kChunk, kChunk, kEntryB), 0);
  EXPECT_EQ(map->lookup(at(a + 2 * kChunk - 1)), kEntryA);
  EXPECT_EQ(map->lookup(at(a + 2 * kChunk)), kEntryB);
  EXPECT_EQ(map->lookup(at(a + 3 * kChunk - 1)), kEntryB);
  EXPECT_EQ(map->lookup(at(a + 3 * kChunk)), 0u);
  map->clear(a + 2 * kChunk, kChunk);
  EXPECT_EQ(map->lookup(at(a + 2 * kChunk - 1)), kEntryA);
  EXPECT_EQ(map->lookup(at(a + 2 * kChunk)), 0u);
  // A size that is not a chunk multiple covers its last, partial chunk.
  ASSERT_EQ(map->set(a + 8 * kChunk, kChunk + 4096, kEntryB), 0);
  EXPECT_EQ(map->lookup(at(a + 9 * kChunk + 4096)), kEntryB);
  EXPECT_EQ(map->lookup(at(a + 10 * kChunk)), 0u);
  // size 0 is a no-op.
  EXPECT_EQ(map->set(a + 20 * kChunk, 0, kEntryA), 0);
  EXPECT_EQ(map->lookup(at(a + 20 * kChunk)), 0u);
  map->clear(a + 20 * kChunk, 0);
}

TEST(ArenaMap, RangeAcrossTwoLeaves) {
  FakeOsScope scope;
  const long long base_bytes = FakeOs::live_bytes();
  {
    auto map = make_map(FakeOs::api());
    // 64 GiB-aligned boundary (also a leaf boundary: a leaf spans 32 GiB).
    const uintptr_t boundary = uintptr_t{0x400} << 30;
    static_assert((uintptr_t{0x400} << 30) % kLeafSpan == 0);
    const uintptr_t start = boundary - 2 * kChunk;
    ASSERT_EQ(map->set(start, 4 * kChunk, kEntryA), 0);
    EXPECT_EQ(FakeOs::reserve_calls(), 2) << "one leaf on each side";
    EXPECT_EQ(map->lookup(at(start)), kEntryA);
    EXPECT_EQ(map->lookup(at(boundary - 1)), kEntryA);
    EXPECT_EQ(map->lookup(at(boundary)), kEntryA);
    EXPECT_EQ(map->lookup(at(boundary + 2 * kChunk - 1)), kEntryA);
    EXPECT_EQ(map->lookup(at(boundary + 2 * kChunk)), 0u);
    EXPECT_EQ(map->lookup(at(start - 1)), 0u);
    map->clear(start, 4 * kChunk);
    EXPECT_EQ(map->lookup(at(boundary - 1)), 0u);
    EXPECT_EQ(map->lookup(at(boundary)), 0u);
    // Leaves are kept and reused.
    ASSERT_EQ(map->set(boundary, kChunk, kEntryB), 0);
    EXPECT_EQ(FakeOs::reserve_calls(), 2);
    EXPECT_EQ(map->lookup(at(boundary)), kEntryB);
    EXPECT_GT(FakeOs::live_bytes(), base_bytes);
  }
  EXPECT_EQ(FakeOs::live_bytes(), base_bytes) << "the map gives its leaves back";
}

TEST(ArenaMap, TopOfTheAddressSpace) {
  auto map = make_map();
  const uintptr_t top = uintptr_t{1} << 47;
  ASSERT_EQ(map->set(top - kChunk, kChunk, kEntryA), 0);
  EXPECT_EQ(map->lookup(at(top - 1)), kEntryA);
  EXPECT_EQ(map->lookup(at(top)), 0u);
  EXPECT_EQ(map->set(top, kChunk, kEntryA), EINVAL);
  EXPECT_EQ(map->set(top - kChunk, 2 * kChunk, kEntryB), EINVAL);
  EXPECT_EQ(map->lookup(at(top - 1)), kEntryA) << "a refused set changes nothing";
  EXPECT_EQ(map->set(UINTPTR_MAX - kChunk + 1, kChunk, kEntryA), EINVAL);
  EXPECT_EQ(map->set(top - kChunk, SIZE_MAX, kEntryA), EINVAL) << "wrap-around";
}

TEST(ArenaMap, EnomemWhenALeafCannotBeMade) {
  FakeOsScope scope;
  const long long base_bytes = FakeOs::live_bytes();
  {
    auto map = make_map(FakeOs::api());
    const uintptr_t a = 0x300000000000;
    FakeOs::fail_reserves_after(0);
    EXPECT_EQ(map->set(a, 4 * kChunk, kEntryA), ENOMEM);
    EXPECT_EQ(map->lookup(at(a)), 0u);
    EXPECT_EQ(map->lookup(at(a + 4 * kChunk - 1)), 0u);
    FakeOs::stop_failing();

    // Across two leaves, the second cannot be made: nothing is set on either side.
    const uintptr_t boundary = a + 8 * kLeafSpan;
    FakeOs::fail_nth_reserve(2);
    EXPECT_EQ(map->set(boundary - kChunk, 2 * kChunk, kEntryA), ENOMEM);
    EXPECT_EQ(map->lookup(at(boundary - kChunk)), 0u);
    EXPECT_EQ(map->lookup(at(boundary)), 0u);
    // Once the OS gives memory again, the same set works.
    EXPECT_EQ(map->set(boundary - kChunk, 2 * kChunk, kEntryA), 0);
    EXPECT_EQ(map->lookup(at(boundary - kChunk)), kEntryA);
    EXPECT_EQ(map->lookup(at(boundary)), kEntryA);
    EXPECT_EQ(map->set(a, 4 * kChunk, kEntryB), 0);
    EXPECT_EQ(map->lookup(at(a + 4 * kChunk - 1)), kEntryB);
  }
  EXPECT_EQ(FakeOs::live_bytes(), base_bytes) << "leaves made before a failure are not leaked";
}

// A leaf whose last entry is cleared goes back to the OS (a huge direct mapping's entries cost
// nothing once it is freed); while any entry is left, it stays.
TEST(ArenaMap, ALeafIsDecommittedWhenItsLastEntryGoes) {
  FakeOsScope scope;
  auto map = make_map(FakeOs::api());
  const uintptr_t base = 7 * kLeafSpan;
  ASSERT_EQ(map->set(base, 3 * kChunk, kEntryA), 0);
  ASSERT_EQ(map->set(base + 8 * kChunk, kChunk, kEntryB), 0);
  const long before = FakeOs::decommit_calls();
  map->clear(base, 3 * kChunk);
  EXPECT_EQ(FakeOs::decommit_calls(), before) << "an entry is left in the leaf";
  EXPECT_EQ(map->lookup(at(base + 8 * kChunk)), kEntryB);
  map->clear(base + 8 * kChunk, kChunk);
  EXPECT_EQ(FakeOs::decommit_calls(), before + 1);
  EXPECT_EQ(map->lookup(at(base + 8 * kChunk)), 0u);
  map->clear(base, kChunk);  // clearing empty entries again changes nothing
  EXPECT_EQ(FakeOs::decommit_calls(), before + 1);
  ASSERT_EQ(map->set(base + kChunk, kChunk, kEntryA), 0) << "the leaf is used again";
  EXPECT_EQ(map->lookup(at(base + kChunk)), kEntryA);
}

}  // namespace
