// memkit — the drop-in malloc's lifecycle (src/malloc/lifecycle.cpp): see lifecycle.h.
#include "malloc/lifecycle.h"

#include <pthread.h>
#include <unistd.h>

#include "arena/background_purge.h"
#include "arena/page_heap.h"
#include "malloc/guard.h"
#include "options/options.h"
#include "profile/profile.h"
#include "slab/magazine.h"
#include "slab/registry.h"
#include "stats/live.h"
#include "stats/report.h"

namespace memkit {

namespace {

void fork_prepare() {
  guard::fork_prepare();
  stats_lock();
  profile::fork_prepare();
  registry_fork_prepare();
  global_page_heap().fork_prepare();
}

void fork_release() {
  global_page_heap().fork_release();
  registry_fork_release();
  profile::fork_release();
  stats_unlock();
}

void fork_release_parent() {
  fork_release();
  guard::fork_parent();
}

void fork_release_child() {
  fork_release();
  guard::fork_child();
  bg_purge::fork_child();
  live::fork_child();
}

pthread_once_t g_fork_once = PTHREAD_ONCE_INIT;

void register_fork_handlers() { pthread_atfork(fork_prepare, fork_release_parent, fork_release_child); }

}  // namespace

void install_fork_handlers() { pthread_once(&g_fork_once, register_fork_handlers); }

// Before main, and before any thread the program starts: the background purger is enabled (its
// thread starts only once a free leaves decayed blocks), which also lets the slab depots of idle
// caches shrink back. With stats_shm, the live segment, which the purger's thread refreshes
// (started at the first slow path even if purging is off).
void malloc_library_start() {
  install_fork_handlers();
  bg_purge::set_round_hook(magazine_decay_depots);
  bg_purge::enable();
  if (options().profile_sample != 0) profile::start();
  if (options().stats_shm) live::start();
  guard::start();  // the guarded pool and its fault handler, if guard_sample is set
}

// stats_pid: only that process reports (memkit run sets the program's own; its children inherit
// the options and may have reused the descriptors for something else).
void malloc_library_exit() {
  const Options& o = options();
  if (o.stats_fd < 0 && o.json_fd < 0 && o.profile_fd < 0) return;
  if (o.stats_pid != 0 && o.stats_pid != static_cast<long>(getpid())) return;
  if (o.profile_fd >= 0) profile::write_raw(static_cast<int>(o.profile_fd));
  if (o.stats_fd >= 0) write_report(static_cast<int>(o.stats_fd), /*json=*/false);
  if (o.json_fd >= 0) write_report(static_cast<int>(o.json_fd), /*json=*/true);
}

}  // namespace memkit
