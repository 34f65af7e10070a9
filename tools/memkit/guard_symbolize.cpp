// memkit CLI — symbolising the guard mode's reports (tools/memkit/guard_symbolize.cpp): see
// guard_symbolize.h.
#include "guard_symbolize.h"

#include <cxxabi.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>

#ifdef MEMKIT_HAVE_LIBDW
#include <elfutils/libdwfl.h>
#endif

namespace memkit::cli {
namespace guard_symbolize_impl {

struct Place {
  std::string function;
  std::string file;
  int line = 0;
};

std::string demangle(const char* name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = status == 0 && d != nullptr ? d : name;
  std::free(d);
  return out;
}

std::string base_name(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

#ifdef MEMKIT_HAVE_LIBDW
// One Dwfl per module file, its addresses the file's own (base 0): OFFSET is looked up as is.
class Modules {
 public:
  ~Modules() {
    for (auto& [path, dwfl] : dwfls_)
      if (dwfl != nullptr) dwfl_end(dwfl);
  }
  Place lookup(const std::string& path, uint64_t addr) {
    Place p;
    Dwfl* dwfl = open(path);
    if (dwfl == nullptr) return p;
    Dwfl_Module* mod = dwfl_addrmodule(dwfl, addr);
    if (mod == nullptr) return p;
    GElf_Off off = 0;
    GElf_Sym sym;
    if (const char* name = dwfl_module_addrinfo(mod, addr, &off, &sym, nullptr, nullptr, nullptr))
      p.function = demangle(name);
    if (Dwfl_Line* line = dwfl_module_getsrc(mod, addr)) {
      int lineno = 0;
      if (const char* file = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr)) {
        p.file = file;
        p.line = lineno;
      }
    }
    return p;
  }

 private:
  Dwfl* open(const std::string& path) {
    auto it = dwfls_.find(path);
    if (it != dwfls_.end()) return it->second;
    static const Dwfl_Callbacks callbacks = {
        dwfl_build_id_find_elf, dwfl_standard_find_debuginfo, dwfl_offline_section_address, nullptr};
    Dwfl* dwfl = dwfl_begin(&callbacks);
    if (dwfl != nullptr) {
      dwfl_report_begin(dwfl);
      if (dwfl_report_elf(dwfl, base_name(path).c_str(), path.c_str(), -1, 0, false) == nullptr) {
        dwfl_end(dwfl);
        dwfl = nullptr;
      } else {
        dwfl_report_end(dwfl, nullptr, nullptr);
      }
    }
    dwfls_[path] = dwfl;
    return dwfl;
  }
  std::map<std::string, Dwfl*> dwfls_;
};
#else
class Modules {
 public:
  Place lookup(const std::string&, uint64_t) { return {}; }
};
#endif

// "function file:line (module+0xOFF)", or "" when the module tells nothing.
std::string describe(Modules& modules, const std::string& path, const std::string& hex, bool exact) {
  const uint64_t off = std::strtoull(hex.c_str(), nullptr, 16);
  // A return address is looked up at the call instruction before it.
  const Place p = modules.lookup(path, exact || off == 0 ? off : off - 1);
  if (p.function.empty() && p.file.empty()) return {};
  std::string s = p.function.empty() ? "??" : p.function;
  if (!p.file.empty()) s += " " + p.file + ":" + std::to_string(p.line);
  return s;
}

}  // namespace guard_symbolize_impl

std::string symbolize_guard_report(const std::string& text) {
  using namespace guard_symbolize_impl;
  static const std::regex frame(R"(^(\s+#(\d+) 0x[0-9a-f]+ in )\?\? \((.+)\+0x([0-9a-f]+)\)$)");
  static const std::regex summary(R"(^(memkit: (?:\[[^\]]*\] )?SUMMARY: \S+ in )\?\? \((.+)\+0x([0-9a-f]+)\)$)");
  Modules modules;
  std::istringstream in(text);
  std::string out;
  std::string line;
  bool exact_section = false;  // the faulting access's stack: its frame #0 is the faulting pc
  bool faulted = false;        // this report's bad call is a fault
  std::smatch m;
  while (std::getline(in, line)) {
    if (line.rfind("memkit: ", 0) == 0 && line.find("ERROR: ") != std::string::npos) faulted = false;
    if (line.size() > 0 && line.back() == ':' && line.rfind("  ", 0) == 0 && line.rfind("   ", 0) != 0) {
      exact_section = line.find("the faulting access") != std::string::npos;
      if (exact_section) faulted = true;
    }
    if (std::regex_match(line, m, frame)) {
      const bool exact = exact_section && m[2] == "0";
      const std::string d = describe(modules, m[3], m[4], exact);
      if (!d.empty()) line = m[1].str() + d + " (" + base_name(m[3]) + "+0x" + m[4].str() + ")";
    } else if (std::regex_match(line, m, summary)) {
      const std::string d = describe(modules, m[2], m[3], faulted);
      if (!d.empty()) line = m[1].str() + d;
    }
    out += line;
    if (!in.eof()) out += '\n';
  }
  return out;
}

}  // namespace memkit::cli
