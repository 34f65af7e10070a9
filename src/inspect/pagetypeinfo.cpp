// memkit — /proc/pagetypeinfo (src/inspect/pagetypeinfo.cpp): see pagetypeinfo.h.
#include "inspect/pagetypeinfo.h"

#include "inspect/buddyinfo.h"
#include "inspect/scan.h"

namespace memkit::inspect {
namespace {

constexpr std::string_view kFreeHeader = "Free pages count per migrate type at order";
constexpr std::string_view kBlocksHeader = "Number of blocks type";
constexpr std::string_view kMixedHeader = "Number of mixed blocks";

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// "Key: N" with the given key (the spacing after the colon varies).
bool parse_keyed(const TextLine& line, std::string_view key, uint64_t* value) {
  if (!starts_with(line.text, key)) return false;
  const std::vector<std::string_view> rest = split_ws(line.text.substr(key.size()));
  return rest.size() == 1 && parse_u64(rest[0], value);
}

class Parser {
 public:
  Parser(std::string_view text, const std::string& path) : path_(path) {
    lines_ = complete_lines(text, path);
  }

  PageTypeInfo parse() {
    uint64_t order = 0;
    if (!parse_keyed(next(), "Page block order:", &order) || order >= kMaxBuddyOrders)
      throw expected_error(path_, current(), "\"Page block order: N\"");
    info_.pageblock_order = static_cast<unsigned>(order);
    if (!parse_keyed(next(), "Pages per block:", &info_.pages_per_block))
      throw expected_error(path_, current(), "\"Pages per block: N\"");
    expect_blank();
    parse_free_header();
    while (!at_end() && !peek().text.empty()) parse_free_row();
    if (info_.free.empty()) throw InspectError(path_, "no free counts after the header");
    expect_blank();
    info_.block_types = parse_types_header(kBlocksHeader);
    parse_block_rows(&info_.blocks);
    if (!at_end()) {
      expect_blank();
      if (parse_types_header(kMixedHeader) != info_.block_types)
        throw line_error(path_, current().number, "the mixed blocks columns differ");
      parse_block_rows(&info_.mixed);
    }
    if (!at_end()) throw expected_error(path_, next(), "the end of the file");
    return std::move(info_);
  }

 private:
  bool at_end() const { return pos_ >= lines_.size(); }
  const TextLine& peek() const { return lines_[pos_]; }
  const TextLine& current() const { return lines_[pos_ - 1]; }
  const TextLine& next() {
    if (at_end())
      throw line_error(path_, lines_.back().number + 1, "the file ends too early");
    return lines_[pos_++];
  }

  void expect_blank() {
    if (!next().text.empty()) throw expected_error(path_, current(), "an empty line");
  }

  void parse_free_header() {
    const TextLine& line = next();
    if (!starts_with(line.text, kFreeHeader))
      throw expected_error(path_, line, "\"Free pages count per migrate type at order 0 1 ...\"");
    const std::vector<std::string_view> tokens = split_ws(line.text.substr(kFreeHeader.size()));
    for (size_t k = 0; k < tokens.size(); ++k) {
      uint64_t order = 0;
      if (!parse_u64(tokens[k], &order) || order != k)
        throw line_error(path_, line.number,
                         "expected order " + std::to_string(k) + ", got " + quote(tokens[k]));
    }
    if (tokens.empty() || tokens.size() > kMaxBuddyOrders)
      throw line_error(path_, line.number,
                       std::to_string(tokens.size()) + " orders (1 to " +
                           std::to_string(kMaxBuddyOrders) + " are plausible)");
    info_.orders = static_cast<unsigned>(tokens.size());
  }

  void parse_free_row() {
    static const char kFormat[] = "\"Node N, zone NAME, type TYPE COUNT...\"";
    const TextLine& line = next();
    const std::vector<std::string_view> tokens = split_ws(line.text);
    PageTypeFree row;
    size_t i = 0;
    if (!parse_zone_prefix(tokens, /*zone_comma=*/true, &row.node, &row.zone, &i) ||
        tokens.size() < i + 2 || tokens[i] != "type")
      throw expected_error(path_, line, kFormat);
    row.type = std::string(tokens[i + 1]);
    i += 2;
    if (tokens.size() - i != info_.orders)
      throw line_error(path_, line.number,
                       std::to_string(tokens.size() - i) + " counts where the header has " +
                           std::to_string(info_.orders) + " orders");
    for (; i < tokens.size(); ++i) {
      std::string_view t = tokens[i];
      if (!t.empty() && t[0] == '>') {
        row.capped = true;
        t.remove_prefix(1);
      }
      uint64_t n = 0;
      if (!parse_u64(t, &n))
        throw line_error(path_, line.number, quote(tokens[i]) + " is not a count");
      row.nr_free.push_back(n);
    }
    info_.free.push_back(std::move(row));
  }

  std::vector<std::string> parse_types_header(std::string_view header) {
    const TextLine& line = next();
    if (!starts_with(line.text, header))
      throw expected_error(path_, line, ("\"" + std::string(header) + " TYPE...\"").c_str());
    std::vector<std::string> types;
    for (const std::string_view t : split_ws(line.text.substr(header.size())))
      types.emplace_back(t);
    if (types.empty()) throw line_error(path_, line.number, "no migrate types");
    return types;
  }

  void parse_block_rows(std::vector<PageTypeBlocks>* rows) {
    static const char kFormat[] = "\"Node N, zone NAME COUNT...\"";
    while (!at_end() && !peek().text.empty()) {
      const TextLine& line = next();
      const std::vector<std::string_view> tokens = split_ws(line.text);
      PageTypeBlocks row;
      size_t i = 0;
      if (!parse_zone_prefix(tokens, /*zone_comma=*/false, &row.node, &row.zone, &i))
        throw expected_error(path_, line, kFormat);
      if (tokens.size() - i != info_.block_types.size())
        throw line_error(path_, line.number,
                         std::to_string(tokens.size() - i) + " counts where the header has " +
                             std::to_string(info_.block_types.size()) + " types");
      for (; i < tokens.size(); ++i) {
        uint64_t n = 0;
        if (!parse_u64(tokens[i], &n))
          throw line_error(path_, line.number, quote(tokens[i]) + " is not a count");
        row.blocks.push_back(n);
      }
      rows->push_back(std::move(row));
    }
  }

  std::string path_;
  std::vector<TextLine> lines_;
  size_t pos_ = 0;
  PageTypeInfo info_;
};

}  // namespace

PageTypeInfo parse_pagetypeinfo(std::string_view text, const std::string& path) {
  return Parser(text, path).parse();
}

PageTypeInfo read_pagetypeinfo(const ProcFs& fs) {
  return parse_pagetypeinfo(fs.read("pagetypeinfo"), fs.proc_path("pagetypeinfo"));
}

}  // namespace memkit::inspect
