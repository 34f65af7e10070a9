// memkit — the allocation trace reader (tools/trace/trace_reader.h)
//
// Reads a trace written by libmemkit-trace.so (format: src/trace/trace_format.h, docs/traces.md)
// and checks all of it before anyone acts on it: the header, every chunk and event, the end
// marker and its counts, and the blocks' story: each id allocated once, freed at most once,
// never used before it is allocated (in its own thread or, for a cross-thread free, anywhere),
// and the threads' event streams replayable without waiting on each other forever. Anything
// wrong is one FormatError naming the byte offset in the file. Used by `memkit trace`,
// `memkit replay`, `memkit buddy simulate --trace`, the replayer and the fuzz harness.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "trace/trace_format.h"

namespace memkit::trace {

/// A truncated or corrupt trace: what is wrong, and where (byte offset in the file).
class FormatError : public std::runtime_error {
 public:
  FormatError(size_t offset, const std::string& what);
  size_t offset() const { return offset_; }
  const std::string& reason() const { return reason_; }

 private:
  size_t offset_;
  std::string reason_;
};

struct ThreadTrace {
  uint64_t index = 0;  // 1-based, as in the file
  uint64_t tid = 0;    // the OS thread id
  uint64_t events = 0;
  uint64_t first_tick = 0, last_tick = 0;
  std::vector<uint8_t> stream;                       // the thread's events, its chunks joined
  std::vector<std::pair<size_t, size_t>> chunks;     // (offset in stream, offset in the file)
  size_t file_offset(size_t stream_pos) const;
};

struct TraceData {
  uint32_t pid = 0;
  unsigned time_shift = 0;
  uint64_t events = 0;
  uint64_t max_id = 0;           // ids are 1..max_id
  std::vector<ThreadTrace> threads;  // by index
  // Thread start order for a replay ("waves"): by_last lists the threads' positions by the time
  // of their last event; a replay starts thread i once the first start_after[i] of them have
  // finished (those whose last event came before i's first), as a program that starts threads
  // in waves keeps only a wave alive. Empty when that order could make a replay wait forever
  // (then all threads start at once).
  std::vector<size_t> by_last;
  std::vector<size_t> start_after;
  double tick_ns() const { return static_cast<double>(uint64_t{1} << time_shift); }
};

/// Parses and checks a whole trace held in memory. Throws FormatError.
TraceData parse_trace(const uint8_t* data, size_t size);
/// Reads FILE and parses it. Throws FormatError, or std::runtime_error when it cannot be read.
TraceData read_trace(const std::string& path);

/// The events of one thread, in order.
class Cursor {
 public:
  explicit Cursor(const ThreadTrace& t) : t_(&t) {}
  /// The next event, or false at the end. The trace was checked: decoding cannot fail here.
  bool next(Event* e);
  size_t position() const { return pos_; }  // in the stream, of the next event

 private:
  const ThreadTrace* t_;
  size_t pos_ = 0;
  ThreadCoder coder_;
};

/// Every event of the trace in time order (ties: by thread index), with its thread's position
/// in TraceData::threads.
void for_each_in_time_order(const TraceData& t, const std::function<void(size_t, const Event&)>& f);

/// The name of an event kind ("malloc", "new[]", "delete(sized)", ...).
std::string kind_name(const Event& e);

/// The block an event allocates (0: none, or the call returned NULL) and the one it frees (0:
/// none, a null pointer or a foreign block).
inline uint64_t allocated_id(const Event& e) { return e.id; }
uint64_t freed_id(const Event& e);

/// The number of bytes an allocation event asked for.
uint64_t requested_bytes(const Event& e);

}  // namespace memkit::trace
