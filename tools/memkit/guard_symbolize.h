// memkit CLI — symbolising the guard mode's reports (tools/memkit/guard_symbolize.h)
//
// libmemkit.so links libc only, so its guard-mode reports (src/malloc/guard.h) print each frame
// as "#N 0xPC in ?? (/path/to/module+0xOFFSET)", OFFSET being the ELF virtual address in that
// file. `memkit run --guard N` collects the report and passes it through symbolize_guard_report
// before printing it: each such frame (and the SUMMARY line) gets its function, source file and
// line from the module's symbol table and DWARF (libdw, offline: the files are read from disk,
// the process may be gone), in the checked mode's form "#N 0xPC in function file:line
// (module+0xOFF)". Frames the module does not describe (no file, stripped) stay as they are.
#pragma once

#include <string>

namespace memkit::cli {

/// The report with its frames symbolised (unchanged without libdw).
std::string symbolize_guard_report(const std::string& text);

}  // namespace memkit::cli
