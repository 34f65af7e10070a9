// memkit — shared helpers of the allocator benchmark workloads (bench/workloads/*.cpp).
//
// Header-only, C++ standard library only. Every workload:
//   mkb-NAME [--threads T] [--scale S]
// T (default 2) is the number of worker threads, S (default 1.0) multiplies the amount of work.
// The last line of stdout is `checksum: <16 hex digits>`; it depends on the arguments only (never
// on addresses, timing or thread interleaving), so every allocator must print the same one.
// Exit codes: 0 success, 1 a value read back from a block was wrong, 2 bad arguments.
#pragma once

#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <time.h>

namespace mkb {

inline const char* g_name = "mkb";  // "mkb-NAME", set by parse_args, prefixes every message

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

// An internal inconsistency (a value read back wrong): message on stderr, exit 1. Callable from
// any thread: _Exit does not run destructors under the feet of the other threads.
[[noreturn]] __attribute__((format(printf, 1, 2))) inline void fail(const char* fmt, ...) {
  std::fflush(stdout);
  std::fprintf(stderr, "%s: error: ", g_name);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
  std::fflush(stderr);
  std::_Exit(1);
}

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

struct Options {
  unsigned threads = 2;
  double scale = 1.0;
  long idle_ms = 0;  // workloads that free everything: sleep this long, then print RSS again
};

constexpr unsigned kMaxThreads = 1024;
constexpr double kMaxScale = 1000.0;

[[noreturn]] inline void usage_error(const char* what, const char* arg) {
  std::fprintf(stderr, "%s: %s '%s'\nusage: %s [--threads T] [--scale S] [--idle-ms N]\n", g_name,
               what, arg, g_name);
  std::exit(2);
}

// Parses `[--threads T] [--scale S] [--idle-ms N]` (also --threads=T, ...; -h/--help prints the
// usage). T: integer in [1, 1024]; S: number in (0, 1000]; N: integer in [0, 60000] (only the
// workloads that end by freeing everything use it). Anything else: message on stderr, exit 2.
inline Options parse_args(int argc, char** argv, const char* name) {
  static std::string full_name;
  full_name = std::string("mkb-") + name;
  g_name = full_name.c_str();
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::printf("usage: %s [--threads T] [--scale S] [--idle-ms N]\n"
                  "  --threads T  worker threads, 1..%u (default 2)\n"
                  "  --scale S    multiplies the amount of work, (0, %g] (default 1)\n"
                  "  --idle-ms N  fragmentation, malloc_large: after freeing everything, sleep N\n"
                  "               ms and print the RSS again (memory given back; default 0)\n",
                  g_name, kMaxThreads, kMaxScale);
      std::exit(0);
    }
    std::string key = arg;
    std::string value;
    bool has_value = false;
    if (std::size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      key = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    if (key != "--threads" && key != "--scale" && key != "--idle-ms")
      usage_error("unknown option", arg.c_str());
    if (!has_value) {
      if (i + 1 >= argc) usage_error("missing value for", arg.c_str());
      value = argv[++i];
    }
    const char* s = value.c_str();
    char* end = nullptr;
    if (key == "--threads") {
      errno = 0;
      unsigned long long t = (*s >= '0' && *s <= '9') ? std::strtoull(s, &end, 10) : 0;
      if (end == nullptr || end == s || *end != '\0' || errno != 0 || t < 1 || t > kMaxThreads)
        usage_error("invalid thread count (1..1024)", s);
      opt.threads = static_cast<unsigned>(t);
    } else if (key == "--idle-ms") {
      errno = 0;
      long long ms = (*s >= '0' && *s <= '9') ? std::strtoll(s, &end, 10) : -1;
      if (end == nullptr || end == s || *end != '\0' || errno != 0 || ms < 0 || ms > 60000)
        usage_error("invalid idle time (0..60000 ms)", s);
      opt.idle_ms = static_cast<long>(ms);
    } else {
      errno = 0;
      double v = *s != '\0' && *s != ' ' ? std::strtod(s, &end) : 0.0;
      if (end == nullptr || end == s || *end != '\0' || errno != 0 || !std::isfinite(v) ||
          !(v > 0.0) || v > kMaxScale)
        usage_error("invalid scale (a number in (0, 1000])", s);
      opt.scale = v;
    }
  }
  return opt;
}

// max(lo, round(base * scale)): a work count scaled by --scale, never below lo.
inline std::uint64_t scaled(double base, double scale, std::uint64_t lo = 1) {
  double v = std::floor(base * scale + 0.5);
  if (v < static_cast<double>(lo)) return lo;
  return static_cast<std::uint64_t>(v);
}

// The common first lines of every workload's output.
inline void print_header(const Options& opt, bool single_threaded = false) {
  std::printf("workload: %s\n", g_name);
  if (single_threaded)
    std::printf("threads: 1 (single-threaded; --threads %u ignored)\n", opt.threads);
  else
    std::printf("threads: %u\n", opt.threads);
  std::printf("scale: %g\n", opt.scale);
}

// ---------------------------------------------------------------------------------------------
// PRNG and hashing
// ---------------------------------------------------------------------------------------------

inline std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// A strong 64-bit finaliser (murmur3 fmix64); mix64(0) != 0.
inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x632be59bd9b4e019ull;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

// Order-dependent combination: combine(combine(h, a), b) != combine(combine(h, b), a).
inline std::uint64_t combine(std::uint64_t h, std::uint64_t v) {
  return mix64(h ^ (v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2)));
}

constexpr std::uint64_t kFnvOffset = 0xcbf29ce484222325ull;
constexpr std::uint64_t kFnvPrime = 0x100000001b3ull;

inline std::uint64_t fnv1a(std::uint64_t h, const void* p, std::size_t n) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * kFnvPrime;
  return h;
}

// xorshift64* seeded through splitmix64: seed it with (workload, thread/lineage, phase...).
class Rng {
 public:
  explicit Rng(std::uint64_t seed, std::uint64_t stream = 0) {
    std::uint64_t s = seed ^ mix64(stream);
    state_ = splitmix64(s);
    if (state_ == 0) state_ = 0x9e3779b97f4a7c15ull;
  }
  std::uint64_t next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545f4914f6cdd1dull;
  }
  // Uniform in [0, n), n <= 2^32.
  std::uint64_t below(std::uint64_t n) { return ((next() >> 32) * n) >> 32; }
  // Uniform in [lo, hi], hi - lo < 2^32.
  std::uint64_t range(std::uint64_t lo, std::uint64_t hi) { return lo + below(hi - lo + 1); }
  // Uniform in [0, 1).
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  std::uint64_t state_;
};

// ---------------------------------------------------------------------------------------------
// Blocks
// ---------------------------------------------------------------------------------------------

// Keeps the compiler from proving anything about the memory behind p (so it cannot drop the
// writes into a block, nor an allocation/free pair around them).
inline void escape(const void* p) { __asm__ __volatile__("" : : "r"(p) : "memory"); }

inline unsigned char page_byte(std::uint64_t tag, std::size_t off) {
  return static_cast<unsigned char>((tag >> 8) ^ (off >> 12) ^ 0x5a);
}
inline unsigned char tail_byte(std::uint64_t tag) { return static_cast<unsigned char>(mix64(tag)); }

constexpr std::size_t kMinStamped = 16;

// Stamps a block of n >= 16 bytes so that it describes itself: bytes [0,8) hold tag, [8,16) hold
// n, one byte at every 4 KiB offset (so every page of a large block is written) and, past those
// 16 bytes, the last byte are derived from tag.
inline void stamp(void* p, std::size_t n, std::uint64_t tag) {
  auto* b = static_cast<unsigned char*>(p);
  std::uint64_t n64 = n;
  std::memcpy(b, &tag, 8);
  std::memcpy(b + 8, &n64, 8);
  for (std::size_t off = 4096; off + 1 < n; off += 4096) b[off] = page_byte(tag, off);
  if (n > kMinStamped) b[n - 1] = tail_byte(tag);
  escape(b);
}

struct Stamped {
  std::uint64_t tag;
  std::size_t size;
};

// Reads back a block written by stamp() and checks it; its size must be in [lo, hi]. Fails
// (exit 1) on any inconsistency. `who` names the caller for the message.
inline Stamped read_stamp(const void* p, std::size_t lo, std::size_t hi, const char* who) {
  escape(p);
  const auto* b = static_cast<const unsigned char*>(p);
  Stamped s{};
  std::uint64_t n64 = 0;
  std::memcpy(&s.tag, b, 8);
  std::memcpy(&n64, b + 8, 8);
  if (n64 < lo || n64 > hi || n64 < kMinStamped)
    fail("%s: block size read back as %" PRIu64 ", expected %zu..%zu", who, n64, lo, hi);
  s.size = static_cast<std::size_t>(n64);
  for (std::size_t off = 4096; off + 1 < s.size; off += 4096)
    if (b[off] != page_byte(s.tag, off))
      fail("%s: block of %zu bytes with tag %016" PRIx64 ": byte at offset %zu read back wrong",
           who, s.size, s.tag, off);
  if (s.size > kMinStamped && b[s.size - 1] != tail_byte(s.tag))
    fail("%s: block of %zu bytes with tag %016" PRIx64 ": last byte read back wrong", who,
         s.size, s.tag);
  return s;
}

// read_stamp() of a block whose tag and size the caller knows.
inline void check_stamp(const void* p, std::size_t n, std::uint64_t tag, const char* who) {
  Stamped s = read_stamp(p, n, n, who);
  if (s.tag != tag)
    fail("%s: block of %zu bytes: tag read back as %016" PRIx64 ", expected %016" PRIx64, who, n,
         s.tag, tag);
}

// malloc that fails (exit 1) on a null result.
inline void* xmalloc(std::size_t n, const char* who) {
  void* p = std::malloc(n);
  if (p == nullptr) fail("%s: malloc(%zu) returned NULL", who, n);
  return p;
}

inline void* xrealloc(void* old, std::size_t n, const char* who) {
  void* p = std::realloc(old, n);
  if (p == nullptr) fail("%s: realloc(%zu) returned NULL", who, n);
  return p;
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

// Prints the last line of stdout and flushes it.
inline void print_checksum(std::uint64_t h) {
  std::printf("checksum: %016" PRIx64 "\n", h);
  std::fflush(stdout);
}

// VmRSS / VmHWM of this process in KiB from /proc/self/status (-1 if unavailable).
inline long proc_status_kib(const char* field) {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  long value = -1;
  std::size_t len = std::strlen(field);
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, field, len) == 0 && line[len] == ':') {
      value = std::strtol(line + len + 1, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return value;
}
inline long rss_kib() { return proc_status_kib("VmRSS"); }
inline long peak_rss_kib() { return proc_status_kib("VmHWM"); }

// After a workload freed everything: with --idle-ms N, sleeps N ms (making no call into the
// allocator) and prints the RSS again, which shows what an allocator gives back on its own
// while the program is idle (memkit: after its decay time, by its background purger).
inline void print_rss_after_idle(const Options& opt) {
  if (opt.idle_ms <= 0) return;
  timespec ts{static_cast<time_t>(opt.idle_ms / 1000), (opt.idle_ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
  std::printf("rss after %ld ms idle: %ld KiB\n", opt.idle_ms, rss_kib());
}

}  // namespace mkb
