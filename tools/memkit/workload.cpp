// memkit CLI — the workloads of `memkit buddy simulate` (tools/memkit/workload.cpp): see
// workload.h for the random workload's rules.
#include "workload.h"

#include <algorithm>
#include <optional>

#include "prng.h"

namespace memkit::cli {
namespace {

constexpr unsigned kRandomMaxOrder = 6;

// k in 0..top with P(k) = 2^(top-k) / (2^(top+1) - 1), i.e. proportional to 2^-k.
unsigned draw_order(Prng& rng, unsigned top) {
  uint64_t r = rng.below((uint64_t{2} << top) - 1);
  unsigned k = 0;
  for (uint64_t weight = uint64_t{1} << top; r >= weight; weight >>= 1) {
    r -= weight;
    ++k;
  }
  return k;
}

}  // namespace

std::vector<Block> run_random(BuddySim& sim, uint64_t ops, uint64_t seed, const AfterOp& after_op) {
  Prng rng(seed);
  const unsigned top = std::min(sim.buddy().max_order(), kRandomMaxOrder);
  const uint64_t live_cap = sim.buddy().pages() - sim.buddy().pages() / 8;  // 7/8, rounded up
  std::vector<Block> live;
  uint64_t live_pages = 0;

  for (uint64_t i = 0; i < ops; ++i) {
    const bool allocate = live.empty() || (live_pages < live_cap && rng.below(5) < 3);
    if (allocate) {
      const unsigned order = draw_order(rng, top);
      if (const std::optional<size_t> page = sim.alloc(order)) {
        live.push_back(Block{*page, order});
        live_pages += uint64_t{1} << order;
      }
    } else {
      const size_t victim = rng.below(live.size());
      sim.free(live[victim]);
      live_pages -= uint64_t{1} << live[victim].order;
      live[victim] = live.back();
      live.pop_back();
    }
    after_op();
  }
  return live;
}

std::vector<Block> run_trace(BuddySim& sim, const Trace& trace, const AfterOp& after_op) {
  // By id: the block it names now, or nullopt when its allocation failed (or it is not live;
  // the trace was validated, so a free only meets a live or failed id).
  std::vector<std::optional<Block>> blocks(trace.ids);
  for (const TraceOp& op : trace.ops) {
    if (op.kind == TraceOp::Kind::kAlloc) {
      if (const std::optional<size_t> page = sim.alloc(op.order)) {
        blocks[op.id] = Block{*page, op.order};
      }
    } else if (blocks[op.id]) {
      sim.free(*blocks[op.id]);
      blocks[op.id].reset();
    } else {
      sim.skip_free();
    }
    after_op();
  }
  std::vector<Block> live;
  for (const std::optional<Block>& b : blocks) {
    if (b) live.push_back(*b);
  }
  return live;
}

}  // namespace memkit::cli
