// memkit — the allocation trace format (src/trace/trace_format.h)
//
// The one place the format's constants and its varint/event coding live: the recorder
// (src/trace/recorder.cpp, libmemkit-trace.so), the reader (tools/trace/trace_reader.cpp: the
// CLI, the replayer, the fuzz harness) and the tests all include this header, so writer and
// reader cannot drift apart. docs/traces.md describes the format for users.
//
// File:   header, then chunks, then the end marker.
//   header (16 bytes): "MKTRACE\0", version (u16 LE), time shift (u8), header size (u8, 16),
//                      the recorded process's PID (u32 LE)
//   chunk:  kChunkTag, thread index (varint, 1-based), payload length (varint), payload:
//           whole events of that thread (an event never spans two chunks); a thread's chunks
//           are in the file in the thread's order, and its coding state carries over from one
//           of its chunks to the next
//   end:    kEndTag, threads (varint), events (varint), the largest block id (varint),
//           "MKTE"
// Event:  a tag byte (low 4 bits the kind, bit 4 "the new block's id is the thread's last id
//         + 1", bits 5..7 the kind's flags), the time since the thread's previous event in
//         ticks of 2^time_shift ns (varint), then the kind's fields (see docs/traces.md).
// Header-only and free of the STL and of allocation: the recorder runs inside malloc.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace memkit::trace {

inline constexpr char kMagic[8] = {'M', 'K', 'T', 'R', 'A', 'C', 'E', '\0'};
inline constexpr uint16_t kVersion = 1;
inline constexpr size_t kHeaderSize = 16;
inline constexpr unsigned kTimeShift = 8;  // a tick is 256 ns
inline constexpr uint8_t kChunkTag = 0x43;  // 'C'
inline constexpr uint8_t kEndTag = 0x45;    // 'E'
inline constexpr char kEndMagic[4] = {'M', 'K', 'T', 'E'};
inline constexpr size_t kMaxVarint = 10;
/// The longest event: tag, time, and at most four varints.
inline constexpr size_t kMaxEvent = 1 + 5 * kMaxVarint;

/// Environment of libmemkit-trace.so: the file to write, and the one PID that records (its
/// children, which inherit LD_PRELOAD, do not).
inline constexpr const char* kEnvFile = "MEMKIT_TRACE_FILE";
inline constexpr const char* kEnvPid = "MEMKIT_TRACE_PID";

enum Kind : uint8_t {
  kMalloc = 0,         // size, id
  kCalloc = 1,         // nmemb, size, id
  kRealloc = 2,        // ref, size, id
  kFree = 3,           // ref
  kMemalign = 4,       // align, size, id
  kPosixMemalign = 5,  // align, size, id (0 when it failed)
  kAlignedAlloc = 6,   // align, size, id
  kValloc = 7,         // size, id
  kPvalloc = 8,        // size, id
  kNew = 9,            // [align if kFlagAligned], size, id
  kDelete = 10,        // ref, [size if kFlagSized], [align if kFlagAligned]
  kDeleteNothrow = 11, // ref, [align if kFlagAligned]
  kThread = 12,        // the OS thread id: the first event of every thread
  kNumKinds = 13,
};

inline constexpr uint8_t kKindMask = 0x0f;
inline constexpr uint8_t kNextId = 0x10;       // allocations: the id is the thread's last + 1
inline constexpr uint8_t kFlagArray = 0x20;    // new[] / delete[]
inline constexpr uint8_t kFlagNothrow = 0x40;  // new (nothrow)
inline constexpr uint8_t kFlagSized = 0x40;    // delete (sized)
inline constexpr uint8_t kFlagAligned = 0x80;  // new / delete with std::align_val_t

/// A freed block's reference: 0 a null pointer, 1 a pointer the trace never saw allocated
/// (before recording began, or from another allocator: a replay skips it), else
/// zigzag(thread's last id - id) + 2.
inline constexpr uint64_t kRefNull = 0;
inline constexpr uint64_t kRefForeign = 1;

inline constexpr bool is_allocation(unsigned kind) {
  return kind <= kPvalloc ? kind != kFree : kind == kNew;
}
inline constexpr bool frees_a_block(unsigned kind) {
  return kind == kFree || kind == kRealloc || kind == kDelete || kind == kDeleteNothrow;
}

inline constexpr uint64_t zigzag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline constexpr int64_t unzigzag(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

inline uint8_t* put_varint(uint8_t* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<uint8_t>(v);
  return p;
}

/// Reads a varint at *p (below end); false if it runs past end or past 10 bytes or 64 bits.
inline bool get_varint(const uint8_t** p, const uint8_t* end, uint64_t* v) {
  uint64_t out = 0;
  const uint8_t* q = *p;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (q == end) return false;
    const uint8_t b = *q++;
    if (shift == 63 && b > 1) return false;
    out |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      *p = q;
      *v = out;
      return true;
    }
  }
  return false;
}

/// The coding state of one thread, the same in writer and reader.
struct ThreadCoder {
  uint64_t last_id = 0;    // the thread's last allocated block id (ids start at 1)
  uint64_t last_tick = 0;  // ticks since the trace began, at the thread's last event
};

/// One decoded event. `id` is the new block (0: the call returned NULL), `ref` the freed one
/// (kRefNull/kRefForeign in `ref_kind`, else the block id).
struct Event {
  uint8_t kind = 0;
  uint8_t flags = 0;  // the tag's bits 5..7
  uint64_t tick = 0;  // absolute, in ticks since the trace began
  uint64_t size = 0;
  uint64_t nmemb = 0;  // calloc
  uint64_t align = 0;
  uint64_t id = 0;
  uint64_t ref = 0;
  uint8_t ref_kind = 0;  // 0 null, 1 foreign, 2 a block id in `ref`
  uint64_t tid = 0;      // kThread
};

// ---- writing ----

inline uint8_t* put_ref(uint8_t* p, const ThreadCoder& c, uint64_t ref_kind, uint64_t id) {
  if (ref_kind < 2) return put_varint(p, ref_kind);
  return put_varint(p, zigzag(static_cast<int64_t>(c.last_id - id)) + 2);
}

/// The varint of a new block's id, when the tag's kNextId bit is not set.
inline uint64_t new_id_code(const ThreadCoder& c, uint64_t id) {
  return id == 0 ? 0 : zigzag(static_cast<int64_t>(id - (c.last_id + 1))) + 1;
}

// ---- reading ----

/// Decodes one event at *p (below end) with the thread's coder; returns nullptr and advances
/// *p, or what is wrong (then *p is where it went wrong). Checks the coding only: which ids
/// are live is the reader's business.
inline const char* decode_event(const uint8_t** p, const uint8_t* end, ThreadCoder* c, Event* e) {
  const uint8_t* q = *p;
  if (q == end) return "empty event";
  const uint8_t tag = *q++;
  *e = Event{};
  e->kind = tag & kKindMask;
  e->flags = tag & 0xe0;
  if (e->kind >= kNumKinds) {
    *p = q - 1;
    return "unknown event kind";
  }
  const bool alloc = is_allocation(e->kind);
  if ((tag & kNextId) != 0 && !alloc && e->kind != kRealloc) {
    *p = q - 1;
    return "next-id bit on an event that allocates nothing";
  }
  const bool new_flags = e->kind == kNew || e->kind == kDelete || e->kind == kDeleteNothrow;
  if (!new_flags && e->flags != 0) {
    *p = q - 1;
    return "flag bits on an event that has none";
  }
  if (e->kind == kDeleteNothrow && (e->flags & kFlagSized) != 0) {
    *p = q - 1;
    return "sized flag on a nothrow delete";
  }
  uint64_t dt = 0;
  if (!get_varint(&q, end, &dt)) {
    *p = q;
    return "bad or cut varint (time)";
  }
  if (dt > UINT64_MAX - c->last_tick) {
    *p = q;
    return "time overflows";
  }
  e->tick = c->last_tick + dt;
  auto field = [&](uint64_t* v) { return get_varint(&q, end, v); };
  auto ref = [&]() -> bool {
    uint64_t r = 0;
    if (!field(&r)) return false;
    if (r < 2) {
      e->ref_kind = static_cast<uint8_t>(r);
      return true;
    }
    e->ref_kind = 2;
    e->ref = c->last_id - static_cast<uint64_t>(unzigzag(r - 2));
    return e->ref != 0;
  };
  bool ok = true;
  switch (e->kind) {
    case kMalloc: case kValloc: case kPvalloc:
      ok = field(&e->size);
      break;
    case kCalloc:
      ok = field(&e->nmemb) && field(&e->size);
      break;
    case kRealloc:
      ok = ref() && field(&e->size);
      break;
    case kFree:
      ok = ref();
      break;
    case kMemalign: case kPosixMemalign: case kAlignedAlloc:
      ok = field(&e->align) && field(&e->size);
      break;
    case kNew:
      ok = ((e->flags & kFlagAligned) == 0 || field(&e->align)) && field(&e->size);
      break;
    case kDelete:
      ok = ref() && ((e->flags & kFlagSized) == 0 || field(&e->size)) &&
           ((e->flags & kFlagAligned) == 0 || field(&e->align));
      break;
    case kDeleteNothrow:
      ok = ref() && ((e->flags & kFlagAligned) == 0 || field(&e->align));
      break;
    case kThread:
      ok = field(&e->tid);
      break;
  }
  if (!ok) {
    *p = q;
    return "bad or cut field";
  }
  if (alloc || e->kind == kRealloc) {
    if ((tag & kNextId) != 0) {
      e->id = c->last_id + 1;
    } else {
      uint64_t v = 0;
      if (!field(&v)) {
        *p = q;
        return "bad or cut block id";
      }
      e->id = v == 0 ? 0 : c->last_id + 1 + static_cast<uint64_t>(unzigzag(v - 1));
      if (v != 0 && e->id == 0) {
        *p = q;
        return "block id 0";
      }
    }
    if (e->id != 0) c->last_id = e->id;
  }
  c->last_tick = e->tick;
  *p = q;
  return nullptr;
}

}  // namespace memkit::trace
