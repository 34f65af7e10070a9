// memkit CLI — the heap profiler's output (tools/memkit/heap_profile.h)
//
// libmemkit.so with profile_sample writes a raw profile at exit (src/profile/profile.h: sites
// with their frames as absolute addresses, the copy at the peak, the heap report near the
// peak, /proc/self/maps). Here it is read, symbolised with libdw (function, file, line, as the
// checked mode does, but in the CLI rather than in the library), and written as:
//   heap.pb.gz / peak.pb.gz   gzipped pprof (profile.proto; sample types alloc_objects/count,
//                             alloc_space/bytes, inuse_objects/count, inuse_space/bytes)
//   heap.folded / peak.folded collapsed stacks, root first: `frame;frame;leaf LIVE_BYTES`
//   sites.csv                 one line per site (the first frame outside memkit), by peak bytes
//   peak-buddyinfo.txt, peak-slabinfo.txt   the heap's, near the peak (kernel formats)
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace memkit::cli {

struct RawSite {
  double live_bytes = 0, live_objects = 0, alloc_bytes = 0, alloc_objects = 0;
  std::vector<uint64_t> frames;  // innermost first
};

struct RawProfile {
  uint64_t sample = 0;
  uint64_t dropped = 0;
  double peak = 0;
  std::vector<RawSite> sites;
  std::vector<RawSite> peak_sites;
  std::string report;  // the heap report near the peak
  std::string maps;    // /proc/PID/maps of the program at exit
};

/// Parses the raw profile; throws Failure if it is not one.
RawProfile parse_raw_profile(const std::string& text);

/// One symbolised frame.
struct Frame {
  std::string function;  // "" when unknown
  std::string file;
  int line = 0;
  std::string module;    // the file's basename
  uint64_t offset = 0;   // from the module's load base
  /// `function (file:line)`, `function`, or `module+0xOFF`.
  std::string text() const;
};

/// Addresses of a process to frames, from its /proc/PID/maps text (libdw).
class Symbolizer {
 public:
  explicit Symbolizer(const std::string& maps);
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;
  /// A return address (looked up at addr - 1).
  const Frame& frame(uint64_t addr);
  struct Mapping {
    uint64_t start, limit, offset;
    std::string path;
    std::string build_id;  // hex, "" when unknown
  };
  /// The file-backed executable mappings, and which one holds addr (-1: none).
  const std::vector<Mapping>& mappings() const { return mappings_; }
  int mapping_of(uint64_t addr) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<Mapping> mappings_;
  std::map<uint64_t, Frame> cache_;
};

/// Writes every output file into dir (which exists). Throws Failure on a write error.
void write_profile_outputs(const RawProfile& raw, Symbolizer& sym, const std::string& dir);

/// The gzipped pprof profile of sites (peak: of the peak copy).
std::string pprof_gz(const RawProfile& raw, const std::vector<RawSite>& sites, Symbolizer& sym);

}  // namespace memkit::cli
