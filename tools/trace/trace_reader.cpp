// memkit — the allocation trace reader (tools/trace/trace_reader.cpp): see trace_reader.h.
#include "trace_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <queue>
#include <tuple>
#include <unordered_map>

namespace memkit::trace {

FormatError::FormatError(size_t offset, const std::string& what)
    : std::runtime_error("corrupt trace at byte " + std::to_string(offset) + ": " + what),
      offset_(offset),
      reason_(what) {}

size_t ThreadTrace::file_offset(size_t stream_pos) const {
  // The last chunk that starts at or before stream_pos.
  auto it = std::upper_bound(chunks.begin(), chunks.end(), std::make_pair(stream_pos, SIZE_MAX));
  if (it == chunks.begin()) return 0;
  --it;
  return it->second + (stream_pos - it->first);
}

uint64_t freed_id(const Event& e) {
  if (!frees_a_block(e.kind) || e.ref_kind != 2) return 0;
  if (e.kind == kRealloc && e.id == 0 && e.size != 0) return 0;  // failed: the block lives on
  return e.ref;
}

uint64_t requested_bytes(const Event& e) {
  if (e.kind == kCalloc) {
    uint64_t total = 0;
    return __builtin_mul_overflow(e.nmemb, e.size, &total) ? UINT64_MAX : total;
  }
  if (e.kind == kPvalloc) return (e.size + 4095) & ~uint64_t{4095};
  return e.size;
}

std::string kind_name(const Event& e) {
  static const char* const kNames[] = {"malloc",        "calloc",         "realloc",
                                       "free",          "memalign",       "posix_memalign",
                                       "aligned_alloc", "valloc",         "pvalloc",
                                       "new",           "delete",         "delete(nothrow)",
                                       "thread"};
  std::string name = e.kind < kNumKinds ? kNames[e.kind] : "?";
  if (e.kind == kNew || e.kind == kDelete || e.kind == kDeleteNothrow) {
    if (e.flags & kFlagArray) name.insert(e.kind == kNew ? 3 : 6, "[]");
    std::string extra;
    if (e.kind == kNew && (e.flags & kFlagNothrow)) extra += "nothrow";
    if (e.kind == kDelete && (e.flags & kFlagSized)) extra += "sized";
    if (e.flags & kFlagAligned) extra += extra.empty() ? "aligned" : ",aligned";
    if (!extra.empty()) {
      if (e.kind == kDeleteNothrow) name.insert(name.size() - 1, "," + extra);
      else name += "(" + extra + ")";
    }
  }
  return name;
}

bool Cursor::next(Event* e) {
  if (pos_ >= t_->stream.size()) return false;
  const uint8_t* p = t_->stream.data() + pos_;
  decode_event(&p, t_->stream.data() + t_->stream.size(), &coder_, e);
  pos_ = static_cast<size_t>(p - t_->stream.data());
  return true;
}

namespace {

uint64_t read_u16(const uint8_t* p) { return p[0] | (uint64_t{p[1]} << 8); }
uint64_t read_u32(const uint8_t* p) {
  return p[0] | (uint64_t{p[1]} << 8) | (uint64_t{p[2]} << 16) | (uint64_t{p[3]} << 24);
}

// The blocks' story, thread by thread as a replay would run them: each thread goes on until an
// event frees a block that no thread has allocated yet; if every unfinished thread waits, the
// trace cannot be replayed (or is corrupt).
// With `waves`, thread i runs only once the first t.start_after[i] threads of t.by_last are
// done. Returns false (with waves) where the threads would wait on each other forever.
bool check_blocks(const TraceData& t, bool waves) {
  enum : uint8_t { kUnseen = 0, kLive = 1, kFreed = 2 };
  std::vector<uint8_t> state(t.max_id + 1, kUnseen);
  std::vector<uint8_t> finished(t.threads.size(), 0);
  size_t watermark = 0;  // the first `watermark` threads of by_last are finished
  struct Run {
    Cursor cursor;
    Event pending;
    bool has_pending = false;
    bool done = false;
    size_t at = 0;  // stream position of the pending event
  };
  std::vector<Run> runs;
  runs.reserve(t.threads.size());
  for (const ThreadTrace& th : t.threads) runs.push_back(Run{Cursor(th), Event{}, false, false, 0});
  size_t unfinished = runs.size();
  while (unfinished > 0) {
    bool progress = false;
    for (size_t i = 0; i < runs.size(); ++i) {
      Run& r = runs[i];
      const ThreadTrace& th = t.threads[i];
      if (waves && watermark < t.start_after[i]) continue;
      while (!r.done) {
        if (!r.has_pending) {
          r.at = r.cursor.position();
          if (!r.cursor.next(&r.pending)) {
            r.done = true;
            --unfinished;
            progress = true;
            finished[i] = 1;
            while (waves && watermark < t.by_last.size() && finished[t.by_last[watermark]]) ++watermark;
            break;
          }
          r.has_pending = true;
        }
        const Event& e = r.pending;
        const size_t where = th.file_offset(r.at);
        if (const uint64_t f = freed_id(e); f != 0) {
          if (f > t.max_id)
            throw FormatError(where, "frees block " + std::to_string(f) + ", above the largest id");
          if (state[f] == kFreed)
            throw FormatError(where, "frees block " + std::to_string(f) + " a second time");
          if (state[f] == kUnseen) break;  // waits for a thread to allocate it
          state[f] = kFreed;
        }
        if (const uint64_t a = e.id; a != 0) {
          if (a > t.max_id)
            throw FormatError(where, "allocates block " + std::to_string(a) + ", above the largest id");
          if (state[a] != kUnseen)
            throw FormatError(where, "allocates block " + std::to_string(a) + " a second time");
          state[a] = kLive;
        }
        r.has_pending = false;
        progress = true;
      }
    }
    if (!progress) {
      if (waves) return false;
      // Every unfinished thread waits for a block: name the first.
      for (size_t i = 0; i < runs.size(); ++i) {
        if (runs[i].done) continue;
        throw FormatError(t.threads[i].file_offset(runs[i].at),
                          "frees block " + std::to_string(freed_id(runs[i].pending)) +
                              ", which no thread allocates before (the threads would wait forever)");
      }
    }
  }
  return true;
}

}  // namespace

TraceData parse_trace(const uint8_t* data, size_t size) {
  TraceData t;
  if (size < kHeaderSize) throw FormatError(size, "truncated header (" + std::to_string(size) + " of 16 bytes)");
  if (std::memcmp(data, kMagic, sizeof kMagic) != 0) throw FormatError(0, "not a memkit trace (bad magic)");
  if (read_u16(data + 8) != kVersion)
    throw FormatError(8, "format version " + std::to_string(read_u16(data + 8)) + " (this memkit reads " +
                             std::to_string(kVersion) + ")");
  t.time_shift = data[10];
  if (t.time_shift > 32) throw FormatError(10, "time shift " + std::to_string(t.time_shift) + " above 32");
  if (data[11] != kHeaderSize) throw FormatError(11, "header size " + std::to_string(data[11]) + " (expected 16)");
  t.pid = static_cast<uint32_t>(read_u32(data + 12));

  std::map<uint64_t, ThreadTrace> threads;
  std::map<uint64_t, ThreadCoder> coders;
  uint64_t max_seen_id = 0, allocations = 0, events = 0;
  const uint8_t* const end = data + size;
  const uint8_t* p = data + kHeaderSize;
  auto off = [&](const uint8_t* q) { return static_cast<size_t>(q - data); };
  bool ended = false;
  uint64_t end_threads = 0, end_events = 0, end_ids = 0;
  while (p < end) {
    const uint8_t* const at = p;
    const uint8_t tag = *p++;
    if (tag == kEndTag) {
      if (!get_varint(&p, end, &end_threads) || !get_varint(&p, end, &end_events) ||
          !get_varint(&p, end, &end_ids))
        throw FormatError(off(p), "truncated or bad end marker");
      if (static_cast<size_t>(end - p) < sizeof kEndMagic)
        throw FormatError(off(p), "truncated end marker");
      if (std::memcmp(p, kEndMagic, sizeof kEndMagic) != 0) throw FormatError(off(p), "bad end marker");
      p += sizeof kEndMagic;
      if (p != end) throw FormatError(off(p), std::to_string(end - p) + " bytes after the end marker");
      ended = true;
      break;
    }
    if (tag != kChunkTag) throw FormatError(off(at), "expected a chunk or the end marker");
    uint64_t index = 0, length = 0;
    if (!get_varint(&p, end, &index)) throw FormatError(off(p), "truncated or bad chunk header");
    if (index == 0) throw FormatError(off(at) + 1, "thread index 0");
    const uint8_t* const length_at = p;
    if (!get_varint(&p, end, &length)) throw FormatError(off(p), "truncated or bad chunk header");
    if (length == 0) throw FormatError(off(length_at), "empty chunk");
    if (length > static_cast<uint64_t>(end - p))
      throw FormatError(size, "truncated chunk (" + std::to_string(length) + " bytes announced at byte " +
                                  std::to_string(off(length_at)) + ", " + std::to_string(end - p) + " left)");
    const uint8_t* const chunk_end = p + length;
    auto [it, fresh] = threads.try_emplace(index);
    ThreadTrace& th = it->second;
    ThreadCoder& coder = coders[index];
    if (fresh) th.index = index;
    th.chunks.emplace_back(th.stream.size(), off(p));
    while (p < chunk_end) {
      const uint8_t* q = p;
      Event e;
      if (const char* why = decode_event(&q, chunk_end, &coder, &e); why != nullptr)
        throw FormatError(off(q), why);
      const bool first = th.events == 0;
      if (first != (e.kind == kThread))
        throw FormatError(off(p), first ? "a thread's first event is not its thread event"
                                        : "a second thread event in one thread");
      if (e.kind == kThread) th.tid = e.tid, th.first_tick = e.tick;
      th.last_tick = e.tick;
      if (e.id != 0) ++allocations;
      max_seen_id = std::max({max_seen_id, e.id, e.ref_kind == 2 ? e.ref : 0});
      ++th.events;
      ++events;
      p = q;
    }
    th.stream.insert(th.stream.end(), chunk_end - length, chunk_end);
  }
  if (!ended) throw FormatError(size, "truncated: no end marker (the program did not exit normally?)");
  if (end_events != events)
    throw FormatError(size, "the end marker counts " + std::to_string(end_events) + " events, the chunks hold " +
                                std::to_string(events));
  if (!threads.empty() && threads.rbegin()->first > end_threads)
    throw FormatError(size, "thread index " + std::to_string(threads.rbegin()->first) +
                                " above the end marker's " + std::to_string(end_threads) + " threads");
  if (max_seen_id > end_ids)
    throw FormatError(size, "block id " + std::to_string(max_seen_id) + " above the end marker's largest id " +
                                std::to_string(end_ids));
  // Ids are handed out in runs of 1024 to a thread when it allocates: more is impossible.
  if (end_ids > 1024 * (allocations + 1))
    throw FormatError(size, "the end marker's largest id " + std::to_string(end_ids) + " is impossible for " +
                                std::to_string(allocations) + " allocations");
  t.events = events;
  t.max_id = end_ids;
  for (auto& [index, th] : threads) t.threads.push_back(std::move(th));
  check_blocks(t, false);
  // The replay's start order: waves, unless they could wait forever (a cross-thread free
  // stamped before its allocation at a thread's end can say so).
  t.by_last.resize(t.threads.size());
  for (size_t i = 0; i < t.by_last.size(); ++i) t.by_last[i] = i;
  std::stable_sort(t.by_last.begin(), t.by_last.end(), [&](size_t a, size_t b) {
    return t.threads[a].last_tick < t.threads[b].last_tick;
  });
  t.start_after.resize(t.threads.size());
  for (size_t i = 0; i < t.threads.size(); ++i) {
    const uint64_t first = t.threads[i].first_tick;
    t.start_after[i] = static_cast<size_t>(
        std::partition_point(t.by_last.begin(), t.by_last.end(),
                             [&](size_t j) { return t.threads[j].last_tick < first; }) -
        t.by_last.begin());
  }
  if (!check_blocks(t, true)) {
    t.by_last.clear();
    t.start_after.clear();
  }
  return t;
}

TraceData read_trace(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(path + ": " + std::strerror(errno));
  std::vector<uint8_t> bytes;
  struct stat st {};
  if (fstat(fd, &st) == 0 && st.st_size > 0) bytes.reserve(static_cast<size_t>(st.st_size));
  uint8_t buf[1 << 16];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      throw std::runtime_error(path + ": " + std::strerror(err));
    }
    if (n == 0) break;
    bytes.insert(bytes.end(), buf, buf + n);
  }
  close(fd);
  return parse_trace(bytes.data(), bytes.size());
}

void for_each_in_time_order(const TraceData& t, const std::function<void(size_t, const Event&)>& f) {
  struct Head {
    uint64_t tick;
    size_t thread;
    bool operator>(const Head& o) const { return std::tie(tick, thread) > std::tie(o.tick, o.thread); }
  };
  std::vector<Cursor> cursors;
  std::vector<Event> pending(t.threads.size());
  std::priority_queue<Head, std::vector<Head>, std::greater<Head>> heap;
  for (size_t i = 0; i < t.threads.size(); ++i) {
    cursors.emplace_back(t.threads[i]);
    if (cursors[i].next(&pending[i])) heap.push({pending[i].tick, i});
  }
  // A cross-thread free may carry an earlier time than its allocation (each is stamped after
  // its table update): it waits for the allocation, as in a replay.
  std::vector<uint8_t> seen(t.max_id + 1, 0);
  std::unordered_map<uint64_t, size_t> waiting;  // block id -> the thread waiting to free it
  while (!heap.empty()) {
    const Head h = heap.top();
    heap.pop();
    const Event& e = pending[h.thread];
    if (const uint64_t freed = freed_id(e); freed != 0 && freed <= t.max_id && !seen[freed]) {
      waiting[freed] = h.thread;
      continue;
    }
    f(h.thread, e);
    if (e.id != 0 && e.id <= t.max_id) {
      seen[e.id] = 1;
      if (auto w = waiting.find(e.id); w != waiting.end()) {
        heap.push({e.tick, w->second});
        waiting.erase(w);
      }
    }
    if (cursors[h.thread].next(&pending[h.thread])) heap.push({pending[h.thread].tick, h.thread});
  }
}

}  // namespace memkit::trace
