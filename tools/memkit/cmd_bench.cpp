// memkit CLI — `memkit bench` (tools/memkit/cmd_bench.cpp): memkit's malloc side by side with
// the allocators users would pick instead.
//
// Runs each workload (the mkb-* programs of bench/workloads and the bundled memkit-lisp, found
// next to this binary or in the install's libexec/memkit) in a fresh process under each
// allocator through LD_PRELOAD (glibc: none), interleaving the allocators run by run so that a
// slow phase of a shared machine hits them all alike. Each run's wall time (CLOCK_MONOTONIC
// around spawn and wait4), user and system time and peak RSS (wait4's rusage) and the
// workload's checksum line are recorded; every run of a workload must print the same checksum,
// whatever the allocator, or the bench fails (exit status 1), as it does when a run fails.
//
// Output: a table of medians (time, then peak RSS) with memkit's ratio to the best peer per
// workload and the geometric means, on stdout; runs.csv, summary.json and chart.svg (each
// allocator's time and memory relative to the best on each workload) in --out DIR.
#include <dlfcn.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <climits>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "bench_core.h"
#include "command.h"
#include "install_paths.h"
#include "memkit/version.h"
#include "number_arg.h"
#include "svg_text.h"

extern char** environ;

namespace memkit::cli {
namespace cmd_bench_impl {

// ---- allocators ----

// Debian's packages (libjemalloc2, libtcmalloc-minimal4, libmimalloc2.0) and the usual others.
const std::map<std::string, std::vector<std::string>>& peer_libraries() {
  static const std::map<std::string, std::vector<std::string>> libs = {
      {"jemalloc", {"libjemalloc.so.2", "libjemalloc.so"}},
      {"tcmalloc", {"libtcmalloc_minimal.so.4", "libtcmalloc.so.4", "libtcmalloc_minimal.so"}},
      {"mimalloc", {"libmimalloc.so.2", "libmimalloc.so.2.0", "libmimalloc.so"}},
  };
  return libs;
}

std::string find_library(const std::vector<std::string>& names) {
  for (const char* dir : {"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64",
                          "/usr/lib", "/usr/local/lib"}) {
    for (const std::string& name : names) {
      const std::string path = std::string(dir) + "/" + name;
      if (access(path.c_str(), R_OK) == 0) return path;
    }
  }
  return {};
}

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

// Why `path` cannot be an allocator for LD_PRELOAD ("" when it can): bad=/etc/passwd ran the
// workloads on the C library's malloc under the name "bad". The test is the workloads' own way
// of loading it: this binary runs again with LD_PRELOAD=path alone and MEMKIT_PRELOAD_PROBE=path,
// and main() hands over to preload_probe() below, which checks that malloc is the library's. A
// dlopen here would refuse libraries that LD_PRELOAD takes (jemalloc's static TLS) and run
// their constructors in this process.
std::string preload_problem(const std::string& path) {
  if (path.find_first_of(": \t\n") != std::string::npos)
    return "the path holds ':' or white space, which separate LD_PRELOAD entries";
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0)
    throw internal_error(fmt::format("bench: pipe: {}", std::strerror(errno)));
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e)
    if (std::strncmp(*e, "LD_PRELOAD=", 11) != 0 && std::strncmp(*e, "MEMKIT_PRELOAD_PROBE=", 21) != 0)
      env.emplace_back(*e);
  env.push_back("LD_PRELOAD=" + path);
  env.push_back("MEMKIT_PRELOAD_PROBE=" + path);
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string self = "/proc/self/exe", arg0 = "memkit";
  char* argv[] = {arg0.data(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  pid_t pid;
  const int rc = posix_spawn(&pid, self.c_str(), &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(err_pipe[1]);
  if (rc != 0) {
    close(err_pipe[0]);
    throw internal_error(fmt::format("bench: {}: {}", self, std::strerror(rc)));
  }
  std::string said;
  char buf[512];
  ssize_t n;
  while ((n = read(err_pipe[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) said.append(buf, static_cast<size_t>(n));
  close(err_pipe[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  // ld.so's "ERROR: ld.so: object 'P' from LD_PRELOAD cannot be preloaded (WHY): ignored."
  const std::string ldso = "from LD_PRELOAD cannot be preloaded (";
  if (const size_t at = said.find(ldso); at != std::string::npos) {
    const size_t from = at + ldso.size();
    return "the dynamic loader cannot preload it (" + said.substr(from, said.find("):", from) - from) + ")";
  }
  if (WIFSIGNALED(status)) return fmt::format("a program preloading it died of signal {}", WTERMSIG(status));
  said = said.substr(0, said.find('\n'));
  return said.empty() ? fmt::format("a program preloading it exited with status {}", WEXITSTATUS(status)) : said;
}

// NAME, or NAME=PATH for any other LD_PRELOAD allocator. A peer asked for by name that is not
// installed is an error, unless the list is the default one (then it is skipped, with a note).
std::vector<Allocator> resolve_allocators(const std::string& list, bool is_default) {
  std::vector<Allocator> out;
  for (const std::string& item : split(list)) {
    const size_t eq = item.find('=');
    Allocator a;
    a.name = item.substr(0, eq);
    if (eq != std::string::npos) {
      a.preload = item.substr(eq + 1);
      if (a.name.empty()) throw usage_error(fmt::format("bench: '{}': no NAME before '='", item));
      if (access(a.preload.c_str(), R_OK) != 0)
        throw usage_error(fmt::format("bench: {}: {}", a.preload, std::strerror(errno)));
    } else if (a.name == "memkit") {
      a.preload = find_preload();
    } else if (a.name != "glibc") {
      auto it = peer_libraries().find(a.name);
      if (it == peer_libraries().end())
        throw usage_error(fmt::format(
            "bench: unknown allocator '{}' (memkit, glibc, jemalloc, tcmalloc, mimalloc or "
            "NAME=PATH)",
            a.name));
      a.preload = find_library(it->second);
      if (a.preload.empty()) {
        const std::string msg = fmt::format(
            "bench: {} is not installed ({}; scripts/deps.sh installs it)", a.name,
            it->second.front());
        if (!is_default) throw usage_error(msg);
        std::fprintf(stderr, "memkit: %s: skipped\n", msg.c_str());
        continue;
      }
    }
    for (const Allocator& b : out)
      if (b.name == a.name) throw usage_error("bench: allocator '" + a.name + "' given twice");
    if (!a.preload.empty()) {
      if (const std::string why = preload_problem(a.preload); !why.empty())
        throw usage_error(fmt::format("bench: {}: {} is not an allocator to preload: {}", a.name,
                                      a.preload, why));
    }
    out.push_back(a);
  }
  if (out.empty()) throw usage_error("bench: no allocator to run");
  return out;
}

// ---- workloads ----

std::vector<Workload> available_workloads(int threads, double scale) {
  std::vector<Workload> out;
  const std::string t = std::to_string(threads);
  const std::string s = fmt::format("{}", scale);
  for (const auto& [file, path] : list_bundled("mkb-"))
    out.push_back({file.substr(4), path, {"--threads", t, "--scale", s}});
  // The interpreter runs its demo program; the scale is a number of repeats.
  if (const std::string lisp = find_bundled("memkit-lisp"); !lisp.empty()) {
    const long repeats = std::max(1L, std::lround(scale * 2));
    out.push_back({"lisp", lisp, {"--threads", t, "--repeat", std::to_string(repeats)}});
  }
  return out;
}

std::vector<Workload> select_workloads(const std::vector<Workload>& all, const std::string& list) {
  if (all.empty())
    throw internal_error("bench: no workloads found next to " + self_dir() +
                         " (mkb-* and memkit-lisp; build them, or install memkit)");
  if (list.empty()) return all;
  std::vector<Workload> out;
  for (const std::string& name : split(list)) {
    auto it = std::find_if(all.begin(), all.end(), [&](const Workload& w) { return w.name == name; });
    if (it == all.end()) {
      std::string names;
      for (const Workload& w : all) names += (names.empty() ? "" : ", ") + w.name;
      throw usage_error(fmt::format("bench: unknown workload '{}' (available: {})", name, names));
    }
    out.push_back(*it);
  }
  return out;
}

// ---- one run ----

std::string slurp_fd(int fd) {
  std::string text;
  char buf[4096];
  lseek(fd, 0, SEEK_SET);
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  return text;
}

int scratch_file(const std::string& dir) {
  std::string path = dir + "/.run-XXXXXX";
  const int fd = mkstemp(path.data());
  if (fd < 0) throw internal_error(fmt::format("bench: {}: {}", path, std::strerror(errno)));
  unlink(path.c_str());
  return fd;
}

double seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

Run run_once(const Workload& w, const Allocator& a, int run_index, const std::string& dir) {
  Run r;
  r.workload = w.name;
  r.allocator = a.name;
  r.run = run_index;
  // The environment as it is, with LD_PRELOAD set to this allocator alone (or removed).
  // The allocator's own variables (memkit replay --options: MEMKIT_OPTIONS) replace any inherited.
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view var(*e);
    bool replaced = var.rfind("LD_PRELOAD=", 0) == 0;
    for (const std::string& own : a.env)
      replaced = replaced || var.substr(0, var.find('=') + 1) == own.substr(0, own.find('=') + 1);
    if (!replaced) env.emplace_back(*e);
  }
  if (!a.preload.empty()) env.push_back("LD_PRELOAD=" + a.preload);
  env.insert(env.end(), a.env.begin(), a.env.end());
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_s{w.path};
  argv_s.insert(argv_s.end(), w.args.begin(), w.args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);

  const int out_fd = scratch_file(dir), err_fd = scratch_file(dir);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t pid;
  const int rc = posix_spawn(&pid, w.path.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    close(out_fd);
    close(err_fd);
    throw internal_error(fmt::format("bench: {}: {}", w.path, std::strerror(rc)));
  }
  int status = 0;
  rusage ru{};
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  r.wall = static_cast<double>(t1.tv_sec - t0.tv_sec) + static_cast<double>(t1.tv_nsec - t0.tv_nsec) / 1e9;
  r.user = seconds(ru.ru_utime);
  r.sys = seconds(ru.ru_stime);
  r.max_rss_kb = ru.ru_maxrss;
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  const std::string out = slurp_fd(out_fd), err = slurp_fd(err_fd);
  close(out_fd);
  close(err_fd);
  // A workload that times its own phase of interest (memkit-replay: the replay without reading
  // the trace) prints "time: SECONDS", which stands for the run's wall time.
  if (const size_t t = out.find("time: "); t != std::string::npos && (t == 0 || out[t - 1] == '\n')) {
    char* end = nullptr;
    const double v = std::strtod(out.c_str() + t + 6, &end);
    if (end != out.c_str() + t + 6 && v >= 0) r.wall = v;
  }
  // The checksum is the last line of stdout: "checksum: <hex>".
  const size_t at = out.rfind("checksum: ");
  if (at != std::string::npos && (at == 0 || out[at - 1] == '\n')) {
    r.checksum = out.substr(at + 10);
    while (!r.checksum.empty() && (r.checksum.back() == '\n' || r.checksum.back() == ' '))
      r.checksum.pop_back();
  }
  // ld.so says so on stderr when it cannot preload the library, and runs the workload on the
  // C library's malloc: then the run measured the wrong allocator.
  if (const size_t said = err.find("from LD_PRELOAD cannot be preloaded");
      !a.preload.empty() && said != std::string::npos) {
    const size_t start = err.rfind('\n', said);
    const size_t from = start == std::string::npos ? 0 : start + 1;
    r.error = fmt::format("{} was not loaded: {}", a.preload,
                          err.substr(from, err.find('\n', said) - from));
    return r;
  }
  if (r.status != 0 || r.checksum.empty()) {
    std::string first = err.substr(0, err.find('\n'));
    if (first.empty()) first = r.status != 0 ? "no message" : "no checksum line";
    r.error = r.status != 0 ? fmt::format("status {}: {}", r.status, first) : first;
  }
  return r;
}

// ---- summary ----

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

Summary summarize(const std::vector<Run>& runs, const std::vector<Workload>& ws,
                  const std::vector<Allocator>& as) {
  Summary s;
  for (const Workload& w : ws) s.workloads.push_back(w.name);
  for (const Allocator& a : as) s.allocators.push_back(a.name);
  for (const Workload& w : ws) {
    std::string checksum;
    for (const Allocator& a : as) {
      std::vector<double> times, rss;
      bool failed = false;
      for (const Run& r : runs) {
        if (r.workload != w.name || r.allocator != a.name) continue;
        if (!r.error.empty()) {
          failed = true;
          s.problems[w.name] = fmt::format("{} run {}: {}", a.name, r.run, r.error);
          continue;
        }
        if (checksum.empty()) checksum = r.checksum;
        if (r.checksum != checksum)
          s.problems[w.name] = fmt::format("checksum {} under {} (run {}), {} before", r.checksum,
                                           a.name, r.run, checksum);
        times.push_back(r.wall);
        rss.push_back(static_cast<double>(r.max_rss_kb) / 1024.0);
      }
      Cell c;
      c.ok = !failed && !times.empty();
      if (c.ok) {
        c.time = median(times);
        c.rss_mib = median(rss);
      }
      s.cells[w.name][a.name] = c;
    }
  }
  return s;
}

// The best (lowest) value among the allocators other than `except` on one workload.
double best_of(const Summary& s, const std::string& w, bool time, const std::string& except,
               std::string* who) {
  double best = NAN;
  for (const std::string& a : s.allocators) {
    if (a == except) continue;
    const Cell& c = s.cells.at(w).at(a);
    if (!c.ok) continue;
    const double v = time ? c.time : c.rss_mib;
    if (std::isnan(best) || v < best) {
      best = v;
      if (who != nullptr) *who = a;
    }
  }
  return best;
}

double geomean(const std::vector<double>& v) {
  if (v.empty()) return NAN;
  double log_sum = 0;
  for (double x : v) log_sum += std::log(x);
  return std::exp(log_sum / static_cast<double>(v.size()));
}

bool has(const Summary& s, const std::string& a) {
  return std::find(s.allocators.begin(), s.allocators.end(), a) != s.allocators.end();
}

std::string print_table(const Summary& s, bool time, int runs) {
  std::string out;
  const bool ratio = has(s, "memkit") && s.allocators.size() > 1;
  svg::put(&out, "{} (median of {} run{})\n", time ? "time, seconds" : "peak RSS, MiB", runs,
           runs == 1 ? "" : "s");
  svg::put(&out, "{:<16}", "workload");
  for (const std::string& a : s.allocators) svg::put(&out, " {:>9}", a);
  if (ratio) svg::put(&out, "  {}", "memkit/best peer");
  out += "\n";
  std::vector<double> ratios;
  std::map<std::string, std::vector<double>> normalized;  // allocator -> value / best of all
  for (const std::string& w : s.workloads) {
    svg::put(&out, "{:<16}", w);
    const double best_all = best_of(s, w, time, "", nullptr);
    for (const std::string& a : s.allocators) {
      const Cell& c = s.cells.at(w).at(a);
      if (!c.ok) {
        svg::put(&out, " {:>9}", "FAILED");
        continue;
      }
      const double v = time ? c.time : c.rss_mib;
      svg::put(&out, " {:>9}", time ? fmt::format("{:.3f}", v) : fmt::format("{:.1f}", v));
      if (best_all > 0) normalized[a].push_back(v / best_all);
    }
    if (ratio) {
      std::string who;
      const double best = best_of(s, w, time, "memkit", &who);
      const Cell& m = s.cells.at(w).at("memkit");
      if (m.ok && best > 0) {
        const double r = (time ? m.time : m.rss_mib) / best;
        ratios.push_back(r);
        svg::put(&out, "  {:.2f} ({})", r, who);
      } else {
        svg::put(&out, "  -");
      }
    }
    out += "\n";
  }
  svg::put(&out, "{:<16}", "geomean/best");
  for (const std::string& a : s.allocators) {
    auto it = normalized.find(a);
    svg::put(&out, " {:>9}", it == normalized.end() ? "-" : fmt::format("{:.2f}", geomean(it->second)));
  }
  if (ratio && !ratios.empty()) svg::put(&out, "  {:.2f}", geomean(ratios));
  out += "\n";
  return out;
}

nlohmann::json summary_json(const Summary& s, const Args& args, const std::vector<Run>& runs) {
  nlohmann::json j;
  j["memkit_version"] = MEMKIT_VERSION;
  j["runs"] = args.runs;
  j["threads"] = args.threads;
  j["scale"] = args.scale;
  j["allocators"] = s.allocators;
  j["workloads"] = s.workloads;
  nlohmann::json machine;
  machine["cpus"] = sysconf(_SC_NPROCESSORS_ONLN);
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);)
    if (line.rfind("model name", 0) == 0) {
      machine["cpu"] = line.substr(line.find(':') + 2);
      break;
    }
  std::ifstream version("/proc/sys/kernel/osrelease");
  std::string kernel;
  std::getline(version, kernel);
  machine["kernel"] = kernel;
  j["machine"] = machine;
  nlohmann::json results = nlohmann::json::object();
  for (const std::string& w : s.workloads) {
    nlohmann::json row = nlohmann::json::object();
    for (const std::string& a : s.allocators) {
      const Cell& c = s.cells.at(w).at(a);
      row[a] = c.ok ? nlohmann::json{{"time_s", c.time}, {"peak_rss_mib", c.rss_mib}}
                    : nlohmann::json{{"failed", true}};
    }
    if (has(s, "memkit") && s.cells.at(w).at("memkit").ok) {
      std::string who_t, who_m;
      const double bt = best_of(s, w, true, "memkit", &who_t);
      const double bm = best_of(s, w, false, "memkit", &who_m);
      if (bt > 0) row["memkit_time_ratio"] = {{"ratio", s.cells.at(w).at("memkit").time / bt}, {"best_peer", who_t}};
      if (bm > 0) row["memkit_rss_ratio"] = {{"ratio", s.cells.at(w).at("memkit").rss_mib / bm}, {"best_peer", who_m}};
    }
    if (s.problems.count(w)) row["problem"] = s.problems.at(w);
    results[w] = row;
  }
  j["results"] = results;
  j["run_count"] = runs.size();
  return j;
}

// Two panels of grouped bars: each allocator's time and peak RSS on each workload relative to
// the best allocator there (1 = the best; bars capped at 3).
std::string chart_svg(const Summary& s) {
  static const char* const kColours[] = {"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd",
                                         "#8c564b", "#e377c2", "#7f7f7f"};
  const double group_w = 14.0 * static_cast<double>(s.allocators.size()) + 16;
  const double plot_w = group_w * static_cast<double>(s.workloads.size());
  const double left = 50, panel_h = 180, top = 40, gap = 90;
  const double width = std::max(left + plot_w + 20, 640.0), height = top + 2 * panel_h + gap + 100;
  const double cap = 3.0;
  std::string out;
  svg::put(&out,
           "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
           "font-family=\"sans-serif\" font-size=\"11\">\n",
           svg::num(width), svg::num(height));
  svg::put(&out, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
  svg::put(&out, "<text x=\"{}\" y=\"18\" font-size=\"14\">memkit {}: time and peak RSS relative "
           "to the best allocator on each workload (lower is better)</text>\n", svg::num(left),
           s.command);
  for (int panel = 0; panel < 2; ++panel) {
    const bool time = panel == 0;
    const double y0 = top + panel * (panel_h + gap);
    svg::put(&out, "<text x=\"{}\" y=\"{}\" font-size=\"12\">{}</text>\n", svg::num(left),
             svg::num(y0 - 4), time ? "time / best" : "peak RSS / best");
    for (double tick = 0; tick <= cap; tick += 0.5) {
      const double y = y0 + panel_h - tick / cap * panel_h;
      svg::put(&out, "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\"/>\n",
               svg::num(left), svg::num(y), svg::num(left + plot_w), svg::num(y),
               tick == 1.0 ? "#444" : "#ddd");
      svg::put(&out, "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", svg::num(left - 4),
               svg::num(y + 4), svg::num(tick));
    }
    for (size_t wi = 0; wi < s.workloads.size(); ++wi) {
      const std::string& w = s.workloads[wi];
      const double best = best_of(s, w, time, "", nullptr);
      const double gx = left + static_cast<double>(wi) * group_w + 8;
      for (size_t ai = 0; ai < s.allocators.size(); ++ai) {
        const Cell& c = s.cells.at(w).at(s.allocators[ai]);
        if (!c.ok || !(best > 0)) continue;
        const double r = (time ? c.time : c.rss_mib) / best;
        const double h = std::min(r, cap) / cap * panel_h;
        svg::put(&out,
                 "<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"{}\" fill=\"{}\"><title>{} {}: "
                 "{:.2f}</title></rect>\n",
                 svg::num(gx + 14.0 * static_cast<double>(ai)), svg::num(y0 + panel_h - h),
                 svg::num(h), kColours[ai % 8], w, s.allocators[ai], r);
      }
      svg::put(&out,
               "<text x=\"{}\" y=\"{}\" transform=\"rotate(30 {} {})\">{}</text>\n",
               svg::num(gx), svg::num(y0 + panel_h + 14), svg::num(gx),
               svg::num(y0 + panel_h + 14), w);
    }
  }
  double lx = left;
  const double ly = height - 16;
  for (size_t ai = 0; ai < s.allocators.size(); ++ai) {
    svg::put(&out, "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/>", svg::num(lx),
             svg::num(ly - 9), kColours[ai % 8]);
    svg::put(&out, "<text x=\"{}\" y=\"{}\">{}</text>\n", svg::num(lx + 14), svg::num(ly),
             s.allocators[ai]);
    lx += 24 + 7.0 * static_cast<double>(s.allocators[ai].size());
  }
  out += "</svg>\n";
  return out;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  if (!f) throw internal_error(fmt::format("bench: cannot write {}", path));
}

std::string csv(const std::vector<Run>& runs) {
  std::string out = "workload,allocator,run,wall_s,user_s,sys_s,max_rss_kb,status,checksum,error\n";
  for (const Run& r : runs) {
    std::string err = r.error;
    std::replace(err.begin(), err.end(), '"', '\'');
    svg::put(&out, "{},{},{},{:.4f},{:.4f},{:.4f},{},{},{},\"{}\"\n", r.workload, r.allocator, r.run,
             r.wall, r.user, r.sys, r.max_rss_kb, r.status, r.checksum, err);
  }
  return out;
}

void progress(bool show, size_t done, size_t total, const std::string& what) {
  if (!show) return;
  const int width = 30;
  const int filled = static_cast<int>(static_cast<double>(done) / static_cast<double>(total) * width);
  std::fprintf(stderr, "\r[%s%s] %zu/%zu %-40s", std::string(static_cast<size_t>(filled), '#').c_str(),
               std::string(static_cast<size_t>(width - filled), '.').c_str(), done, total,
               what.substr(0, 40).c_str());
  if (done == total) std::fprintf(stderr, "\r%*s\r", width + 60, "");
  std::fflush(stderr);
}

void bench(const Args& args) {
  if (args.runs < 1) throw usage_error("bench: --runs must be at least 1");
  if (args.threads < 1) throw usage_error("bench: --threads must be at least 1");
  if (!(args.scale > 0)) throw usage_error("bench: --scale must be positive");
  const std::vector<Workload> all = available_workloads(args.threads, args.scale);
  if (args.list) {
    for (const Workload& w : all) fmt::print("{:<16} {}\n", w.name, w.path);
    return;
  }
  const std::vector<Workload> workloads = select_workloads(all, args.workloads);
  const std::vector<Allocator> allocators =
      resolve_allocators(args.allocators, args.allocators == Args{}.allocators);
  run_and_report(args, workloads, allocators);
}

void run_and_report(const Args& args, const std::vector<Workload>& workloads,
                    const std::vector<Allocator>& allocators) {
  if (mkdir(args.out.c_str(), 0755) != 0 && errno != EEXIST)
    throw usage_error(fmt::format("{}: {}: {}", args.command, args.out, std::strerror(errno)));

  const bool show = !args.no_progress && isatty(2);
  const size_t total = static_cast<size_t>(args.runs) * workloads.size() * allocators.size();
  std::vector<Run> runs;
  for (int run = 1; run <= args.runs; ++run) {
    for (const Workload& w : workloads) {
      // Interleaved: each run starts the rotation at the next allocator.
      for (size_t k = 0; k < allocators.size(); ++k) {
        const Allocator& a = allocators[(k + static_cast<size_t>(run - 1)) % allocators.size()];
        progress(show, runs.size(), total, fmt::format("{} / {} (run {})", w.name, a.name, run));
        runs.push_back(run_once(w, a, run, args.out));
      }
    }
  }
  progress(show, runs.size(), total, "");

  Summary s = summarize(runs, workloads, allocators);
  s.command = args.command;
  std::string text = print_table(s, true, args.runs) + "\n" + print_table(s, false, args.runs);
  fmt::print("{}", text);
  write_file(args.out + "/runs.csv", csv(runs));
  write_file(args.out + "/summary.json", summary_json(s, args, runs).dump(2) + "\n");
  write_file(args.out + "/chart.svg", chart_svg(s));
  fmt::print("\n{} runs; {}/runs.csv, summary.json and chart.svg written\n", runs.size(), args.out);
  if (!s.problems.empty()) {
    // One line each; a run's first line of stderr may hold any byte.
    std::fprintf(stderr, "memkit: %s: runs failed or disagreed:\n", args.command.c_str());
    for (const auto& [w, what] : s.problems)
      std::fprintf(stderr, "  %s: %s\n", printable(w).c_str(), printable(what).c_str());
    throw Failure(kExitInternal, "");
  }
}

void setup(CLI::App& sub) {
  auto args = std::make_shared<Args>();
  sub.add_option("--allocators", args->allocators,
                 "comma-separated: memkit, glibc, jemalloc, tcmalloc, mimalloc, or NAME=PATH of "
                 "any LD_PRELOAD allocator (default: all five; peers not installed are skipped); "
                 "each must be a shared library that preloads and defines malloc")
      ->capture_default_str();
  sub.add_option("--workloads", args->workloads, "comma-separated workload names (default: all; see --list)");
  sub.add_option("--runs", args->runs, "runs of each workload under each allocator")
      ->capture_default_str()
      ->transform(integer_arg<int>());
  sub.add_option("--threads", args->threads, "threads per workload (single-threaded ones ignore it)")
      ->capture_default_str()
      ->transform(integer_arg<int>());
  sub.add_option("--scale", args->scale, "amount of work per run, relative to the default")
      ->capture_default_str()
      ->check(real_arg());
  sub.add_option("--out", args->out, "directory for runs.csv, summary.json and chart.svg")
      ->capture_default_str();
  sub.add_flag("--no-progress", args->no_progress, "no progress bar on stderr");
  sub.add_flag("--list", args->list, "list the workloads found and exit");
  sub.footer(
      "Each run is a fresh process with LD_PRELOAD set to the allocator (none for glibc), "
      "allocators interleaved run by run; wall, user and system time and peak RSS come from "
      "wait4. Every run of a workload must print the same checksum, or the bench exits 1. "
      "An allocator that is not a shared library defining malloc is a usage error (checked by "
      "running memkit with it preloaded), and a run whose LD_PRELOAD the dynamic loader "
      "refused is a failed run.\n"
      "Example: memkit bench --runs 5 --threads 2 --out bench-results");
  sub.callback([args] { bench(*args); });
}

const Registration kBench{"bench", "benchmark memkit's malloc against glibc, jemalloc, tcmalloc, mimalloc",
                          setup};

}  // namespace cmd_bench_impl

int preload_probe(const char* path) {
  // malloc as the program sees it (the preloaded library comes first) must be the library's.
  void* sym = dlsym(RTLD_DEFAULT, "malloc");
  Dl_info info{};
  char want[PATH_MAX], got[PATH_MAX];
  if (realpath(path, want) == nullptr) {
    std::fprintf(stderr, "%s\n", std::strerror(errno));
    return 1;
  }
  if (sym != nullptr && dladdr(sym, &info) != 0 && info.dli_fname != nullptr &&
      realpath(info.dli_fname, got) != nullptr && std::strcmp(want, got) == 0)
    return 0;
  // Mapped but not the malloc: a library that is no allocator. Not mapped: ld.so said why.
  bool mapped = false;
  if (FILE* maps = std::fopen("/proc/self/maps", "r")) {
    char line[PATH_MAX + 128];
    while (!mapped && std::fgets(line, sizeof line, maps) != nullptr) {
      const char* slash = std::strchr(line, '/');
      if (slash == nullptr) continue;
      std::string file(slash);
      if (!file.empty() && file.back() == '\n') file.pop_back();
      mapped = file == want;
    }
    std::fclose(maps);
  }
  std::fprintf(stderr, "%s\n", mapped ? "it does not define malloc" : "it was not loaded into the program");
  return 1;
}

}  // namespace memkit::cli
