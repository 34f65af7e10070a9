// memkit CLI — the profile's HTML page (tools/memkit/profile_html.cpp)
//
// Parses the profile directory's files strictly (a malformed line is an error naming the file
// and the line, never a silently wrong page), turns them into one JSON document, and writes the
// page: the vendored d3 and d3-flame-graph, the page's own script and style, and the JSON, all
// inline (report_assets.h). See profile_html.h for the contract.
#include "profile_html.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "memkit/version.h"
#include "report_assets.h"

namespace memkit::cli {
namespace profile_html_impl {

// Anything wrong with an input or the output: what() is the one line for the user.
struct PageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

constexpr size_t kMaxInputBytes = size_t{1} << 30;  // 1 GiB: far above any real profile

std::string join_path(const std::string& dir, const char* name) {
  if (!dir.empty() && dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

// The whole file, or PageError("PATH: why"). A NUL byte means it is not text (a corrupt or
// truncated-to-zeros file): refused, naming the line.
std::string read_text(const std::string& path) {
  struct stat st{};
  if (stat(path.c_str(), &st) != 0) {
    throw PageError(path + ": " + (errno == ENOENT ? std::string("no such file") : std::strerror(errno)));
  }
  if (S_ISDIR(st.st_mode)) throw PageError(path + ": is a directory, not a file");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) throw PageError(path + ": " + std::strerror(errno));
  std::string text;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    text.append(buf, n);
    if (text.size() > kMaxInputBytes) {
      std::fclose(f);
      throw PageError(path + ": larger than 1 GiB: not a profile file");
    }
  }
  const bool failed = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  if (failed) throw PageError(path + ": " + std::strerror(err));
  if (const size_t nul = text.find('\0'); nul != std::string::npos) {
    size_t line = 1;
    for (size_t i = 0; i < nul; ++i) line += text[i] == '\n';
    throw PageError(path + ": line " + std::to_string(line) + ": binary data (a NUL byte): not a text file");
  }
  return text;
}

// Decimal digits only, within 64 bits.
bool parse_u64(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

// The lines of `text`, without their "\n" or "\r\n".
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

bool blank(std::string_view s) { return s.find_first_not_of(" \t") == std::string_view::npos; }

// ---------------------------------------------------------------------------------------------
// Collapsed stacks -> the tree d3-flame-graph draws: {"name","value","children":[...]}, each
// node's value the bytes of every stack through it.

struct Frame {
  std::string name;
  uint64_t value = 0;
  std::map<std::string, size_t, std::less<>> children;  // name -> index in the frame table
};

// Frames under 1/kPruneShare of all bytes are left out of the page (with what is above them):
// unzoomed they would be under 1/70 of a pixel wide, and a profile of many thousands of random
// stacks would make a page of tens of MiB. Their bytes still count in their parents' widths.
constexpr uint64_t kPruneShare = 100000;

uint64_t subtree_size(const std::vector<Frame>& frames, size_t at) {
  uint64_t n = 1;
  for (const auto& child : frames[at].children) n += subtree_size(frames, child.second);
  return n;
}

nlohmann::json tree_json(const std::vector<Frame>& frames, size_t at, uint64_t total, uint64_t* pruned) {
  const Frame& f = frames[at];
  nlohmann::json node{{"name", f.name}, {"value", f.value}};
  nlohmann::json children = nlohmann::json::array();
  for (const auto& [name, index] : f.children) {
    if (frames[index].value < total / kPruneShare) {
      *pruned += subtree_size(frames, index);
      continue;
    }
    children.push_back(tree_json(frames, index, total, pruned));
  }
  if (!children.empty()) node["children"] = std::move(children);
  return node;
}

nlohmann::json parse_folded(const std::string& path, const char* root_name, uint64_t* stacks,
                            uint64_t* pruned) {
  const std::string text = read_text(path);
  std::vector<Frame> frames(1);
  frames[0].name = root_name;
  *stacks = 0;
  size_t number = 0;
  for (std::string_view line : split_lines(text)) {
    ++number;
    if (blank(line)) continue;
    const auto where = [&] { return path + ": line " + std::to_string(number) + ": "; };
    const size_t space = line.rfind(' ');
    if (space == std::string_view::npos) {
      throw PageError(where() + "no byte count (expected 'frame;frame;...;leaf BYTES')");
    }
    uint64_t bytes = 0;
    const std::string_view count = line.substr(space + 1);
    if (!parse_u64(count, &bytes)) {
      throw PageError(where() + "'" + std::string(count.substr(0, 40)) +
                      "' is not a byte count (expected 'frame;frame;...;leaf BYTES')");
    }
    std::string_view stack = line.substr(0, space);
    if (blank(stack)) throw PageError(where() + "no stack before the byte count");
    if (frames[0].value > UINT64_MAX - bytes) throw PageError(where() + "the byte counts overflow 64 bits");
    frames[0].value += bytes;
    size_t at = 0;
    while (true) {
      const size_t semi = stack.find(';');
      const std::string_view name = stack.substr(0, semi);
      if (name.empty()) throw PageError(where() + "an empty frame (';;' or a ';' at either end)");
      auto it = frames[at].children.find(name);
      if (it == frames[at].children.end()) {
        frames.push_back(Frame{std::string(name), 0, {}});
        it = frames[at].children.emplace(std::string(name), frames.size() - 1).first;
      }
      at = it->second;
      frames[at].value += bytes;
      if (semi == std::string_view::npos) break;
      stack.remove_prefix(semi + 1);
    }
    ++*stacks;
  }
  *pruned = 0;
  return tree_json(frames, 0, frames[0].value, pruned);
}

// ---------------------------------------------------------------------------------------------
// CSV as RFC 4180 has it: fields separated by ',', records by CRLF (or LF); a field in double
// quotes may hold ',', quotes (doubled) and line breaks. Blank records are skipped.

struct CsvRecord {
  size_t line;  // where it starts, for messages
  std::vector<std::string> fields;
};

std::vector<CsvRecord> parse_csv(const std::string& path, const std::string& text) {
  std::vector<CsvRecord> records;
  CsvRecord record{1, {}};
  std::string field;
  size_t line = 1;
  size_t i = 0;
  bool quoted_field = false;  // the current field was quoted (so "" is an empty field, not blank)
  const auto where = [&](size_t at_line) { return path + ": line " + std::to_string(at_line) + ": "; };
  const auto end_record = [&] {
    record.fields.push_back(std::move(field));
    field.clear();
    const bool empty = record.fields.size() == 1 && record.fields[0].empty() && !quoted_field;
    if (!empty) records.push_back(std::move(record));
    record = CsvRecord{line, {}};
    quoted_field = false;
  };
  while (i < text.size()) {
    const char c = text[i];
    if (c == '"') {
      if (!field.empty() || quoted_field) throw PageError(where(line) + "a '\"' inside an unquoted field");
      quoted_field = true;
      const size_t opened = line;
      ++i;
      while (true) {
        if (i >= text.size()) throw PageError(where(opened) + "a quoted field is never closed");
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        if (text[i] == '\n') ++line;
        field += text[i++];
      }
      if (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
        throw PageError(where(line) + "text after the closing '\"' of a quoted field");
      }
    } else if (c == ',') {
      record.fields.push_back(std::move(field));
      field.clear();
      quoted_field = false;
      ++i;
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      ++i;
    } else if (c == '\n') {
      ++line;
      ++i;
      end_record();
    } else {
      if (quoted_field) throw PageError(where(line) + "text after the closing '\"' of a quoted field");
      field += c;
      ++i;
    }
  }
  if (!field.empty() || !record.fields.empty() || quoted_field) end_record();
  return records;
}

void check_width(const std::string& path, const CsvRecord& r, size_t width) {
  if (r.fields.size() != width) {
    throw PageError(path + ": line " + std::to_string(r.line) + ": " + std::to_string(r.fields.size()) +
                    " field" + (r.fields.size() == 1 ? "" : "s") + ", the header has " + std::to_string(width));
  }
}

nlohmann::json byte_field(const std::string& path, const CsvRecord& r, size_t column,
                          const std::string& name, bool empty_is_null) {
  const std::string& s = r.fields[column];
  if (s.empty() && empty_is_null) return nullptr;
  uint64_t v = 0;
  if (!parse_u64(s, &v)) {
    throw PageError(path + ": line " + std::to_string(r.line) + ": " + name + " '" + s.substr(0, 40) +
                    "' is not a non-negative integer");
  }
  return v;
}

// timeline.csv: time_s,heap_bytes,rss_bytes then one column per top site (its frame text).
nlohmann::json parse_timeline(const std::string& path) {
  const std::vector<CsvRecord> records = parse_csv(path, read_text(path));
  if (records.empty()) throw PageError(path + ": empty (expected the header time_s,heap_bytes,rss_bytes,...)");
  std::vector<std::string> header = records[0].fields;
  if (header.size() < 3 || header[0] != "time_s" || header[1] != "heap_bytes" || header[2] != "rss_bytes") {
    throw PageError(path + ": line 1: the header must start with time_s,heap_bytes,rss_bytes");
  }
  // A header that ends in ',' (no site column after it) is taken as the same header without it.
  const size_t width = header.size();
  bool trailing_empty = header.back().empty() && width > 3;
  for (size_t k = 1; trailing_empty && k < records.size(); ++k) {
    check_width(path, records[k], width);
    trailing_empty = records[k].fields.back().empty();
  }
  const size_t columns = trailing_empty ? width - 1 : width;
  nlohmann::json names = nlohmann::json::array();
  for (size_t c = 3; c < columns; ++c) names.push_back(header[c]);
  nlohmann::json time = nlohmann::json::array(), heap = nlohmann::json::array(), rss = nlohmann::json::array();
  std::vector<nlohmann::json> sites(columns - 3, nlohmann::json::array());
  double last = -1;
  for (size_t k = 1; k < records.size(); ++k) {
    const CsvRecord& r = records[k];
    check_width(path, r, width);
    const std::string& t = r.fields[0];
    char* end = nullptr;
    errno = 0;
    const double seconds = t.empty() ? NAN : std::strtod(t.c_str(), &end);
    if (t.empty() || end != t.c_str() + t.size() || !std::isfinite(seconds) || seconds < 0) {
      throw PageError(path + ": line " + std::to_string(r.line) + ": time_s '" + t.substr(0, 40) +
                      "' is not a time in seconds");
    }
    if (seconds < last) {
      throw PageError(path + ": line " + std::to_string(r.line) + ": time_s " + t + " goes back in time");
    }
    last = seconds;
    time.push_back(seconds);
    heap.push_back(byte_field(path, r, 1, "heap_bytes", true));
    rss.push_back(byte_field(path, r, 2, "rss_bytes", true));
    for (size_t c = 3; c < columns; ++c) sites[c - 3].push_back(byte_field(path, r, c, "'" + header[c] + "'", true));
  }
  return {{"sites", names}, {"time", time}, {"heap", heap}, {"rss", rss}, {"values", sites}};
}

// sites.csv: one row per site, in the file's order (by peak bytes).
nlohmann::json parse_sites(const std::string& path) {
  const std::vector<CsvRecord> records = parse_csv(path, read_text(path));
  static const char* const kColumns[] = {"function",   "file",          "line",
                                         "live_bytes", "live_objects",  "alloc_bytes",
                                         "alloc_objects", "peak_bytes", "peak_objects"};
  if (records.empty()) throw PageError(path + ": empty (expected the header function,file,line,...)");
  const std::vector<std::string>& header = records[0].fields;
  size_t index[9];
  for (size_t k = 0; k < 9; ++k) {
    size_t found = header.size();
    for (size_t c = 0; c < header.size(); ++c) {
      if (header[c] == kColumns[k]) found = c;
    }
    if (found == header.size()) {
      throw PageError(path + ": line 1: the header has no column '" + kColumns[k] + "'");
    }
    index[k] = found;
  }
  nlohmann::json rows = nlohmann::json::array();
  for (size_t k = 1; k < records.size(); ++k) {
    const CsvRecord& r = records[k];
    check_width(path, r, header.size());
    nlohmann::json row{{"function", r.fields[index[0]]}, {"file", r.fields[index[1]]}};
    row["line"] = byte_field(path, r, index[2], "line", true);
    for (size_t c = 3; c < 9; ++c) row[kColumns[c]] = byte_field(path, r, index[c], kColumns[c], false);
    rows.push_back(std::move(row));
  }
  return rows;
}

// The two kernel-format texts, checked for their shape and shown as they are. An empty file is
// allowed (a heap with nothing at the peak).
std::string read_buddyinfo(const std::string& path) {
  std::string text = read_text(path);
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) return text;
  for (std::string_view line : split_lines(text)) {
    if (line.rfind("Node ", 0) == 0 && line.find(", zone ") != std::string_view::npos) return text;
  }
  throw PageError(path + ": not in /proc/buddyinfo's format (no 'Node N, zone NAME ...' line)");
}

std::string read_slabinfo(const std::string& path) {
  std::string text = read_text(path);
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) return text;
  if (text.rfind("slabinfo - version: ", 0) != 0) {
    throw PageError(path + ": line 1: not in /proc/slabinfo's format (expected 'slabinfo - version: 2.1')");
  }
  return text;
}

// JSON safe inside <script type="application/json">: '<', '>' and '&' only ever occur inside
// JSON strings, where \u003c, \u003e and \u0026 mean the same, so "</script>" and "<!--" cannot
// occur in the element's text; U+2028/U+2029 are escaped too, for any reader that takes the text
// as JavaScript. Bytes that are not UTF-8 become U+FFFD.
std::string script_safe_json(const nlohmann::json& data) {
  const std::string json = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(json.size() + json.size() / 16);
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else if (c == '\xe2' && i + 2 < json.size() && json[i + 1] == '\x80' &&
               (json[i + 2] == '\xa8' || json[i + 2] == '\xa9')) {
      out += json[i + 2] == '\xa8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

// Text for HTML element content or a double-quoted attribute. Bytes that are not UTF-8 stay as
// they are (the browser shows U+FFFD): they cannot form markup.
std::string html_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string build_page(const std::string& dir, const nlohmann::json& data) {
  using namespace report_assets;
  std::string title = dir;
  while (title.size() > 1 && title.back() == '/') title.pop_back();
  if (const size_t slash = title.rfind('/'); slash != std::string::npos && slash + 1 < title.size()) {
    title = title.substr(slash + 1);
  }
  std::string page;
  page.reserve(kD3Size + kFlameGraphSize + 65536);
  page += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  // Nothing is fetched when the page is viewed: everything it needs is inline.
  page += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">\n";
  page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  page += "<meta name=\"generator\" content=\"memkit " MEMKIT_VERSION "\">\n";
  page += "<title>memkit profile: " + html_escape(title) + "</title>\n<style>\n";
  page += view(kReportCss, kReportCssSize);
  page += "</style>\n</head>\n<body>\n";
  page += "<div id=\"errors\" class=\"errors\" hidden></div>\n<script>\n";
  page += view(kErrorsJs, kErrorsJsSize);
  page += "</script>\n";
  page += R"(<header>
<h1>memkit profile <span id="profile-name"></span></h1>
<p class="sub">Heap profile written by <code>memkit profile</code>: sampled allocation stacks, heap and RSS over time, and the heap's buddyinfo and slabinfo at its peak.</p>
</header>
<section id="summary" class="cards"></section>
<section>
<h2>Heap over time</h2>
<p class="note">Bytes in use by the heap and the process's RSS, sampled every interval, with the bytes held by the top allocation sites. Hover for the values at a time.</p>
<div id="timeline" class="chart"></div>
</section>
<section>
<h2>Live bytes by allocation stack</h2>
<div class="controls">
<span class="switch" role="group" aria-label="which snapshot">
<button type="button" id="show-peak" aria-pressed="true">at the peak</button><button type="button" id="show-exit" aria-pressed="false">at exit</button>
</span>
<input type="search" id="flame-search" placeholder="search frames" aria-label="search frames">
<button type="button" id="flame-reset">reset zoom</button>
<span id="flame-total" class="note"></span>
</div>
<p class="note">Each box is a frame of the allocation stacks (root at the bottom, the allocating function on top), as wide as the live bytes allocated through it. Click to zoom.</p>
<div id="flame" class="chart"></div>
<p id="flame-details" class="details">&nbsp;</p>
</section>
<section>
<h2>Top allocation sites</h2>
<p class="note">Per site (the function that called the allocator, with its file and line): bytes and objects live at the heap's peak and at exit, and allocated in all. Estimates from sampling. Click a column to sort.</p>
<div class="table-wrap"><table id="sites"></table></div>
</section>
<section class="kernel">
<div><h2>buddyinfo at the peak</h2><pre id="buddyinfo"></pre></div>
<div><h2>slabinfo at the peak</h2><pre id="slabinfo"></pre></div>
</section>
<footer>Written by memkit )" MEMKIT_VERSION R"(. Drawn with <a href="https://d3js.org">d3</a> )";
  page += kD3Version;
  page += R"( (ISC licence) and <a href="https://github.com/spiermar/d3-flame-graph">d3-flame-graph</a> )";
  page += kFlameGraphVersion;
  page += " (Apache 2.0 licence), both included in this page.</footer>\n<script>\n";
  page += view(kD3, kD3Size);
  page += "\n</script>\n<script>\n";
  page += view(kFlameGraph, kFlameGraphSize);
  page += "\n</script>\n<script type=\"application/json\" id=\"memkit-data\">";
  page += script_safe_json(data);
  page += "</script>\n<script>\n";
  page += view(kReportJs, kReportJsSize);
  page += "</script>\n</body>\n</html>\n";
  return page;
}

void write_file(const std::string& path, const std::string& text) {
  const std::string temp = path + ".tmp." + std::to_string(getpid());
  std::FILE* f = std::fopen(temp.c_str(), "wb");
  if (f == nullptr) throw PageError(path + ": " + std::strerror(errno));
  const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  const int write_errno = errno;
  const bool closed = std::fclose(f) == 0;
  const int close_errno = errno;
  if (!written || !closed) {
    std::remove(temp.c_str());
    throw PageError(path + ": " + std::strerror(!written ? write_errno : close_errno));
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(temp.c_str());
    throw PageError(path + ": " + std::strerror(err));
  }
}

void write_page(const std::string& dir, const std::string& out) {
  if (dir.empty()) throw PageError("the profile directory's name is empty");
  struct stat st{};
  if (stat(dir.c_str(), &st) != 0) {
    throw PageError(dir + ": " + (errno == ENOENT ? std::string("no such directory") : std::strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) throw PageError(dir + ": not a directory (expected memkit profile's output)");
  uint64_t peak_stacks = 0, exit_stacks = 0, peak_pruned = 0, exit_pruned = 0;
  nlohmann::json data;
  std::string name = dir;
  while (name.size() > 1 && name.back() == '/') name.pop_back();
  data["dir"] = name;
  data["peak"] = parse_folded(join_path(dir, "peak.folded"), "all", &peak_stacks, &peak_pruned);
  data["exit"] = parse_folded(join_path(dir, "heap.folded"), "all", &exit_stacks, &exit_pruned);
  data["peak_stacks"] = peak_stacks;
  data["exit_stacks"] = exit_stacks;
  data["peak_pruned"] = peak_pruned;
  data["exit_pruned"] = exit_pruned;
  data["timeline"] = parse_timeline(join_path(dir, "timeline.csv"));
  data["sites"] = parse_sites(join_path(dir, "sites.csv"));
  data["buddyinfo"] = read_buddyinfo(join_path(dir, "peak-buddyinfo.txt"));
  data["slabinfo"] = read_slabinfo(join_path(dir, "peak-slabinfo.txt"));
  write_file(out.empty() ? join_path(dir, "report.html") : out, build_page(dir, data));
}

}  // namespace profile_html_impl

int write_profile_html(const std::string& dir, const std::string& out, std::string* error) {
  try {
    profile_html_impl::write_page(dir, out);
    return 0;
  } catch (const profile_html_impl::PageError& e) {
    if (error != nullptr) *error = e.what();
  } catch (const std::bad_alloc&) {
    if (error != nullptr) *error = dir + ": out of memory while writing the page";
  }
  return 1;
}

}  // namespace memkit::cli
