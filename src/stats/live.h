// memkit — the live statistics segment, the writer's side (src/stats/live.h)
//
// See live_segment.h for the layout and the reader's rules. The drop-in malloc's start-up
// (malloc/lifecycle.cpp) calls start() when the option stats_shm is on; from then on the
// background purger's thread (arena/background_purge.h) refreshes the segment every
// stats_shm_ms, and at its purge rounds: nothing is added to malloc's or free's paths.
#pragma once

namespace memkit::live {

/// Creates the segment (a memfd, os::shared_file_create) and asks the background purger's
/// thread to refresh it every stats_shm_ms. False, with nothing left behind, if the segment
/// cannot be made. Idempotent.
bool start();

/// One refresh, under the stats lock (from the purger's thread; tests call it directly).
void refresh();

/// After fork(), in the child: the parent's segment is dropped (unmapped and closed: the
/// child must not write its figures over the parent's) and a fresh one made for the child.
void fork_child();

/// The segment's descriptor, or -1 (tests).
int segment_fd();

}  // namespace memkit::live
