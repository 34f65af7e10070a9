// memkit — the checked mode's stack walker (src/check/unwind.cpp): see unwind.h.
//
// References: the DWARF 5 standard, section 6.4 (call frame information), and the LSB's
// .eh_frame / .eh_frame_hdr formats (pointer encodings DW_EH_PE_*, augmentation strings).
#include "check/unwind.h"

#include <dlfcn.h>

#include <atomic>
#include <cstring>

namespace memkit::check {

namespace {

// ---- reading .eh_frame ----

constexpr uint8_t kPeOmit = 0xff;
constexpr uint8_t kPeFormat = 0x0f;
constexpr uint8_t kPeApplication = 0x70;
constexpr uint8_t kPeIndirect = 0x80;

struct Reader {
  const uint8_t* p;
  const uint8_t* end;
  bool ok = true;

  bool have(size_t n) {
    if (static_cast<size_t>(end - p) < n) ok = false;
    return ok;
  }
  uint8_t u8() { return have(1) ? *p++ : 0; }
  uint64_t fixed(size_t n) {  // little-endian
    if (!have(n)) return 0;
    uint64_t v = 0;
    memcpy(&v, p, n);
    p += n;
    return v;
  }
  uint64_t uleb() {
    uint64_t v = 0;
    for (unsigned shift = 0; have(1); shift += 7) {
      const uint8_t b = *p++;
      if (shift < 64) v |= uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) return v;
    }
    return 0;
  }
  int64_t sleb() {
    uint64_t v = 0;
    unsigned shift = 0;
    for (; have(1);) {
      const uint8_t b = *p++;
      if (shift < 64) v |= uint64_t{b & 0x7fu} << shift;
      shift += 7;
      if ((b & 0x80) == 0) {
        if (shift < 64 && (b & 0x40) != 0) v |= ~uint64_t{0} << shift;
        return static_cast<int64_t>(v);
      }
    }
    return 0;
  }
  /// A pointer in encoding enc. pcrel is relative to the field; datarel to data_base (0: not
  /// allowed). Text- and function-relative and indirect pointers are not needed for unwinding
  /// and fail the read.
  uintptr_t encoded(uint8_t enc, uintptr_t data_base = 0) {
    if (enc == kPeOmit) return 0;
    const uintptr_t field = reinterpret_cast<uintptr_t>(p);
    uint64_t v = 0;
    switch (enc & kPeFormat) {
      case 0x00: v = fixed(8); break;                                  // absptr
      case 0x01: v = uleb(); break;                                    // uleb128
      case 0x02: v = fixed(2); break;                                  // udata2
      case 0x03: v = fixed(4); break;                                  // udata4
      case 0x04: v = fixed(8); break;                                  // udata8
      case 0x09: v = static_cast<uint64_t>(sleb()); break;             // sleb128
      case 0x0a: v = static_cast<uint64_t>(static_cast<int16_t>(fixed(2))); break;
      case 0x0b: v = static_cast<uint64_t>(static_cast<int32_t>(fixed(4))); break;
      case 0x0c: v = fixed(8); break;
      default: ok = false; return 0;
    }
    switch (enc & kPeApplication) {
      case 0x00: break;
      case 0x10: v += field; break;
      case 0x30:
        if (data_base == 0) ok = false;
        v += data_base;
        break;
      default: ok = false; break;
    }
    if ((enc & kPeIndirect) != 0) ok = false;
    return static_cast<uintptr_t>(v);
  }
  /// Skips a pointer in encoding enc (the personality routine: its value is not needed).
  void skip_encoded(uint8_t enc) {
    if (enc == kPeOmit) return;
    switch (enc & kPeFormat) {
      case 0x00: case 0x04: case 0x0c: fixed(8); break;
      case 0x01: uleb(); break;
      case 0x09: sleb(); break;
      case 0x02: case 0x0a: fixed(2); break;
      case 0x03: case 0x0b: fixed(4); break;
      default: ok = false; break;
    }
  }
};

/// One record (CIE or FDE) at p: its contents in [*body, *end). False if malformed or the
/// terminator.
bool record(const uint8_t* p, const uint8_t** body, const uint8_t** end) {
  uint32_t len32;
  memcpy(&len32, p, 4);
  if (len32 == 0) return false;
  if (len32 == 0xffffffffu) {
    uint64_t len64;
    memcpy(&len64, p + 4, 8);
    *body = p + 12;
    *end = p + 12 + len64;
  } else {
    *body = p + 4;
    *end = p + 4 + len32;
  }
  return true;
}

struct Cie {
  uint64_t code_align = 1;
  int64_t data_align = 1;
  uint64_t ra_reg = 16;
  uint8_t fde_enc = 0;  // absptr
  bool has_aug_data = false;
  bool signal_frame = false;
  const uint8_t* insns = nullptr;
  const uint8_t* insns_end = nullptr;
};

bool parse_cie(const uint8_t* at, Cie* c) {
  const uint8_t* body;
  const uint8_t* end;
  if (!record(at, &body, &end)) return false;
  Reader r{body, end};
  if (r.fixed(4) != 0) return false;  // a CIE's id is 0 in .eh_frame
  const uint8_t version = r.u8();
  if (version != 1 && version != 3) return false;
  const char* aug = reinterpret_cast<const char*>(r.p);
  while (r.have(1) && *r.p != 0) ++r.p;
  r.u8();
  if (aug[0] == 'e' && aug[1] == 'h') r.fixed(8);  // old GCC's "eh" data
  c->code_align = r.uleb();
  c->data_align = r.sleb();
  c->ra_reg = version == 1 ? r.u8() : r.uleb();
  const uint8_t* aug_end = nullptr;
  for (const char* a = aug; *a != 0 && r.ok; ++a) {
    if (*a == 'z') {
      const uint64_t n = r.uleb();
      c->has_aug_data = true;
      aug_end = r.p + n;
    } else if (*a == 'R') {
      c->fde_enc = r.u8();
    } else if (*a == 'L') {
      r.u8();  // the LSDA pointer's encoding
    } else if (*a == 'P') {
      r.skip_encoded(r.u8());  // the personality routine
    } else if (*a == 'S') {
      c->signal_frame = true;
    } else if (*a == 'e' || *a == 'h') {
      // "eh", read above
    } else if (aug_end != nullptr) {
      break;  // unknown: the rest of the data is skipped by its length
    } else {
      return false;  // unknown, with no length to skip it by
    }
  }
  if (aug_end != nullptr) r.p = aug_end;
  if (!r.ok || r.p > end) return false;
  c->insns = r.p;
  c->insns_end = end;
  return true;
}

// ---- interpreting the CFA instructions ----

constexpr uint64_t kRbp = 6;
constexpr uint64_t kRsp = 7;

enum RegHow : uint8_t {
  kSame,         // unchanged (or unspecified)
  kAtCfa,        // saved at CFA + off
  kAtReg,        // saved at *(reg + off)  (DW_CFA_expression: DW_OP_breg<reg> off)
  kUndefined,
  kUnmodelled,
};
struct RegRule {
  RegHow how = kSame;
  uint8_t reg = 0;
  int64_t off = 0;
};
struct Row {
  bool cfa_modelled = true;
  uint8_t cfa_reg = kRsp;
  bool cfa_deref = false;
  int64_t cfa_off = 8;
  RegRule rbp;
  RegRule ra;
};

/// A DWARF expression this walker models: "DW_OP_breg<6|7> off" optionally followed by
/// "DW_OP_deref". False for anything else.
bool simple_expression(const uint8_t* p, uint64_t n, uint8_t* reg, int64_t* off, bool* deref) {
  Reader r{p, p + n};
  const uint8_t op = r.u8();
  if (op != 0x70 + kRbp && op != 0x70 + kRsp) return false;  // DW_OP_breg6, DW_OP_breg7
  *reg = static_cast<uint8_t>(op - 0x70);
  *off = r.sleb();
  *deref = false;
  if (r.ok && r.p < r.end) {
    if (r.u8() != 0x06) return false;  // DW_OP_deref
    *deref = true;
  }
  return r.ok && r.p == r.end;
}

constexpr unsigned kStateDepth = 16;

struct Interp {
  Interp(const Cie& c, uintptr_t pc) : cie(c), target(pc) {}
  const Cie& cie;
  uintptr_t target;
  Row row;
  Row initial;  // after the CIE's instructions (DW_CFA_restore)
  Row saved[kStateDepth];
  unsigned depth = 0;
  bool ok = true;

  RegRule* rule_of(uint64_t reg) {
    if (reg == kRbp) return &row.rbp;
    if (reg == cie.ra_reg) return &row.ra;
    return nullptr;  // another register: not needed to walk
  }
  const RegRule* initial_of(uint64_t reg) const {
    if (reg == kRbp) return &initial.rbp;
    if (reg == cie.ra_reg) return &initial.ra;
    return nullptr;
  }
  void set(uint64_t reg, RegHow how, int64_t off = 0, uint8_t base = 0) {
    if (RegRule* r = rule_of(reg)) *r = RegRule{how, base, off};
  }

  /// Runs [p, end) from *loc; stops (returns true) at the first row past target.
  bool run(const uint8_t* p, const uint8_t* end, uintptr_t* loc) {
    Reader r{p, end};
    while (r.ok && r.p < r.end) {
      const uint8_t op = r.u8();
      const uint8_t hi = op & 0xc0;
      const uint8_t low = op & 0x3f;
      uint64_t advance = 0;
      if (hi == 0x40) {  // DW_CFA_advance_loc
        advance = low;
      } else if (hi == 0x80) {  // DW_CFA_offset
        set(low, kAtCfa, static_cast<int64_t>(r.uleb()) * cie.data_align);
        continue;
      } else if (hi == 0xc0) {  // DW_CFA_restore
        if (const RegRule* i = initial_of(low)) *rule_of(low) = *i;
        continue;
      } else {
        switch (op) {
          case 0x00: continue;  // nop
          case 0x01:            // set_loc
            *loc = r.encoded(cie.fde_enc);
            if (*loc > target) return true;
            continue;
          case 0x02: advance = r.fixed(1); break;
          case 0x03: advance = r.fixed(2); break;
          case 0x04: advance = r.fixed(4); break;
          case 0x05: {  // offset_extended
            const uint64_t reg = r.uleb();
            set(reg, kAtCfa, static_cast<int64_t>(r.uleb()) * cie.data_align);
            continue;
          }
          case 0x06: {  // restore_extended
            const uint64_t reg = r.uleb();
            if (const RegRule* i = initial_of(reg)) *rule_of(reg) = *i;
            continue;
          }
          case 0x07: set(r.uleb(), kUndefined); continue;
          case 0x08: set(r.uleb(), kSame); continue;
          case 0x09: {  // register: the value is in another register
            const uint64_t reg = r.uleb();
            r.uleb();
            set(reg, kUnmodelled);
            continue;
          }
          case 0x0a:  // remember_state
            if (depth == kStateDepth) return ok = false;
            saved[depth++] = row;
            continue;
          case 0x0b:  // restore_state (the CFA rule with the registers', as libgcc does)
            if (depth == 0) return ok = false;
            row = saved[--depth];
            continue;
          case 0x0c:  // def_cfa
            row.cfa_reg = static_cast<uint8_t>(r.uleb());
            row.cfa_off = static_cast<int64_t>(r.uleb());
            row.cfa_deref = false;
            row.cfa_modelled = true;
            continue;
          case 0x0d:  // def_cfa_register
            row.cfa_reg = static_cast<uint8_t>(r.uleb());
            row.cfa_deref = false;
            continue;
          case 0x0e: row.cfa_off = static_cast<int64_t>(r.uleb()); continue;  // def_cfa_offset
          case 0x0f: {  // def_cfa_expression
            const uint64_t n = r.uleb();
            if (!r.have(n)) return false;
            uint8_t reg = 0;
            int64_t off = 0;
            bool deref = false;
            row.cfa_modelled = simple_expression(r.p, n, &reg, &off, &deref);
            row.cfa_reg = reg;
            row.cfa_off = off;
            row.cfa_deref = deref;
            r.p += n;
            continue;
          }
          case 0x10: {  // expression: the register is saved at the address it computes
            const uint64_t reg = r.uleb();
            const uint64_t n = r.uleb();
            if (!r.have(n)) return false;
            uint8_t base = 0;
            int64_t off = 0;
            bool deref = false;
            if (simple_expression(r.p, n, &base, &off, &deref) && !deref) set(reg, kAtReg, off, base);
            else set(reg, kUnmodelled);
            r.p += n;
            continue;
          }
          case 0x11: {  // offset_extended_sf
            const uint64_t reg = r.uleb();
            set(reg, kAtCfa, r.sleb() * cie.data_align);
            continue;
          }
          case 0x12:  // def_cfa_sf
            row.cfa_reg = static_cast<uint8_t>(r.uleb());
            row.cfa_off = r.sleb() * cie.data_align;
            row.cfa_deref = false;
            row.cfa_modelled = true;
            continue;
          case 0x13: row.cfa_off = r.sleb() * cie.data_align; continue;  // def_cfa_offset_sf
          case 0x14:  // val_offset: the value (not a saved copy) is CFA + off
          case 0x15: {
            const uint64_t reg = r.uleb();
            if (op == 0x14) r.uleb();
            else r.sleb();
            set(reg, kUnmodelled);
            continue;
          }
          case 0x16: {  // val_expression
            const uint64_t reg = r.uleb();
            const uint64_t n = r.uleb();
            if (!r.have(n)) return false;
            r.p += n;
            set(reg, kUnmodelled);
            continue;
          }
          case 0x2e: r.uleb(); continue;  // GNU_args_size
          case 0x2f: {                    // GNU_negative_offset_extended
            const uint64_t reg = r.uleb();
            set(reg, kAtCfa, -static_cast<int64_t>(r.uleb()) * cie.data_align);
            continue;
          }
          default: return ok = false;
        }
      }
      const uintptr_t next = *loc + advance * cie.code_align;
      if (next > target) return true;
      *loc = next;
    }
    return ok = r.ok;
  }
};

/// The FDE covering pc, found through the object's .eh_frame_hdr search table.
const uint8_t* find_fde(uintptr_t pc) {
  struct dl_find_object obj;
  if (_dl_find_object(reinterpret_cast<void*>(pc), &obj) != 0 || obj.dlfo_eh_frame == nullptr) return nullptr;
  const uint8_t* hdr = static_cast<const uint8_t*>(obj.dlfo_eh_frame);
  if (hdr[0] != 1) return nullptr;
  const uint8_t frame_ptr_enc = hdr[1];
  const uint8_t count_enc = hdr[2];
  const uint8_t table_enc = hdr[3];
  const uintptr_t base = reinterpret_cast<uintptr_t>(hdr);
  Reader r{hdr + 4, hdr + 4 + 64};
  r.encoded(frame_ptr_enc, base);
  const uintptr_t count = r.encoded(count_enc, base);
  if (!r.ok || table_enc != 0x3b || count == 0) return nullptr;  // datarel | sdata4: what every linker writes
  const int32_t* table = reinterpret_cast<const int32_t*>(r.p);
  // The last entry whose start is <= pc.
  size_t lo = 0;
  size_t hi = count;
  while (hi - lo > 1) {
    const size_t mid = lo + (hi - lo) / 2;
    if (base + static_cast<intptr_t>(table[2 * mid]) <= pc) lo = mid;
    else hi = mid;
  }
  if (base + static_cast<intptr_t>(table[2 * lo]) > pc) return nullptr;
  return reinterpret_cast<const uint8_t*>(base + static_cast<intptr_t>(table[2 * lo + 1]));
}

// ---- the cache: (pc, packed rule) pairs ----
//
// packed rule, never 0 once written:
//   bits  0..31 CFA offset (int32)       bits 32..47 rbp's offset (int16)
//   bits 48..55 the return address's offset from the CFA (int8)
//   bit 56 CFA base is rbp (else rsp)    bit 57 CFA is dereferenced
//   bits 58..59 rbp: 0 unchanged, 1 at CFA + off, 2 at *(rbp + off), 3 at *(rsp + off)
//   bit 61 end of stack    bit 62 not modelled (use libunwind)    bit 63 valid
constexpr uint64_t kValid = uint64_t{1} << 63;
constexpr uint64_t kNotModelled = uint64_t{1} << 62;
constexpr uint64_t kEnd = uint64_t{1} << 61;
constexpr uint64_t kCfaRbp = uint64_t{1} << 56;
constexpr uint64_t kCfaDeref = uint64_t{1} << 57;
constexpr unsigned kRbpShift = 58;

constexpr unsigned kCacheBits = 16;
constexpr size_t kCacheSlots = size_t{1} << kCacheBits;
constexpr unsigned kProbes = 8;
struct Slot {
  std::atomic<uintptr_t> pc;
  std::atomic<uint64_t> rule;
};
Slot g_cache[kCacheSlots];  // 1 MiB of .bss: pages cost only once touched
std::atomic<uint64_t> g_misses{0};
std::atomic<uint64_t> g_fallbacks{0};

// Each thread's last walk, frame by frame: the state at the frame (pc, sp, rbp) and where its
// step read the caller's return address and rbp. A walk that reaches a state the last walk had
// re-reads those words only: if each still holds what the last walk read, the last walk's next
// state is this walk's too, by induction to its end; the first word that differs resumes the
// ordinary walk from there. So a malloc called again from the same place costs a few loads and
// compares a frame instead of a rule lookup and a step. Two buffers: the walk reads the last
// one while it writes its own.
constexpr unsigned kMemoFrames = 72;
struct MemoFrame {
  uintptr_t sp;
  uintptr_t pc;
  uintptr_t bp;
  uintptr_t ra_at;  // 0: not re-checkable (the step dereferenced its CFA, or did not happen)
  uintptr_t bp_at;  // 0: rbp unchanged by the step
  uintptr_t uses_bp;  // the step used rbp's value (CFA from rbp, or rbp's slot from it)
};

/// Whether the last walk, from frame i, used the rbp it had there before a step replaced it:
/// only then must this walk's rbp be the same for the last walk's steps to be this one's.
inline bool needs_bp(const MemoFrame* f, unsigned i, unsigned n) {
  for (; i < n; ++i) {
    if (f[i].uses_bp != 0 || f[i].ra_at == 0) return true;
    if (f[i].bp_at != 0) return false;
  }
  return true;
}
struct WalkMemo {
  uint32_t generation;
  unsigned n;
  int max;        // the walk's max (a walk that stopped there stops there again only with the same)
  bool fallback;  // it returned -1
  bool whole;     // it may be reused whole: not when its last step dereferenced its CFA and
                  // then met the end (a return address below 4096) through a word not kept
  MemoFrame f[kMemoFrames];
};
__attribute__((tls_model("initial-exec"))) thread_local WalkMemo t_memo[kWalkMemos][2];
__attribute__((tls_model("initial-exec"))) thread_local unsigned t_memo_last[kWalkMemos];

/// The WalkCheck of walk w (see unwind.h), or c left invalid if w cannot be re-checked word by
/// word: a step that dereferenced its CFA, a walk given up, too many frames.
void build_check(WalkCheck& c, const WalkMemo& w, uint32_t generation) {
  c.valid = false;
  if (!w.whole || w.fallback || w.n == 0 || 2 * w.n - 1 > WalkCheck::kMaxWords) return;
  const MemoFrame* f = w.f;
  unsigned k = 0;
  for (unsigned i = 0; i + 1 < w.n; ++i) {
    if (f[i].ra_at == 0) return;
    c.at[k] = reinterpret_cast<const uintptr_t*>(f[i].ra_at);
    c.want[k++] = f[i + 1].pc;
    if (f[i].bp_at != 0) {
      c.at[k] = reinterpret_cast<const uintptr_t*>(f[i].bp_at);
      c.want[k++] = f[i + 1].bp;
    }
  }
  // The last frame: a step made there read the word that ended the walk (below 4096), unless
  // the walk stopped at max.
  const MemoFrame& t = f[w.n - 1];
  if (t.ra_at != 0 && static_cast<int>(w.n) != w.max) {
    const uintptr_t end = *reinterpret_cast<const uintptr_t*>(t.ra_at);
    if (end >= 4096) return;
    c.at[k] = reinterpret_cast<const uintptr_t*>(t.ra_at);
    c.want[k++] = end;
  }
  c.words = k;
  c.n = w.n;
  c.max = w.max;
  c.sp = f[0].sp;
  c.pc = f[0].pc;
  c.bp = f[0].bp;
  c.needs_bp = needs_bp(f, 0, w.n);
  c.generation = generation;
  c.valid = true;
}

inline size_t slot_of(uintptr_t pc) { return static_cast<size_t>((pc * 0x9e3779b97f4a7c15ull) >> (64 - kCacheBits)); }

uint64_t pack(const UnwindRule& u) {
  if (u.kind == 2) return kValid | kEnd;
  if (u.kind != 1) return kValid | kNotModelled;
  if (u.cfa_off != static_cast<int32_t>(u.cfa_off) || u.ra_off != static_cast<int8_t>(u.ra_off) ||
      u.rbp_off != static_cast<int16_t>(u.rbp_off))
    return kValid | kNotModelled;
  uint64_t v = kValid | static_cast<uint32_t>(u.cfa_off);
  v |= uint64_t{static_cast<uint16_t>(u.rbp_off)} << 32;
  v |= uint64_t{static_cast<uint8_t>(u.ra_off)} << 48;
  if (u.cfa_base == kRbp) v |= kCfaRbp;
  if (u.cfa_deref) v |= kCfaDeref;
  v |= uint64_t(u.rbp_how & 3) << kRbpShift;
  return v;
}

uint64_t rule_slow(uintptr_t pc) {
  g_misses.fetch_add(1, std::memory_order_relaxed);
  UnwindRule u;
  const uint64_t v = unwind_rule_for(pc, &u) ? pack(u) : (kValid | kEnd);
  size_t i = slot_of(pc);
  for (unsigned probe = 0; probe < kProbes; ++probe, i = (i + 1) & (kCacheSlots - 1)) {
    uintptr_t expected = 0;
    if (g_cache[i].pc.compare_exchange_strong(expected, pc, std::memory_order_acq_rel) || expected == pc) {
      g_cache[i].rule.store(v, std::memory_order_release);
      break;
    }
  }
  return v;  // the table full around pc: not cached, interpreted again next time
}

inline uint64_t rule_of(uintptr_t pc) {
  size_t i = slot_of(pc);
  for (unsigned probe = 0; probe < kProbes; ++probe, i = (i + 1) & (kCacheSlots - 1)) {
    const uintptr_t k = g_cache[i].pc.load(std::memory_order_acquire);
    if (k == pc) {
      const uint64_t v = g_cache[i].rule.load(std::memory_order_acquire);
      if (__builtin_expect(v != 0, 1)) return v;
      break;
    }
    if (k == 0) break;
  }
  return rule_slow(pc);
}

constexpr uintptr_t kMaxFrameBytes = uintptr_t{16} << 20;

inline bool readable(uintptr_t addr, uintptr_t sp) { return addr >= sp && addr - sp < kMaxFrameBytes && (addr & 7) == 0; }

// One step of a walk by the cached rule v of pc: the caller's pc, sp (the CFA) and bp, with
// where the return address and the saved rbp were read (ra_at; bp_at, 0 if rbp is unchanged).
// False where the stack does not look like one (the walk ends there).
struct StepWords {
  uintptr_t ra_at, bp_at;
};
inline bool cfi_step(uint64_t v, uintptr_t* pc, uintptr_t* sp, uintptr_t* bp, StepWords* at) {
  uintptr_t cfa = ((v & kCfaRbp) ? *bp : *sp) + static_cast<intptr_t>(static_cast<int32_t>(v));
  if (v & kCfaDeref) {
    if (!readable(cfa, *sp)) return false;
    cfa = *reinterpret_cast<const uintptr_t*>(cfa);
  }
  if (cfa <= *sp || cfa - *sp > kMaxFrameBytes) return false;
  const uintptr_t ra_at = cfa + static_cast<intptr_t>(static_cast<int8_t>(v >> 48));
  if (!readable(ra_at, *sp)) return false;
  const intptr_t rbp_off = static_cast<int16_t>(v >> 32);
  uintptr_t bp_at = 0;
  switch ((v >> kRbpShift) & 3) {
    case 0: break;
    case 1: bp_at = cfa + rbp_off; break;
    case 2: bp_at = *bp + rbp_off; break;
    case 3: bp_at = *sp + rbp_off; break;
  }
  if (bp_at != 0) {
    if (!readable(bp_at, *sp)) return false;
    *bp = *reinterpret_cast<const uintptr_t*>(bp_at);
  }
  at->ra_at = ra_at;
  at->bp_at = bp_at;
  *pc = *reinterpret_cast<const uintptr_t*>(ra_at);
  *sp = cfa;
  return true;
}

}  // namespace

std::atomic<uint32_t> g_unwind_generation{1};
__attribute__((tls_model("initial-exec"))) thread_local WalkCheck t_walk_check[kWalkMemos];

bool unwind_rule_for(uintptr_t pc, UnwindRule* out) {
  *out = UnwindRule{};
  const uint8_t* fde = find_fde(pc);
  if (fde == nullptr) return false;
  const uint8_t* body;
  const uint8_t* end;
  if (!record(fde, &body, &end)) return false;
  int32_t cie_off;
  memcpy(&cie_off, body, 4);
  if (cie_off == 0) return false;  // a CIE, not an FDE
  Cie cie;
  if (!parse_cie(body - cie_off, &cie)) return true;  // kind 0: not modelled
  Reader r{body + 4, end};
  const uintptr_t pc_begin = r.encoded(cie.fde_enc);
  const uintptr_t pc_range = r.encoded(cie.fde_enc & kPeFormat);
  if (!r.ok || pc < pc_begin || pc - pc_begin >= pc_range) return false;  // a gap between FDEs
  if (cie.has_aug_data) {
    const uint64_t n = r.uleb();
    r.p += n;
  }
  if (!r.ok || r.p > end || cie.signal_frame) return true;
  Interp in(cie, pc);
  in.row.ra = RegRule{kAtCfa, 0, -8};
  uintptr_t loc = pc_begin;
  in.run(cie.insns, cie.insns_end, &loc);
  if (!in.ok) return true;
  in.initial = in.row;
  loc = pc_begin;
  in.run(r.p, end, &loc);
  if (!in.ok) return true;
  const Row& row = in.row;
  if (row.ra.how == kUndefined) {
    out->kind = 2;
    return true;
  }
  if (!row.cfa_modelled || (row.cfa_reg != kRsp && row.cfa_reg != kRbp) || row.ra.how != kAtCfa) return true;
  out->cfa_base = row.cfa_reg;
  out->cfa_deref = row.cfa_deref;
  out->cfa_off = row.cfa_off;
  out->ra_off = row.ra.off;
  switch (row.rbp.how) {
    case kSame: case kUndefined: out->rbp_how = 0; break;
    case kAtCfa: out->rbp_how = 1; out->rbp_off = row.rbp.off; break;
    case kAtReg: out->rbp_how = row.rbp.reg == kRbp ? 2 : 3; out->rbp_off = row.rbp.off; break;
    default: return true;
  }
  out->kind = 1;
  return true;
}

__attribute__((noinline)) int fast_backtrace(uintptr_t* out, int max, unsigned memo, bool* reused,
                                             bool no_copy_if_reused, const void* start_frame) {
  // __builtin_frame_address(0) makes this function keep a frame pointer: rbp -> [saved rbp][return address]
  const uintptr_t* fp = static_cast<const uintptr_t*>(start_frame != nullptr ? start_frame : __builtin_frame_address(0));
  uintptr_t bp = fp[0];
  uintptr_t pc = fp[1];
  uintptr_t sp = reinterpret_cast<uintptr_t>(fp + 2);
  const uint32_t generation = unwind_generation();
  if (reused != nullptr) *reused = false;
  if (memo >= kWalkMemos) memo = 0;
  WalkMemo* const memos = t_memo[memo];
  const unsigned which = t_memo_last[memo];
  const MemoFrame* __restrict last = memos[which].f;
  MemoFrame* __restrict next = memos[which ^ 1].f;
  const unsigned last_n = memos[which].generation == generation ? memos[which].n : 0;
  unsigned cursor = 0;
  int n = 0;
  bool fallback = false;
  if (max > static_cast<int>(kMemoFrames)) max = kMemoFrames;
  // The commonest case, a malloc or free from where the last one was: the whole last walk,
  // re-checked word by word, without writing a new memo.
  if (last_n != 0 && memos[which].whole && memos[which].max == max && last[0].sp == sp && last[0].pc == pc &&
      (last[0].bp == bp || !needs_bp(last, 0, last_n))) {
    unsigned i = 0;
    for (; i + 1 < last_n; ++i) {
      const MemoFrame& e = last[i];
      const MemoFrame& up = last[i + 1];
      if (e.ra_at == 0 || *reinterpret_cast<const uintptr_t*>(e.ra_at) != up.pc) break;
      if (e.bp_at != 0 && *reinterpret_cast<const uintptr_t*>(e.bp_at) != up.bp) break;
    }
    // The last frame: if its step was made, the walk ended on the word it read (< 4096) unless
    // it ended at max.
    const MemoFrame& t = last[last_n - 1];
    if (i + 1 == last_n && (t.ra_at == 0 || static_cast<int>(last_n) == max ||
                            *reinterpret_cast<const uintptr_t*>(t.ra_at) < 4096)) {
      if (reused != nullptr) *reused = !memos[which].fallback;
      // Repeated whole: from now on the check can tell a repeat before any call.
      if (!t_walk_check[memo].valid) build_check(t_walk_check[memo], memos[which], generation);
      if (!(no_copy_if_reused && reused != nullptr && *reused))
        for (unsigned j = 0; j < last_n; ++j) out[j] = last[j].pc;
      return memos[which].fallback ? -1 : static_cast<int>(last_n);
    }
  }
  while (n < max && pc >= 4096) {
    // The last walk's frames, re-checked word by word (see WalkMemo).
    while (cursor < last_n && last[cursor].sp < sp) ++cursor;
    if (cursor + 1 < last_n && last[cursor].sp == sp && last[cursor].pc == pc &&
        (last[cursor].bp == bp || !needs_bp(last, cursor, last_n))) {
      // First how far the words still hold, then the frames in one copy.
      const unsigned start = cursor;
      unsigned limit = last_n - 1;
      if (limit - start > static_cast<unsigned>(max - n)) limit = start + static_cast<unsigned>(max - n);
      for (; cursor < limit; ++cursor) {
        const MemoFrame& e = last[cursor];
        const MemoFrame& up = last[cursor + 1];
        if (e.ra_at == 0 || *reinterpret_cast<const uintptr_t*>(e.ra_at) != up.pc) break;
        if (e.bp_at != 0 && *reinterpret_cast<const uintptr_t*>(e.bp_at) != up.bp) break;
      }
      if (cursor != start) {
        const unsigned count = cursor - start;
        memcpy(&next[n], &last[start], count * sizeof(MemoFrame));
        // Our rbp where it differs from the last walk's: up to the first step that reloads it
        // (not used by the walk there, or the frames would not have matched).
        bool reloaded = false;
        for (unsigned i = 0; i < count && !reloaded; ++i) {
          next[n + i].bp = bp;
          reloaded = last[start + i].bp_at != 0;
        }
        for (unsigned i = 0; i < count; ++i) out[n + i] = last[start + i].pc;
        n += static_cast<int>(count);
        pc = last[cursor].pc;
        sp = last[cursor].sp;
        if (reloaded) bp = last[cursor].bp;  // a step reloaded rbp from a word found unchanged
        continue;
      }
    }
    // An ordinary step.
    MemoFrame& m = next[n];
    m = MemoFrame{sp, pc, bp, 0, 0, 1};
    out[n++] = pc;
    if (n == max) break;
    const uint64_t v = rule_of(pc - 1);
    if (__builtin_expect((v & (kEnd | kNotModelled)) != 0, 0)) {
      if (v & kNotModelled) {
        g_fallbacks.fetch_add(1, std::memory_order_relaxed);
        fallback = true;
      }
      break;
    }
    StepWords at;
    if (!cfi_step(v, &pc, &sp, &bp, &at)) break;
    if ((v & kCfaDeref) == 0) m.ra_at = at.ra_at;
    m.bp_at = at.bp_at;
    m.uses_bp = (v & kCfaRbp) != 0 || ((v >> kRbpShift) & 3) == 2;
  }
  memos[which ^ 1].n = static_cast<unsigned>(n);
  memos[which ^ 1].max = max;
  memos[which ^ 1].fallback = fallback;
  memos[which ^ 1].whole = !(pc < 4096 && n > 0 && n < max && next[n - 1].ra_at == 0);
  memos[which ^ 1].generation = generation;
  t_memo_last[memo] = which ^ 1;
  t_walk_check[memo].valid = false;  // it described the last walk
  return fallback ? -1 : n;
}

int backtrace_from(uintptr_t pc, uintptr_t sp, uintptr_t bp, bool exact_first, uintptr_t* out, int max) {
  int n = 0;
  while (n < max && pc >= 4096) {
    out[n] = pc;
    // A return address is looked up at the call (pc - 1); an interrupted pc at itself.
    const uint64_t v = rule_of(n == 0 && exact_first ? pc : pc - 1);
    if (++n == max || (v & (kEnd | kNotModelled)) != 0) break;
    StepWords at;
    if (!cfi_step(v, &pc, &sp, &bp, &at)) break;
  }
  return n;
}

void unwind_cache_clear() {
  g_unwind_generation.fetch_add(1, std::memory_order_relaxed);  // the threads' memos hold rules too
  // Only the slots in use are written: the table's untouched pages stay unbacked.
  // Rules first, then their keys (release: a reader that sees a key cleared sees its rule
  // cleared too, and one that sees a rule cleared under its old key takes it as a miss).
  for (Slot& s : g_cache)
    if (s.pc.load(std::memory_order_relaxed) != 0) s.rule.store(0, std::memory_order_relaxed);
  for (Slot& s : g_cache)
    if (s.pc.load(std::memory_order_relaxed) != 0) s.pc.store(0, std::memory_order_release);
}

UnwindStats unwind_stats() {
  return UnwindStats{g_misses.load(std::memory_order_relaxed), g_fallbacks.load(std::memory_order_relaxed)};
}

}  // namespace memkit::check
