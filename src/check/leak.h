// memkit — the leak scan (src/check/leak.h)
//
// At exit, as LeakSanitizer does: every live block is a node; the roots are the process's
// readable, writable, private mappings (the data and bss of every loaded object, every thread's
// stack, static TLS, other allocators' memory) minus memkit's own heap and metadata, and minus
// the exiting thread's stack below the scan's own frame (dead frames there are zeroed first:
// they hold stale copies of pointers). Other threads are parked in a signal handler for the
// scan, so their registers sit in the signal frames on their stacks (leak.cpp). A conservative scan: any 8-byte-aligned word of a root, and any word at a multiple of 8
// from a block's start, whose value lies inside a live block marks that block, and marked blocks
// are scanned in turn. In a forked child, the blocks allocated before the fork are roots.
//
// Unmarked blocks are leaks: "direct" when no other leaked block points to them, "indirect"
// when one does (freeing the direct ones would have freed them). A cycle of leaked blocks with
// no direct entry gets one of its blocks called direct. Leaks are grouped by allocation stack
// and reported largest first; finish() then exits with leak_exitcode.
#pragma once

#include <cstddef>
#include <cstdint>

namespace memkit::check {

enum LeakFlags : uint8_t {
  kReached = 1,   // from a root
  kIndirect = 2,  // pointed to by another leaked block
  kDirect = 4,
  kSeen = 8,      // work flag of classify()
};

struct LeakNode {
  uintptr_t begin;
  uintptr_t end;  // begin + size (a 0-byte block still owns its first address)
  uint32_t stack;
  uint8_t flags;
};

/// Sorts nodes by begin.
void sort_nodes(LeakNode* nodes, size_t n);
/// The index of the node containing address w, or SIZE_MAX (nodes sorted, not overlapping).
size_t find_node(const LeakNode* nodes, size_t n, uintptr_t w);
/// Marks `flag` on every node reachable from the words of [lo, hi), transitively. work: room
/// for n indices.
void mark_from(LeakNode* nodes, size_t n, uintptr_t lo, uintptr_t hi, uint8_t flag, size_t* work);
/// Sets kDirect or kIndirect on every node without kReached. work: room for n indices.
void classify(LeakNode* nodes, size_t n, size_t* work);

struct LeakTotals {
  size_t groups = 0;  // reported (not suppressed)
  size_t bytes = 0;
  size_t blocks = 0;
};
/// The whole scan and its report (check.cpp's finish() calls it).
void leak_check_at_exit(LeakTotals* out);

}  // namespace memkit::check
