// memkit CLI — the workloads of `memkit buddy simulate` (tools/memkit/workload.h)
//
// Two drivers of a BuddySim: a seeded random workload, and a recorded trace (trace.h). Both
// call `after_op` after every operation (for periodic reports) and return the blocks still
// allocated at the end (for the block map).
//
// The random workload, op by op:
//   - allocate when nothing is live, or when the live blocks hold fewer than 7/8 of the pages
//     and a 3-in-5 draw says so; otherwise free;
//   - an allocation's order k is drawn from 0..min(max_order, 6) with P(k) proportional to 2^-k
//     (half the requests are single pages, a few are 64-page blocks): mixed sizes at high
//     occupancy fragment the range, so large requests start
//     failing while pages are still free;
//   - a free picks a uniformly random live block;
//   - a failed allocation is counted and the workload goes on.
// All draws come from Prng (xoshiro256**), so a seed gives the same run everywhere.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "buddy_sim.h"
#include "trace.h"

namespace memkit::cli {

using AfterOp = std::function<void()>;

std::vector<Block> run_random(BuddySim& sim, uint64_t ops, uint64_t seed, const AfterOp& after_op);
std::vector<Block> run_trace(BuddySim& sim, const Trace& trace, const AfterOp& after_op);

}  // namespace memkit::cli
