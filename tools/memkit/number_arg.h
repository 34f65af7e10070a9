// memkit CLI — strict numeric options (tools/memkit/number_arg.h)
//
// CLI11 2.1 converts integers with strtoll/strtoull: a value that overflows is silently
// clamped (`--ops 99999999999999999999` ran 9.2e18 operations), "-1" is 2^64 - 1 for an
// unsigned option, "010" is octal and " 16" passes. Every numeric option of every subcommand
// gets one of these validators instead (they run on the text before CLI11 converts it):
//
//   sub.add_option("--ops", args->ops, "...")->transform(integer_arg<int64_t>());
//
// An integer is decimal digits with an optional '-' (signed types only), within T's range; a
// real number is what std::from_chars reads in general format, and finite. Anything else is a
// usage error (exit status 2) that echoes the text typed: "--ops: 99999999999999999999
// is out of range (-9223372036854775808..9223372036854775807)". main.cpp gives any INT, UINT or
// FLOAT option that lacks one the 64-bit validator of its kind, so a new option cannot miss it.
#pragma once

#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <system_error>
#include <type_traits>

#include "command.h"

namespace memkit::cli {

/// The name every validator of this file carries (main.cpp looks for it).
inline constexpr const char* kNumberValidator = "memkit-number";

/// At most the first 40 bytes of what was typed (main escapes the message for the terminal).
inline std::string typed(const std::string& text) {
  return text.size() > 40 ? text.substr(0, 40) + "..." : text;
}

/// Why `text` is not a decimal integer of type T ("" when it is one).
template <typename T>
std::string integer_error(const std::string& text) {
  static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
  const size_t digits_from = !text.empty() && text[0] == '-' ? 1 : 0;
  bool digits = text.size() > digits_from;
  for (size_t i = digits_from; i < text.size(); ++i) digits &= text[i] >= '0' && text[i] <= '9';
  if (!digits) return fmt::format("'{}' is not a decimal integer", typed(text));
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return fmt::format("{} is out of range ({}..{})", typed(text), std::numeric_limits<T>::min(),
                       std::numeric_limits<T>::max());
  }
  return {};
}

/// Why `text` is not a finite real number ("" when it is one).
inline std::string real_error(const std::string& text) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range) return fmt::format("{} is out of range", typed(text));
  if (ec != std::errc() || end != text.data() + text.size() || text.empty())
    return fmt::format("'{}' is not a number", typed(text));
  if (!std::isfinite(value)) return fmt::format("{} is not a finite number", typed(text));
  return {};
}

/// The validator of an option of integer type T. It also drops leading zeros, since CLI11
/// reads "010" as octal: "010" is 10, "-007" is -7. Attach it with ->transform(), which lets
/// a validator change the text (->check() does not).
template <typename T>
CLI::Validator integer_arg() {
  return CLI::Validator(
      [](std::string& text) {
        std::string error = integer_error<T>(text);
        if (!error.empty()) return error;
        const size_t sign = text[0] == '-' ? 1 : 0;
        const size_t first = std::min(text.find_first_not_of('0', sign), text.size() - 1);
        text.erase(sign, first - sign);
        if (text == "-0") text = "0";
        return std::string();
      },
      "", kNumberValidator);
}

/// The validator of an option of type double.
inline CLI::Validator real_arg() {
  return CLI::Validator([](std::string& text) { return real_error(text); }, "", kNumberValidator);
}

/// Gives every INT, UINT or FLOAT option of `app` and its subcommands (at any depth) that has
/// no validator of this file the one of int64_t, uint64_t or double.
inline void check_numeric_options(CLI::App& app) {
  for (CLI::Option* opt : app.get_options()) {
    bool checked = true;
    try {
      opt->get_validator(kNumberValidator);
    } catch (const CLI::OptionNotFound&) {
      checked = false;
    }
    if (checked) continue;
    const std::string type = opt->get_type_name();
    auto is = [&type](const std::string& name) { return type == name || type.rfind(name + ":", 0) == 0; };
    if (is("INT")) opt->transform(integer_arg<int64_t>());
    else if (is("UINT")) opt->transform(integer_arg<uint64_t>());
    else if (is("FLOAT")) opt->check(real_arg());
  }
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) check_numeric_options(*sub);
}

}  // namespace memkit::cli
