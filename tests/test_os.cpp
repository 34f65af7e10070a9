// Unit tests of the OS seam (src/os/os.h): reserve with every kind of alignment gives aligned,
// writable, zeroed memory; bad arguments are EINVAL; protect makes a write fault and commit
// undoes it; decommit (MADV_DONTNEED) makes pages read as zero, and the lazy one (MADV_FREE)
// succeeds; move (mremap) carries pages with their contents and unmaps the source; page_size,
// now_ns and random_bytes. Also checks the FakeOs of tests/fake_os.h, including its region
// count across partial releases and moves.
#include <errno.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <thread>

#include "fake_os.h"
#include "os/os.h"

namespace {

using memkit::os::system_os;
using memkit::test::FakeOs;
using memkit::test::FakeOsScope;

constexpr size_t KiB = 1024, MiB = KiB * KiB;

const size_t kPage = static_cast<size_t>(sysconf(_SC_PAGESIZE));

bool page_is_zero(const unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (p[i] != 0) return false;
  return true;
}

class OsReserveAlign : public ::testing::TestWithParam<size_t> {};

TEST_P(OsReserveAlign, AlignedWritableZeroed) {
  const size_t align = GetParam();
  for (size_t size : {kPage, 3 * kPage, align}) {
    void* p = nullptr;
    ASSERT_EQ(system_os().reserve(size, align, &p), 0) << "size " << size << " align " << align;
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u) << p;
    auto* bytes = static_cast<unsigned char*>(p);
    // First page, last page, and a page in the middle: zero, then writable.
    const size_t offsets[] = {0, (size / kPage / 2) * kPage, size - kPage};
    for (size_t off : offsets) EXPECT_TRUE(page_is_zero(bytes + off, kPage)) << "offset " << off;
    for (size_t off : offsets) {
      std::memset(bytes + off, 0x5a, kPage);
      EXPECT_EQ(bytes[off + kPage - 1], 0x5a);
    }
    EXPECT_EQ(system_os().release(p, size), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Alignments, OsReserveAlign,
                         ::testing::Values(kPage, 64 * KiB, 2 * MiB, 256 * MiB),
                         [](const ::testing::TestParamInfo<size_t>& param_info) {
                           return std::to_string(param_info.param / KiB) + "KiB";
                         });

TEST(Os, ReserveSmallAlignIsPageAligned) {
  void* p = nullptr;
  ASSERT_EQ(system_os().reserve(kPage, 16, &p), 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kPage, 0u);
  EXPECT_EQ(system_os().release(p, kPage), 0);
}

TEST(Os, ReserveBadArgumentsAreEinval) {
  void* p = reinterpret_cast<void*>(0x1234);
  EXPECT_EQ(system_os().reserve(0, kPage, &p), EINVAL);
  EXPECT_EQ(system_os().reserve(kPage + 1, kPage, &p), EINVAL);
  EXPECT_EQ(system_os().reserve(kPage / 2, kPage, &p), EINVAL);
  EXPECT_EQ(system_os().reserve(kPage, 3 * kPage, &p), EINVAL);
  EXPECT_EQ(system_os().reserve(kPage, 0, &p), EINVAL);
  EXPECT_EQ(system_os().reserve(kPage, 96 * KiB, &p), EINVAL);
  EXPECT_EQ(p, reinterpret_cast<void*>(0x1234)) << "out written on failure";
}

TEST(Os, ReserveHugeFailsWithoutCrash) {
  void* p = nullptr;
  const size_t huge = (SIZE_MAX / 2) & ~(kPage - 1);
  EXPECT_NE(system_os().reserve(huge, kPage, &p), 0);
  EXPECT_NE(system_os().reserve(huge, 2 * MiB, &p), 0);
  // size + align overflows size_t: ENOMEM, not a wrapped-around small mapping.
  EXPECT_EQ(system_os().reserve(SIZE_MAX & ~(kPage - 1), 2 * MiB, &p), ENOMEM);
}

TEST(OsDeathTest, ProtectedWriteFaultsAndCommitRestores) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  void* p = nullptr;
  ASSERT_EQ(system_os().reserve(2 * kPage, kPage, &p), 0);
  volatile unsigned char* bytes = static_cast<unsigned char*>(p);
  bytes[0] = 1;
  bytes[kPage] = 2;
  ASSERT_EQ(system_os().protect(p, kPage), 0);
  EXPECT_DEATH(bytes[0] = 3, "");
  bytes[kPage] = 4;  // the unprotected page is still writable
  ASSERT_EQ(system_os().commit(p, kPage), 0);
  EXPECT_EQ(bytes[0], 1) << "protect/commit keep the contents";
  bytes[0] = 5;
  EXPECT_EQ(bytes[0], 5);
  EXPECT_EQ(system_os().release(p, 2 * kPage), 0);
}

TEST(Os, DecommitMakesPagesReadZero) {
  const size_t size = 16 * kPage;
  void* p = nullptr;
  ASSERT_EQ(system_os().reserve(size, kPage, &p), 0);
  std::memset(p, 0xab, size);
  ASSERT_EQ(system_os().decommit(static_cast<char*>(p) + kPage, 14 * kPage, /*lazy=*/false), 0);
  auto* bytes = static_cast<unsigned char*>(p);
  EXPECT_EQ(bytes[0], 0xab);
  EXPECT_EQ(bytes[kPage - 1], 0xab);
  EXPECT_TRUE(page_is_zero(bytes + kPage, 14 * kPage));
  EXPECT_EQ(bytes[15 * kPage], 0xab);
  // Still usable after decommit.
  std::memset(bytes + kPage, 0x11, kPage);
  EXPECT_EQ(bytes[2 * kPage - 1], 0x11);
  EXPECT_EQ(system_os().release(p, size), 0);
}

TEST(Os, LazyDecommitSucceeds) {
  const size_t size = 16 * kPage;
  void* p = nullptr;
  ASSERT_EQ(system_os().reserve(size, kPage, &p), 0);
  std::memset(p, 0xcd, size);
  EXPECT_EQ(system_os().decommit(p, size, /*lazy=*/true), 0);
  // Contents are either kept or zero, page by page; a write sticks.
  auto* bytes = static_cast<unsigned char*>(p);
  for (size_t pg = 0; pg < 16; ++pg) {
    const unsigned char b = bytes[pg * kPage];
    EXPECT_TRUE(b == 0xcd || b == 0) << int(b);
  }
  bytes[0] = 7;
  EXPECT_EQ(bytes[0], 7);
  EXPECT_EQ(system_os().release(p, size), 0);
}

TEST(Os, DecommitOfUnmappedIsAnError) {
  void* p = nullptr;
  ASSERT_EQ(system_os().reserve(kPage, kPage, &p), 0);
  ASSERT_EQ(system_os().release(p, kPage), 0);
  // madvise on an unmapped range: ENOMEM; never a crash.
  EXPECT_NE(system_os().decommit(p, kPage, false), 0);
  EXPECT_NE(system_os().decommit(reinterpret_cast<void*>(kPage + 1), kPage, false), 0);
}

TEST(Os, HugepageHintIsHarmless) {
  void* p = nullptr;
  ASSERT_EQ(system_os().reserve(4 * MiB, 2 * MiB, &p), 0);
  const int err = system_os().hugepage_hint(p, 4 * MiB);
  EXPECT_TRUE(err == 0 || err == EINVAL) << err;  // EINVAL: THP not built in
  static_cast<char*>(p)[0] = 1;
  EXPECT_EQ(system_os().release(p, 4 * MiB), 0);
}

TEST(Os, MoveCarriesThePagesAndUnmapsTheSource) {
  void* src = nullptr;
  void* dst = nullptr;
  ASSERT_EQ(system_os().reserve(8 * kPage, kPage, &src), 0);
  ASSERT_EQ(system_os().reserve(16 * kPage, kPage, &dst), 0);
  unsigned char* s = static_cast<unsigned char*>(src);
  unsigned char* d = static_cast<unsigned char*>(dst);
  for (size_t i = 0; i < 8; ++i) s[i * kPage] = static_cast<unsigned char>(i + 1);
  std::memset(d, 0x77, 16 * kPage);
  // The middle 4 pages of src to the second quarter of dst.
  ASSERT_EQ(system_os().move(s + 2 * kPage, 4 * kPage, d + 4 * kPage), 0);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(d[(4 + i) * kPage], i + 3) << i;
  EXPECT_EQ(d[0], 0x77) << "the rest of dst is untouched";
  EXPECT_EQ(d[8 * kPage], 0x77);
  EXPECT_EQ(s[0], 1);
  EXPECT_EQ(s[7 * kPage], 8);
  // The moved range is no longer mapped at its old address: madvise there fails.
  EXPECT_NE(system_os().decommit(s + 2 * kPage, kPage, false), 0);
  EXPECT_NE(system_os().move(s + 2 * kPage, kPage, d), 0) << "nothing left to move";
  EXPECT_EQ(system_os().release(src, 8 * kPage), 0);  // unmapping a hole is fine
  EXPECT_EQ(system_os().release(dst, 16 * kPage), 0);
}

TEST(Os, SystemName) { EXPECT_STREQ(system_os().name, "system"); }

TEST(Os, PageSizeIsSysconf) {
  EXPECT_EQ(memkit::os::page_size(), kPage);
  EXPECT_EQ(memkit::os::page_size(), kPage) << "cached value";
}

TEST(Os, NowNsIsMonotonic) {
  uint64_t prev = memkit::os::now_ns();
  EXPECT_GT(prev, 0u);
  for (int i = 0; i < 100000; ++i) {
    const uint64_t t = memkit::os::now_ns();
    ASSERT_GE(t, prev);
    prev = t;
  }
  const uint64_t before = memkit::os::now_ns();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const uint64_t after = memkit::os::now_ns();
  // The coarse clock ticks every few ms: 30 ms of sleep shows at least 10 ms.
  EXPECT_GE(after - before, 10'000'000u);
  EXPECT_LT(after - before, 10'000'000'000u);
}

TEST(Os, RandomBytesFill) {
  unsigned char a[64], b[64];
  std::memset(a, 0, sizeof a);
  std::memset(b, 0, sizeof b);
  memkit::os::random_bytes(a, sizeof a);
  memkit::os::random_bytes(b, sizeof b);
  EXPECT_NE(std::memcmp(a, b, sizeof a), 0);
  EXPECT_FALSE(page_is_zero(a, sizeof a));
  // Odd lengths and zero length.
  unsigned char c[7] = {};
  memkit::os::random_bytes(c, sizeof c);
  memkit::os::random_bytes(c, 0);
  unsigned char big[4096] = {};
  memkit::os::random_bytes(big, sizeof big);
  size_t zeros = 0;
  for (unsigned char x : big) zeros += x == 0;
  EXPECT_LT(zeros, 100u);  // ~16 expected
}

// ---- the fake OS itself ----

TEST(FakeOs, ForwardsAndCounts) {
  FakeOsScope scope;
  const auto& os = FakeOs::api();
  const long long base = FakeOs::live_bytes();
  void* p = nullptr;
  ASSERT_EQ(os.reserve(8 * kPage, 64 * KiB, &p), 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % (64 * KiB), 0u);
  EXPECT_EQ(FakeOs::live_bytes(), base + static_cast<long long>(8 * kPage));
  EXPECT_EQ(os.protect(p, kPage), 0);
  EXPECT_EQ(os.commit(p, kPage), 0);
  EXPECT_EQ(os.decommit(p, kPage, false), 0);
  os.hugepage_hint(p, 8 * kPage);
  EXPECT_EQ(os.release(p, 8 * kPage), 0);
  EXPECT_EQ(FakeOs::live_bytes(), base);
  auto& s = FakeOs::state();
  EXPECT_EQ(s.reserve_calls, 1);
  EXPECT_EQ(s.release_calls, 1);
  EXPECT_EQ(s.protect_calls, 1);
  EXPECT_EQ(s.commit_calls, 1);
  EXPECT_EQ(s.decommit_calls, 1);
  EXPECT_EQ(s.hugepage_hint_calls, 1);
}

TEST(FakeOs, CountsRegionsAcrossPartialReleasesAndMoves) {
  FakeOsScope scope;
  const auto& os = FakeOs::api();
  const long long base = FakeOs::live_bytes();
  const long regions = FakeOs::live_regions();
  void* a = nullptr;
  void* b = nullptr;
  ASSERT_EQ(os.reserve(8 * kPage, kPage, &a), 0);
  ASSERT_EQ(os.reserve(8 * kPage, kPage, &b), 0);
  char* ac = static_cast<char*>(a);
  char* bc = static_cast<char*>(b);
  EXPECT_EQ(FakeOs::live_regions(), regions + 2);
  // Half of a moves into b; a's other half is released in two parts.
  ASSERT_EQ(os.move(ac, 4 * kPage, bc), 0);
  EXPECT_EQ(FakeOs::move_calls(), 1);
  EXPECT_EQ(FakeOs::live_bytes(), base + static_cast<long long>(12 * kPage));
  EXPECT_EQ(os.release(ac + 4 * kPage, 2 * kPage), 0);
  EXPECT_EQ(FakeOs::live_regions(), regions + 2) << "a still has mapped pages";
  EXPECT_EQ(os.release(ac + 6 * kPage, 2 * kPage), 0);
  EXPECT_EQ(FakeOs::live_regions(), regions + 1) << "a is gone";
  FakeOs::fail_moves(true);
  EXPECT_EQ(os.move(bc, kPage, bc + 4 * kPage), ENOMEM);
  FakeOs::stop_failing();
  EXPECT_EQ(os.release(b, 8 * kPage), 0);
  EXPECT_EQ(FakeOs::live_regions(), regions);
  EXPECT_EQ(FakeOs::live_bytes(), base);
}

TEST(FakeOs, InjectsFailures) {
  FakeOsScope scope;
  const auto& os = FakeOs::api();
  const long long base = FakeOs::live_bytes();
  void* p[4] = {};
  FakeOs::fail_nth_reserve(2);
  EXPECT_EQ(os.reserve(kPage, kPage, &p[0]), 0);
  EXPECT_EQ(os.reserve(kPage, kPage, &p[1]), ENOMEM);
  EXPECT_EQ(os.reserve(kPage, kPage, &p[1]), 0);
  FakeOs::fail_reserves_after(1);
  EXPECT_EQ(os.reserve(kPage, kPage, &p[2]), 0);
  EXPECT_EQ(os.reserve(kPage, kPage, &p[3]), ENOMEM);
  EXPECT_EQ(os.reserve(kPage, kPage, &p[3]), ENOMEM);
  FakeOs::fail_decommits(true);
  EXPECT_NE(os.decommit(p[0], kPage, false), 0);
  FakeOs::stop_failing();
  EXPECT_EQ(os.decommit(p[0], kPage, false), 0);
  EXPECT_EQ(os.reserve(kPage, kPage, &p[3]), 0);
  EXPECT_EQ(FakeOs::state().reserve_failures, 3);
  for (void* q : p) EXPECT_EQ(os.release(q, kPage), 0);
  EXPECT_EQ(FakeOs::live_bytes(), base);
}

// map() is reserve() without MAP_NORESERVE: aligned and zeroed the same way, and refused by the
// kernel's overcommit policy for what it would refuse glibc (64 TiB), where reserve() is not.
TEST(OsMap, AlignedWritableZeroed) {
  for (size_t align : {kPage, size_t{1} << 22, size_t{1} << 28}) {
    void* p = nullptr;
    ASSERT_EQ(system_os().map(3 * kPage, align, &p), 0);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u);
    EXPECT_EQ(static_cast<unsigned char*>(p)[2 * kPage], 0);
    static_cast<unsigned char*>(p)[2 * kPage] = 1;
    EXPECT_EQ(system_os().release(p, 3 * kPage), 0);
  }
}

TEST(OsMap, ImpossibleSizeIsRefused) {
  FILE* f = fopen("/proc/sys/vm/overcommit_memory", "r");
  int mode = 0;
  if (f != nullptr) {
    if (fscanf(f, "%d", &mode) != 1) mode = 0;
    fclose(f);
  }
  if (mode == 1) GTEST_SKIP() << "vm.overcommit_memory=1 grants every mapping";
  void* p = nullptr;
  EXPECT_EQ(system_os().map(size_t{1} << 46, kPage, &p), ENOMEM);
  EXPECT_EQ(system_os().map(size_t{1} << 46, size_t{1} << 22, &p), ENOMEM);
}

TEST(OsMap, AddressSpaceLimitIsTheSmallerRlimit) {
  struct rlimit as, data;
  ASSERT_EQ(getrlimit(RLIMIT_AS, &as), 0);
  ASSERT_EQ(getrlimit(RLIMIT_DATA, &data), 0);
  size_t want = SIZE_MAX;
  if (as.rlim_cur != RLIM_INFINITY) want = std::min<size_t>(want, as.rlim_cur);
  if (data.rlim_cur != RLIM_INFINITY) want = std::min<size_t>(want, data.rlim_cur);
  EXPECT_EQ(memkit::os::address_space_limit(), want);
}

}  // namespace
