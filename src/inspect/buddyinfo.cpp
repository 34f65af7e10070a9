// memkit — /proc/buddyinfo (src/inspect/buddyinfo.cpp): see buddyinfo.h.
#include "inspect/buddyinfo.h"

#include "inspect/scan.h"

namespace memkit::inspect {

bool parse_zone_prefix(const std::vector<std::string_view>& tokens, bool zone_comma, int* node,
                       std::string* zone, size_t* next) {
  if (tokens.size() < 4 || tokens[0] != "Node" || tokens[2] != "zone") return false;
  std::string_view n = tokens[1];
  if (n.size() < 2 || n.back() != ',') return false;
  n.remove_suffix(1);
  uint64_t value = 0;
  if (!parse_u64(n, &value) || value > 1u << 20) return false;
  std::string_view name = tokens[3];
  if (zone_comma) {
    if (name.size() < 2 || name.back() != ',') return false;
    name.remove_suffix(1);
  }
  *node = static_cast<int>(value);
  *zone = std::string(name);
  *next = 4;
  return true;
}

BuddyInfo parse_buddyinfo(std::string_view text, const std::string& path) {
  static const char kFormat[] = "\"Node N, zone NAME COUNT...\"";
  const std::vector<TextLine> lines = complete_lines(text, path, "empty file (no zones)");

  BuddyInfo info;
  for (const TextLine& line : lines) {
    const std::vector<std::string_view> tokens = split_ws(line.text);
    BuddyZone zone;
    size_t first_count = 0;
    if (!parse_zone_prefix(tokens, /*zone_comma=*/false, &zone.node, &zone.zone, &first_count) ||
        first_count == tokens.size())
      throw expected_error(path, line, kFormat);
    for (size_t i = first_count; i < tokens.size(); ++i) {
      uint64_t n = 0;
      if (!parse_u64(tokens[i], &n))
        throw line_error(path, line.number,
                         "order " + std::to_string(i - first_count) + ": " + quote(tokens[i]) +
                             " is not a number");
      zone.nr_free.push_back(n);
    }
    const auto orders = static_cast<unsigned>(zone.nr_free.size());
    if (orders > kMaxBuddyOrders)
      throw line_error(path, line.number,
                       std::to_string(orders) + " orders (at most " +
                           std::to_string(kMaxBuddyOrders) + " are plausible)");
    if (info.zones.empty()) {
      info.orders = orders;
    } else if (orders != info.orders) {
      throw line_error(path, line.number,
                       std::to_string(orders) + " orders where line 1 has " +
                           std::to_string(info.orders));
    }
    info.zones.push_back(std::move(zone));
  }
  return info;
}

BuddyInfo read_buddyinfo(const ProcFs& fs) {
  return parse_buddyinfo(fs.read("buddyinfo"), fs.proc_path("buddyinfo"));
}

}  // namespace memkit::inspect
