// memkit CLI — small helpers for writing SVG text (tools/memkit/svg_text.h), shared by the
// buddy picture (svg.cpp) and the address-space picture (maps_svg.cpp).
#pragma once

#include <fmt/core.h>

#include <iterator>
#include <string>
#include <utility>

namespace memkit::cli::svg {

/// A number for an attribute: at most two decimals, no trailing zeros.
inline std::string num(double v) {
  std::string s = fmt::format("{:.2f}", v);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

/// Appends fmt::format(format, args...) to *out.
template <typename... T>
void put(std::string* out, fmt::format_string<T...> format, T&&... args) {
  fmt::format_to(std::back_inserter(*out), format, std::forward<T>(args)...);
}

}  // namespace memkit::cli::svg
