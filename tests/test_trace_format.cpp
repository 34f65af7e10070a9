// The allocation trace format: the reader (tools/trace/trace_reader.h) on traces written here
// with the shared coding of src/trace/trace_format.h — every kind and flag decoded back, a
// cross-thread free whose chunk comes first, the time order, and the error paths: a trace cut at
// every offset, every byte flipped, and each semantic error with its offset.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "trace/trace_format.h"
#include "trace_reader.h"

namespace memkit::trace {
namespace {

// A trace written event by event, as libmemkit-trace.so writes one.
class Writer {
 public:
  Writer() {
    bytes_.insert(bytes_.end(), kMagic, kMagic + sizeof kMagic);
    bytes_.push_back(static_cast<uint8_t>(kVersion));
    bytes_.push_back(0);
    bytes_.push_back(kTimeShift);
    bytes_.push_back(kHeaderSize);
    for (int i = 0; i < 4; ++i) bytes_.push_back(static_cast<uint8_t>(4321 >> (8 * i)));
  }
  // One event of `thread`: tag, dt, then the fields; `new_id` as the allocation's id (0: NULL,
  // UINT64_MAX: none), `ref` as {kind, id} of a freed block (kind 3: none).
  void event(uint64_t thread, uint8_t tag, uint64_t dt, std::vector<uint64_t> fields,
             uint64_t ref_kind = 3, uint64_t ref = 0, uint64_t new_id = UINT64_MAX) {
    ThreadCoder& c = coders_[thread];
    std::vector<uint8_t>& out = pending_[thread];
    uint8_t buf[kMaxEvent];
    uint8_t* p = buf;
    *p++ = tag;
    p = put_varint(p, dt);
    if (ref_kind != 3) p = put_ref(p, c, ref_kind, ref);
    for (uint64_t f : fields) p = put_varint(p, f);
    if (new_id != UINT64_MAX) {
      if (new_id != 0 && new_id == c.last_id + 1) {
        buf[0] |= kNextId;
      } else {
        p = put_varint(p, new_id_code(c, new_id));
      }
      if (new_id != 0) c.last_id = new_id;
      max_id_ = std::max(max_id_, new_id);
    }
    c.last_tick += dt;
    out.insert(out.end(), buf, p);
    ++events_;
  }
  void flush(uint64_t thread) {
    std::vector<uint8_t>& data = pending_[thread];
    if (data.empty()) return;
    uint8_t head[1 + 2 * kMaxVarint];
    uint8_t* p = head;
    *p++ = kChunkTag;
    p = put_varint(p, thread);
    p = put_varint(p, data.size());
    bytes_.insert(bytes_.end(), head, p);
    bytes_.insert(bytes_.end(), data.begin(), data.end());
    data.clear();
  }
  std::vector<uint8_t> finish(uint64_t max_id = 0) {
    for (auto& [t, d] : pending_) flush(t);
    uint8_t tail[1 + 3 * kMaxVarint];
    uint8_t* p = tail;
    *p++ = kEndTag;
    p = put_varint(p, coders_.size());
    p = put_varint(p, events_);
    p = put_varint(p, max_id != 0 ? max_id : max_id_);
    bytes_.insert(bytes_.end(), tail, p);
    bytes_.insert(bytes_.end(), kEndMagic, kEndMagic + sizeof kEndMagic);
    return bytes_;
  }

 private:
  std::vector<uint8_t> bytes_;
  std::map<uint64_t, ThreadCoder> coders_;
  std::map<uint64_t, std::vector<uint8_t>> pending_;
  uint64_t events_ = 0, max_id_ = 0;
};

// Thread 1 allocates with every kind; thread 2 allocates block 1025, which thread 1 frees. Thread
// 1's chunk is written first, so its free comes before the allocation in the file.
std::vector<uint8_t> sample() {
  Writer w;
  w.event(1, kThread, 5, {111});
  w.event(2, kThread, 7, {222});
  w.event(2, kMalloc, 1, {4242}, 3, 0, 1025);
  w.event(1, kMalloc, 2, {100}, 3, 0, 1);
  w.event(1, kCalloc, 1, {3, 40}, 3, 0, 2);
  w.event(1, kRealloc, 1, {10}, kRefNull, 0, 3);
  w.event(1, kRealloc, 1, {1000}, 2, 3, 4);
  w.event(1, kPosixMemalign, 1, {64, 200}, 3, 0, 5);
  w.event(1, kAlignedAlloc, 1, {4096, 8192}, 3, 0, 6);
  w.event(1, kMemalign, 1, {128, 50}, 3, 0, 7);
  w.event(1, kValloc, 1, {10}, 3, 0, 8);
  w.event(1, kPvalloc, 1, {5000}, 3, 0, 9);
  w.event(1, kNew | kFlagAligned | kFlagArray, 1, {256, 64}, 3, 0, 10);
  w.event(1, kDelete | kFlagSized | kFlagAligned | kFlagArray, 1, {64, 256}, 2, 10);
  w.event(1, kNew | kFlagNothrow, 1, {24}, 3, 0, 11);
  w.event(1, kDeleteNothrow, 1, {}, 2, 11);
  w.event(1, kMalloc, 1, {1 << 30}, 3, 0, 0);  // failed
  w.event(1, kFree, 1, {}, kRefForeign);
  w.event(1, kFree, 1, {}, kRefNull);
  w.event(1, kFree, 1, {}, 2, 1025);  // cross-thread
  w.event(1, kFree, 1, {}, 2, 1);
  w.event(1, kRealloc, 1, {0}, 2, 4, 0);  // realloc(p, 0) freeing p
  w.flush(1);
  w.event(2, kFree, 3, {}, 2, 2);  // cross-thread too
  return w.finish(2048);
}

std::vector<Event> events_of(const ThreadTrace& t) {
  std::vector<Event> out;
  Cursor c(t);
  Event e;
  while (c.next(&e)) out.push_back(e);
  return out;
}

TEST(TraceFormat, VarintsRoundTrip) {
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{127}, uint64_t{128}, uint64_t{300},
                     uint64_t{1} << 35, UINT64_MAX}) {
    uint8_t buf[kMaxVarint];
    uint8_t* end = put_varint(buf, v);
    const uint8_t* p = buf;
    uint64_t got = 0;
    ASSERT_TRUE(get_varint(&p, end, &got));
    EXPECT_EQ(got, v);
    EXPECT_EQ(p, end);
    p = buf;
    if (end - buf > 1) {
      EXPECT_FALSE(get_varint(&p, end - 1, &got));  // cut
    }
  }
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{1}, INT64_MIN, INT64_MAX})
    EXPECT_EQ(unzigzag(zigzag(v)), v);
}

TEST(TraceFormat, EveryKindDecodesAsWritten) {
  const std::vector<uint8_t> bytes = sample();
  const TraceData t = parse_trace(bytes.data(), bytes.size());
  EXPECT_EQ(t.pid, 4321u);
  ASSERT_EQ(t.threads.size(), 2u);
  EXPECT_EQ(t.threads[0].tid, 111u);
  EXPECT_EQ(t.threads[1].tid, 222u);
  const std::vector<Event> a = events_of(t.threads[0]);
  ASSERT_EQ(a.size(), 20u);
  std::vector<std::string> names;
  for (const Event& e : a) names.push_back(kind_name(e));
  EXPECT_EQ(names, (std::vector<std::string>{
                       "thread", "malloc", "calloc", "realloc", "realloc", "posix_memalign",
                       "aligned_alloc", "memalign", "valloc", "pvalloc", "new[](aligned)",
                       "delete[](sized,aligned)", "new(nothrow)", "delete(nothrow)", "malloc",
                       "free", "free", "free", "free", "realloc"}));
  EXPECT_EQ(a[1].size, 100u);
  EXPECT_EQ(a[1].id, 1u);
  EXPECT_EQ(a[2].nmemb, 3u);
  EXPECT_EQ(a[2].size, 40u);
  EXPECT_EQ(a[3].ref_kind, kRefNull);
  EXPECT_EQ(a[3].id, 3u);
  EXPECT_EQ(a[4].ref, 3u);
  EXPECT_EQ(a[4].id, 4u);
  EXPECT_EQ(freed_id(a[4]), 3u);
  EXPECT_EQ(a[5].align, 64u);
  EXPECT_EQ(a[6].align, 4096u);
  EXPECT_EQ(a[6].size, 8192u);
  EXPECT_EQ(requested_bytes(a[9]), 8192u);  // pvalloc rounds to pages
  EXPECT_EQ(a[10].align, 256u);
  EXPECT_EQ(a[10].size, 64u);
  EXPECT_EQ(a[11].ref, 10u);
  EXPECT_EQ(a[11].size, 64u);
  EXPECT_EQ(a[11].align, 256u);
  EXPECT_EQ(a[13].ref, 11u);
  EXPECT_EQ(a[14].id, 0u);  // the failed malloc
  EXPECT_EQ(a[15].ref_kind, kRefForeign);
  EXPECT_EQ(freed_id(a[15]), 0u);
  EXPECT_EQ(a[17].ref, 1025u);
  EXPECT_EQ(a[19].ref, 4u);
  EXPECT_EQ(a[19].id, 0u);
  EXPECT_EQ(freed_id(a[19]), 4u);  // realloc(p, 0)
  EXPECT_EQ(a[0].tick, 5u);
  EXPECT_EQ(a[1].tick, 7u);
  const std::vector<Event> b = events_of(t.threads[1]);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[1].id, 1025u);
  EXPECT_EQ(b[2].ref, 2u);
}

TEST(TraceFormat, TimeOrderWaitsForTheAllocation) {
  Writer w;
  w.event(1, kThread, 0, {1});
  w.event(1, kFree, 1, {}, 2, 1025);  // at tick 1, before thread 2 allocates it (tick 5)
  w.event(2, kThread, 0, {2});
  w.event(2, kMalloc, 5, {64}, 3, 0, 1025);
  const std::vector<uint8_t> bytes = w.finish();
  const TraceData t = parse_trace(bytes.data(), bytes.size());
  std::vector<std::string> order;
  for_each_in_time_order(t, [&](size_t th, const Event& e) {
    order.push_back(std::to_string(th) + kind_name(e));
  });
  EXPECT_EQ(order, (std::vector<std::string>{"0thread", "1thread", "1malloc", "0free"}));
}

TEST(TraceFormat, ThreadsStartInTheirRecordedWaves) {
  Writer w;
  w.event(1, kThread, 0, {1});
  w.event(2, kThread, 2, {2});
  w.event(2, kMalloc, 8, {64}, 3, 0, 1025);  // thread 2 ends at tick 10
  w.event(3, kThread, 20, {3});              // thread 3 starts at tick 20
  w.event(3, kFree, 1, {}, 2, 1025);
  w.event(1, kMalloc, 30, {64}, 3, 0, 1);   // thread 1 runs throughout
  const std::vector<uint8_t> bytes = w.finish();
  const TraceData t = parse_trace(bytes.data(), bytes.size());
  ASSERT_EQ(t.start_after.size(), 3u);
  EXPECT_EQ(t.by_last, (std::vector<size_t>{1, 2, 0}));
  EXPECT_EQ(t.start_after, (std::vector<size_t>{0, 0, 1}));  // thread 3 after thread 2
}

TEST(TraceFormat, WavesThatWouldWaitForeverAreDropped) {
  // Thread 2 frees, at its end (tick 10), a block stamped as allocated by thread 3 at tick 21,
  // after thread 3 began: waves would make thread 3 wait for thread 2, which waits for it.
  Writer w;
  w.event(1, kThread, 0, {1});
  w.event(2, kThread, 2, {2});
  w.event(2, kFree, 8, {}, 2, 1025);
  w.event(3, kThread, 20, {3});
  w.event(3, kMalloc, 1, {64}, 3, 0, 1025);
  const std::vector<uint8_t> bytes = w.finish();
  const TraceData t = parse_trace(bytes.data(), bytes.size());
  EXPECT_TRUE(t.start_after.empty());
  EXPECT_TRUE(t.by_last.empty());
}

std::string error_of(const std::vector<uint8_t>& bytes, size_t* offset = nullptr) {
  try {
    parse_trace(bytes.data(), bytes.size());
  } catch (const FormatError& e) {
    if (offset != nullptr) *offset = e.offset();
    return e.reason();
  }
  return "";
}

TEST(TraceFormat, CutAtEveryOffsetIsAnErrorWithinTheFile) {
  const std::vector<uint8_t> bytes = sample();
  for (size_t n = 0; n < bytes.size(); ++n) {
    const std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(n));
    size_t offset = SIZE_MAX;
    const std::string why = error_of(cut, &offset);
    EXPECT_FALSE(why.empty()) << "cut at " << n << " was accepted";
    EXPECT_LE(offset, n) << why;
  }
}

TEST(TraceFormat, FlippedBytesAreRejectedOrHarmless) {
  const std::vector<uint8_t> bytes = sample();
  size_t rejected = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x10}, uint8_t{0x80}, uint8_t{0xff}}) {
      std::vector<uint8_t> bad = bytes;
      bad[i] ^= mask;
      size_t offset = SIZE_MAX;
      try {
        const TraceData t = parse_trace(bad.data(), bad.size());
        for (const ThreadTrace& th : t.threads) events_of(th);  // a checked trace decodes
      } catch (const FormatError& e) {
        ++rejected;
        offset = e.offset();
        EXPECT_LE(offset, bad.size());
      }
    }
  }
  EXPECT_GT(rejected, bytes.size() * 2);  // most flips are caught
}

TEST(TraceFormat, EachErrorNamesItsOffset) {
  std::vector<uint8_t> bytes = sample();
  size_t offset = 0;
  bytes[0] = 'X';
  EXPECT_EQ(error_of(bytes, &offset), "not a memkit trace (bad magic)");
  EXPECT_EQ(offset, 0u);
  bytes = sample();
  bytes[8] = 9;
  EXPECT_NE(error_of(bytes, &offset).find("format version 9"), std::string::npos);
  EXPECT_EQ(offset, 8u);
  bytes = sample();
  bytes.push_back(0);
  EXPECT_EQ(error_of(bytes, &offset), "1 bytes after the end marker");
  EXPECT_EQ(offset, bytes.size() - 1);

  {  // a block freed twice
    Writer w;
    w.event(1, kThread, 0, {1});
    w.event(1, kMalloc, 0, {8}, 3, 0, 1);
    w.event(1, kFree, 0, {}, 2, 1);
    w.event(1, kFree, 0, {}, 2, 1);
    bytes = w.finish();
    EXPECT_EQ(error_of(bytes, &offset), "frees block 1 a second time");
    EXPECT_EQ(bytes[offset], kFree);
  }
  {  // a block allocated twice
    Writer w;
    w.event(1, kThread, 0, {1});
    w.event(1, kMalloc, 0, {8}, 3, 0, 1);
    w.event(1, kMalloc, 0, {8}, 3, 0, 1);
    bytes = w.finish();
    EXPECT_EQ(error_of(bytes, &offset), "allocates block 1 a second time");
  }
  {  // two threads each freeing the block the other allocates later: a replay would hang
    Writer w;
    w.event(1, kThread, 0, {1});
    w.event(1, kFree, 0, {}, 2, 1025);
    w.event(1, kMalloc, 0, {8}, 3, 0, 1);
    w.event(2, kThread, 0, {2});
    w.event(2, kFree, 0, {}, 2, 1);
    w.event(2, kMalloc, 0, {8}, 3, 0, 1025);
    bytes = w.finish();
    EXPECT_NE(error_of(bytes, &offset).find("wait forever"), std::string::npos);
  }
  {  // the end marker's count
    Writer w;
    w.event(1, kThread, 0, {1});
    bytes = w.finish();
    bytes[bytes.size() - 4 - 2] = 7;  // events: 1 -> 7
    EXPECT_NE(error_of(bytes, &offset).find("counts 7 events"), std::string::npos);
  }
  {  // an unknown kind
    Writer w;
    w.event(1, kThread, 0, {1});
    w.event(1, 14, 0, {});
    bytes = w.finish();
    EXPECT_EQ(error_of(bytes, &offset), "unknown event kind");
    EXPECT_EQ(bytes[offset], 14);
  }
  {  // a thread without its thread event
    Writer w;
    w.event(1, kMalloc, 0, {8}, 3, 0, 1);
    bytes = w.finish();
    EXPECT_EQ(error_of(bytes, &offset), "a thread's first event is not its thread event");
  }
  bytes = sample();
  bytes.resize(bytes.size() - 5);  // no end marker magic
  EXPECT_NE(error_of(bytes, &offset).find("end marker"), std::string::npos);
}

}  // namespace
}  // namespace memkit::trace
