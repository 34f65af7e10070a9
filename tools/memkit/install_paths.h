// memkit CLI — where memkit's own files are (tools/memkit/install_paths.h): libmemkit.so and the
// bundled programs, found relative to the running memkit binary, in the build tree (BIN/../lib,
// BIN/) as in an install (BIN/../<libdir>/memkit, BIN/../<libexecdir>/memkit).
#pragma once

#include <string>
#include <vector>

namespace memkit::cli {

/// The directory of the running memkit binary.
std::string self_dir();

/// libmemkit.so for LD_PRELOAD: MEMKIT_PRELOAD if set (a Failure if unreadable), else the first
/// readable of BIN/../<libdir>/memkit/, BIN/../lib/, BIN/. Throws a Failure naming the places.
std::string find_preload();

/// libmemkit-checked.so (memkit check): MEMKIT_CHECKED_PRELOAD if set, else found as
/// find_preload() finds libmemkit.so. Throws a Failure naming the places.
std::string find_checked_preload();

/// libmemkit-trace.so (memkit run --trace): MEMKIT_TRACE_PRELOAD if set, else found as
/// find_preload() finds libmemkit.so. Throws a Failure naming the places.
std::string find_trace_preload();

/// A bundled program (memkit-lisp, mkb-*): BIN/NAME in the build tree, else
/// BIN/../<libexecdir>/memkit/NAME. Empty if neither is executable.
std::string find_bundled(const std::string& name);

/// Every bundled program whose name starts with prefix (build tree first, then the install's
/// libexec directory), as {name, path}, sorted by name; a name found in both comes once.
std::vector<std::pair<std::string, std::string>> list_bundled(const std::string& prefix);

}  // namespace memkit::cli
