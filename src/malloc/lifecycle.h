// memkit — the drop-in malloc's lifecycle (src/malloc/lifecycle.h)
//
// What libmemkit.so and libmemkit_malloc.a do besides answering calls, in one place, so that
// the override files are exports only: start-up (fork handlers, the background purger and its
// round hook, the live statistics segment when asked for), the fork handlers themselves, and
// the heap report at exit (options stats_fd / json_fd). It is the one file of the malloc layer
// that reaches the stats layer (src/stats/), which it wires in.
#pragma once

namespace memkit {

/// Makes fork() safe in multithreaded programs: pthread_atfork handlers that take every lock
/// of the heap (stats, slab layer, page heap) before the fork and release them after it, in
/// the parent and in the child. Once per process; libmemkit.so and libmemkit_malloc.a call it
/// at load time (programs on libmemkit.a alone do not get it). Limits, as for other
/// allocators: another library's atfork handler registered before memkit's must not allocate,
/// and the child keeps the parent's other threads' magazines unused (memory, not state).
void install_fork_handlers();

/// The drop-in malloc's start-up, from the override library's constructor (before main):
/// install_fork_handlers(), the background purger enabled with the slab depots' decay as its
/// round hook, and the live statistics segment (stats/live.h) if the option stats_shm is on.
void malloc_library_start();

/// The drop-in malloc's end, from the override library's destructor: the raw heap profile to
/// profile_fd, the heap report to stats_fd (text) and json_fd (JSON), in the process stats_pid
/// names (or every one if 0).
void malloc_library_exit();

}  // namespace memkit
