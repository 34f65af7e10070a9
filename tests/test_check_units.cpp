// memkit — unit tests of the checked mode's parts that run in-process (tests/test_check_units.cpp):
// the stack depot, the suppressions parser, the /proc/self/maps parser and the leak graph's
// direct/indirect classification. The checked malloc itself is tested as users meet it, by the
// corpus in tests/checked/ (ctest check_corpus).
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "check/check.h"
#include "check/leak.h"
#include "check/stack_depot.h"
#include "check/stack_trace.h"
#include "check/suppressions.h"
#include "os/proc_maps.h"

namespace {

using memkit::check::LeakNode;
using memkit::check::StackDepot;
using memkit::check::Suppressions;

TEST(StackDepot, DeduplicatesAndKeepsFrames) {
  StackDepot depot;
  ASSERT_EQ(depot.init(size_t{8} << 20), 0);
  const uintptr_t a[] = {0x1000, 0x2000, 0x3000};
  const uintptr_t b[] = {0x1000, 0x2000, 0x3001};
  const uint32_t ia = depot.put(a, 3);
  const uint32_t ib = depot.put(b, 3);
  EXPECT_NE(ia, 0u);
  EXPECT_NE(ib, 0u);
  EXPECT_NE(ia, ib);
  EXPECT_EQ(depot.put(a, 3), ia);
  EXPECT_EQ(depot.put(a, 2), depot.put(a, 2));  // a prefix is its own stack
  EXPECT_NE(depot.put(a, 2), ia);
  EXPECT_EQ(depot.size(), 3u);
  const uintptr_t* frames = nullptr;
  ASSERT_EQ(depot.get(ib, &frames), 3u);
  EXPECT_EQ(frames[2], 0x3001u);
  EXPECT_EQ(depot.put(a, 0), 0u);  // empty stack
  EXPECT_EQ(depot.get(0, &frames), 0u);
}

TEST(StackDepot, ManyStacksAndCapture) {
  StackDepot depot;
  ASSERT_EQ(depot.init(size_t{16} << 20), 0);
  uintptr_t f[8];
  for (uintptr_t i = 0; i < 20000; ++i) {
    for (uintptr_t k = 0; k < 8; ++k) f[k] = 0x400000 + i * 16 + k;
    ASSERT_NE(depot.put(f, 8), 0u);
  }
  EXPECT_EQ(depot.size(), 20000u);
  for (uintptr_t k = 0; k < 8; ++k) f[k] = 0x400000 + 777 * 16 + k;
  const uint32_t id = depot.put(f, 8);
  EXPECT_EQ(depot.size(), 20000u);
  const uintptr_t* frames = nullptr;
  ASSERT_EQ(depot.get(id, &frames), 8u);
  EXPECT_EQ(frames[0], 0x400000u + 777 * 16);
  // A real capture: this test's own function is among the frames and symbolizes to its name.
  uintptr_t captured[memkit::check::kMaxFrames];
  const unsigned n = memkit::check::capture_stack(captured, 16);
  ASSERT_GT(n, 1u);
  bool found = false;
  for (unsigned i = 0; i < n && !found; ++i) {
    memkit::check::SymbolizedFrame s;
    memkit::check::symbolize(captured[i], true, &s);
    found = std::strstr(s.function, "ManyStacksAndCapture") != nullptr;
  }
  EXPECT_TRUE(found);
}

char g_described_global[48];

// An invalid free's address that is no heap block is described: a global by its ELF symbol and
// the offset into it, a local by the stack it is on (this thread's) and the frame that holds it.
__attribute__((noinline)) void describe_a_local(char* buf, size_t len) {
  volatile char local[16] = {};
  memkit::check::describe_address(reinterpret_cast<uintptr_t>(&local[3]), buf, len);
}

TEST(DescribeAddress, NamesTheGlobalAndTheStack) {
  char buf[600];
  memkit::check::describe_address(reinterpret_cast<uintptr_t>(&g_described_global[5]), buf, sizeof buf);
  EXPECT_NE(std::strstr(buf, "g_described_global' (5 bytes into its "), nullptr) << buf;
  describe_a_local(buf, sizeof buf);
  EXPECT_NE(std::strstr(buf, "on the stack of thread "), nullptr) << buf;
  EXPECT_NE(std::strstr(buf, "(this thread), in the frame of "), nullptr) << buf;
  EXPECT_NE(std::strstr(buf, "describe_a_local"), nullptr) << buf;
}

TEST(Suppressions, ParsesKindsPatternsAndComments) {
  static Suppressions s;  // large: not on the stack
  const char text[] =
      "# comment\n"
      "\n"
      "leak:libfoo.so\n"
      "  heap-use-after-free:Cache::drop*  \n"
      "*:third_party/\n"
      "my_function\n"
      "std::vector<int>::push_back\n"
      "bogus-kind:x\n"
      "leak:\n";
  EXPECT_EQ(s.parse(text, sizeof text - 1), 2);  // bogus-kind:x and an empty pattern
  EXPECT_EQ(s.size(), 5u);
  EXPECT_TRUE(s.matches("leak", "/usr/lib/libfoo.so.1"));
  EXPECT_FALSE(s.matches("double-free", "/usr/lib/libfoo.so.1"));
  EXPECT_TRUE(s.matches("heap-use-after-free", "ns::Cache::drop_all(int)"));
  EXPECT_FALSE(s.matches("heap-use-after-free", "ns::Cache::keep()"));
  EXPECT_TRUE(s.matches("double-free", "/src/third_party/x.c"));
  EXPECT_TRUE(s.matches("invalid-free", "my_function"));
  EXPECT_TRUE(s.matches("leak", "std::vector<int>::push_back(int const&)"));
  EXPECT_FALSE(s.matches("leak", ""));
}

TEST(Suppressions, Wildcards) {
  EXPECT_TRUE(Suppressions::pattern_matches("a*c", "xxabbbcxx"));
  EXPECT_TRUE(Suppressions::pattern_matches("abc", "abc"));
  EXPECT_FALSE(Suppressions::pattern_matches("abd", "abc"));
  EXPECT_TRUE(Suppressions::pattern_matches("*", "anything"));
  EXPECT_FALSE(Suppressions::pattern_matches("a*z", "abc"));
  EXPECT_FALSE(Suppressions::pattern_matches("", "abc"));
}

TEST(ProcMaps, ParsesLines) {
  memkit::os::MapsEntry e;
  const std::string line =
      "7f3a2c400000-7f3a2c600000 rw-p 00001000 08:01 1234        /usr/lib/libx.so";
  ASSERT_TRUE(memkit::os::parse_maps_line(line.data(), line.size(), &e));
  EXPECT_EQ(e.start, 0x7f3a2c400000u);
  EXPECT_EQ(e.end, 0x7f3a2c600000u);
  EXPECT_TRUE(e.readable);
  EXPECT_TRUE(e.writable);
  EXPECT_FALSE(e.executable);
  EXPECT_FALSE(e.shared);
  EXPECT_EQ(std::string(e.path, e.path_len), "/usr/lib/libx.so");
  const std::string anon = "7ffd1000-7ffd2000 ---s 00000000 00:00 0 ";
  ASSERT_TRUE(memkit::os::parse_maps_line(anon.data(), anon.size(), &e));
  EXPECT_FALSE(e.readable);
  EXPECT_TRUE(e.shared);
  EXPECT_EQ(e.path_len, 0u);
  const std::string bad = "hello world";
  EXPECT_FALSE(memkit::os::parse_maps_line(bad.data(), bad.size(), &e));
}

int g_writable = 42;

TEST(ProcMaps, FindsTheStackAndTheDataSegment) {
  struct Ctx {
    uintptr_t local;
    uintptr_t global;
    bool local_found = false;
    bool global_found = false;
    size_t count = 0;
  } ctx;
  int here = 0;
  ctx.local = reinterpret_cast<uintptr_t>(&here);
  ctx.global = reinterpret_cast<uintptr_t>(&g_writable);
  char buf[256];  // small: lines longer than this are skipped, the others still read
  char big[4096];
  ASSERT_EQ(memkit::os::for_each_mapping(
                big, sizeof big,
                [](void* c, const memkit::os::MapsEntry& e) {
                  Ctx* x = static_cast<Ctx*>(c);
                  ++x->count;
                  if (x->local >= e.start && x->local < e.end) x->local_found = e.writable;
                  if (x->global >= e.start && x->global < e.end) x->global_found = e.writable;
                },
                &ctx),
            0);
  EXPECT_TRUE(ctx.local_found);
  EXPECT_TRUE(ctx.global_found);
  EXPECT_GT(ctx.count, 5u);
  size_t small_count = 0;
  ASSERT_EQ(memkit::os::for_each_mapping(
                buf, sizeof buf,
                [](void* c, const memkit::os::MapsEntry&) { ++*static_cast<size_t*>(c); },
                &small_count),
            0);
  EXPECT_GT(small_count, 5u);
}

// Blocks of 4 words in a static array stand for heap blocks; the leak graph only reads them.
struct Mem {
  uintptr_t w[4];
};

TEST(LeakGraph, DirectIndirectCyclesAndInteriorPointers) {
  static Mem blocks[8];
  static Mem root;
  std::memset(blocks, 0, sizeof blocks);
  std::memset(&root, 0, sizeof root);
  auto addr = [](int i) { return reinterpret_cast<uintptr_t>(&blocks[i]); };
  // root -> 0 (interior pointer) -> 1 ; 2 (leaked) -> 3 -> 4 ; 5 <-> 6 (a leaked cycle) ; 7 -> 7
  root.w[1] = addr(0) + 12;
  blocks[0].w[0] = addr(1);
  blocks[2].w[3] = addr(3);
  blocks[3].w[0] = addr(4);
  blocks[5].w[0] = addr(6);
  blocks[6].w[0] = addr(5);
  blocks[7].w[2] = addr(7);
  LeakNode nodes[8];
  for (int i = 7; i >= 0; --i)  // unsorted on purpose
    nodes[7 - i] = LeakNode{addr(i), addr(i) + sizeof(Mem), static_cast<uint32_t>(i), 0};
  memkit::check::sort_nodes(nodes, 8);
  for (int i = 0; i < 8; ++i) ASSERT_EQ(nodes[i].begin, addr(i));
  EXPECT_EQ(memkit::check::find_node(nodes, 8, addr(3) + 31), 3u);
  EXPECT_EQ(memkit::check::find_node(nodes, 8, addr(0) - 1), SIZE_MAX);
  size_t work[8];
  memkit::check::mark_from(nodes, 8, reinterpret_cast<uintptr_t>(&root),
                           reinterpret_cast<uintptr_t>(&root + 1), memkit::check::kReached, work);
  memkit::check::classify(nodes, 8, work);
  using memkit::check::kDirect;
  using memkit::check::kIndirect;
  using memkit::check::kReached;
  EXPECT_TRUE(nodes[0].flags & kReached);
  EXPECT_TRUE(nodes[1].flags & kReached);
  EXPECT_TRUE(nodes[2].flags & kDirect);
  EXPECT_TRUE(nodes[3].flags & kIndirect);
  EXPECT_TRUE(nodes[4].flags & kIndirect);
  // The cycle: exactly one of the two is called direct, the other indirect.
  EXPECT_EQ(((nodes[5].flags & kDirect) != 0) + ((nodes[6].flags & kDirect) != 0), 1);
  EXPECT_EQ(((nodes[5].flags & kIndirect) != 0) + ((nodes[6].flags & kIndirect) != 0), 1);
  EXPECT_TRUE(nodes[7].flags & kDirect);  // pointing to itself does not make it indirect
  for (int i = 0; i < 2; ++i) EXPECT_FALSE(nodes[i].flags & (kDirect | kIndirect));
}

TEST(FillCheck, FindsTheFirstWrongByteAtEveryOffsetAndLength) {
  // Against the obvious loop: every length 0..300 from every alignment 0..15, clean and with one
  // or two bytes changed anywhere (the SSE2 steps, the overlapping tail, the byte loop); and
  // all_bytes_equal, whose inline compares cover 16..64 bytes, at every changed byte up to 80.
  alignas(64) unsigned char buf[400];
  auto naive = [](const unsigned char* p, size_t n, unsigned char byte) -> const unsigned char* {
    for (size_t i = 0; i < n; ++i)
      if (p[i] != byte) return p + i;
    return nullptr;
  };
  for (unsigned char byte : {0xfd, 0x00}) {
    for (size_t align = 0; align < 16; ++align) {
      for (size_t n = 0; n <= 300; ++n) {
        unsigned char* p = buf + align;
        memset(buf, byte, sizeof buf);
        buf[align - (align > 0 ? 1 : 0)] = align > 0 ? static_cast<unsigned char>(byte ^ 1) : byte;  // outside: ignored
        if (align + n < sizeof buf) p[n] = static_cast<unsigned char>(byte ^ 0x80);                // just past: ignored
        ASSERT_EQ(memkit::check::first_byte_not(p, n, byte), nullptr) << n << " " << align;
        ASSERT_TRUE(memkit::check::all_bytes_equal(p, n, byte)) << n << " " << align;
        for (size_t bad = 0; bad < n; bad += (n > 80 ? 7 : 1)) {
          p[bad] = static_cast<unsigned char>(byte ^ 0x10);
          ASSERT_EQ(memkit::check::first_byte_not(p, n, byte), naive(p, n, byte)) << n << " " << align << " " << bad;
          ASSERT_FALSE(memkit::check::all_bytes_equal(p, n, byte)) << n << " " << align << " " << bad;
          if (bad + 3 < n) {
            p[bad + 3] = static_cast<unsigned char>(byte ^ 0x01);
            ASSERT_EQ(memkit::check::first_byte_not(p, n, byte), p + bad);
            p[bad + 3] = byte;
          }
          p[bad] = byte;
        }
      }
    }
  }
}

}  // namespace

// A stack taken in a signal handler: the frame the signal interrupted has an exact pc (it was
// stopped there, it did not call anything), so it must not be symbolized at pc - 1 as return
// addresses are, nor the trampoline itself; the frames above them are return addresses again.
namespace {
uintptr_t g_sig_frames[64];
unsigned g_sig_depth = 0;
void capture_in_handler(int) { g_sig_depth = memkit::check::capture_stack(g_sig_frames, 64); }
}  // namespace

TEST(StackTrace, FrameInterruptedBySignalIsExact) {
  struct sigaction sa = {}, old = {};
  sa.sa_handler = capture_in_handler;
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  raise(SIGUSR1);
  sigaction(SIGUSR1, &old, nullptr);
  ASSERT_GT(g_sig_depth, 2u);
  unsigned k = 0;
  while (k < g_sig_depth && !memkit::check::is_signal_trampoline(g_sig_frames[k])) ++k;
  ASSERT_LT(k + 2, g_sig_depth) << "no signal trampoline in the handler's stack";
  for (unsigned i = 0; i < k; ++i) EXPECT_TRUE(memkit::check::frame_is_return_address(g_sig_frames, i, false)) << i;
  EXPECT_FALSE(memkit::check::frame_is_return_address(g_sig_frames, k, false));
  EXPECT_FALSE(memkit::check::frame_is_return_address(g_sig_frames, k + 1, false));
  EXPECT_TRUE(memkit::check::frame_is_return_address(g_sig_frames, k + 2, false));
  EXPECT_FALSE(memkit::check::frame_is_return_address(g_sig_frames, 0, true));
}

// The checker's own heap (InternalHeapScope): what libdw, Capstone and the demangler allocate
// while a report is printed is not a checked block, and is taken back by free, realloc and
// malloc_usable_size after the scope has ended (libdw frees its caches long after a report).
TEST(InternalHeap, BlocksMadeInAScopeAreKnownAfterIt) {
  using memkit::check::is_internal_block;
  struct Case {
    size_t size;
    size_t align;
  };
  const Case cases[] = {{0, 0},      {1, 0},          {24, 0},     {4000, 0},        {32768 - 16, 0},
                        {32768, 0},  {40000, 0},      {5 << 20, 0}, {24, 64},        {100, 4096}};
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "size " << c.size << " align " << c.align);
    unsigned char* p = nullptr;
    {
      memkit::check::InternalHeapScope scope;
      p = static_cast<unsigned char*>(memkit::check::allocate(c.size, c.align, memkit::check::kMalloc, true));
      ASSERT_NE(p, nullptr);
      EXPECT_TRUE(is_internal_block(p));
      if (c.align != 0) {
        EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % c.align, 0u);
      }
      for (size_t i = 0; i < c.size; ++i) ASSERT_EQ(p[i], 0) << "calloc'd byte " << i;
      memset(p, 0x5a, c.size);
    }
    EXPECT_GE(memkit::check::usable_size(p, "malloc_usable_size"), c.size);
    unsigned char* q = static_cast<unsigned char*>(memkit::check::reallocate(p, c.size + 100, "realloc"));
    ASSERT_NE(q, nullptr);
    EXPECT_TRUE(is_internal_block(q));  // still the library's block, out of the scope too
    for (size_t i = 0; i < c.size; ++i) ASSERT_EQ(q[i], 0x5a) << "byte " << i << " after realloc";
    memkit::check::deallocate(q, memkit::check::kMalloc, false, 0, "free");
    EXPECT_FALSE(is_internal_block(q));
  }
  // Out of a scope, malloc makes checked blocks, which are not the checker's own.
  void* checked = memkit::check::allocate(24, 0, memkit::check::kMalloc, false);
  ASSERT_NE(checked, nullptr);
  EXPECT_FALSE(is_internal_block(checked));
  memkit::check::deallocate(checked, memkit::check::kMalloc, false, 0, "free");
}
