// memkit CLI — reading a process's live statistics segment (tools/memkit/live_reader.h)
//
// `memkit stats`, `memkit top` and `memkit metrics` find the segment of a program running on
// libmemkit.so with stats_shm=1 among /proc/PID/fd/* (its link reads
// "/memfd:memkit-stats (deleted)"), map it read-only and copy it under its sequence counter
// (src/stats/live_segment.h). A PID that is gone, that belongs to another user, or whose
// process has no segment (not on libmemkit.so, or stats_shm off) is a Failure with exit status
// 1 and one line saying which.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "stats/live_segment.h"

namespace memkit::cli {

/// A process's segment, mapped; snapshot() copies it.
class LiveSource {
 public:
  /// `what` names the command in messages ("stats"). Throws Failure (status 1).
  LiveSource(pid_t pid, const std::string& what);
  ~LiveSource();
  LiveSource(const LiveSource&) = delete;
  LiveSource& operator=(const LiveSource&) = delete;

  /// A consistent copy of the figures; throws Failure if the process has gone or the writer
  /// never finished a refresh in time.
  void snapshot(live::LiveSegment* out) const;
  /// True while the process exists.
  bool alive() const;
  /// The process's resident set now (/proc/PID/statm), 0 if unreadable.
  uint64_t rss_bytes() const;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_;
  std::string what_;
  const live::LiveSegment* map_ = nullptr;
  size_t size_ = 0;
};

/// PID as a process ID (1..4194304): a usage error otherwise.
pid_t parse_live_pid(const std::string& text);

}  // namespace memkit::cli
