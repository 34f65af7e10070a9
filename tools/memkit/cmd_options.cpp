// memkit CLI — `memkit options` (tools/memkit/cmd_options.cpp)
//
// Prints the MEMKIT_OPTIONS table (src/options/options.def via option_table()): every key with
// its type, default, the values it takes and one line of help, and how to set them; --json: the
// same as one JSON array.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "command.h"
#include "options/options.h"

namespace cmd_options_impl {

// [{"key", "type", "default", "values", "help", "min", "max", "choices"}]: min and max for the
// numeric keys (max of a descriptor: this process's limit), choices for a key of named values.
void print_json() {
  size_t count = 0;
  const memkit::OptionInfo* table = memkit::option_table(&count);
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (size_t i = 0; i < count; ++i) {
    const memkit::OptionInfo& o = table[i];
    char values[160];
    memkit::option_values_text(o, values, sizeof values);
    nlohmann::ordered_json j = {{"key", o.name},     {"type", o.type}, {"default", o.default_text},
                                {"values", values}, {"help", o.help}};
    if (o.check == memkit::OptionCheck::kRange || o.check == memkit::OptionCheck::kPow2 ||
        o.check == memkit::OptionCheck::kFd) {
      j["min"] = o.min;
      j["max"] = memkit::option_max(o);
    }
    if (o.check == memkit::OptionCheck::kChoices && o.choices != nullptr) j["choices"] = o.choices;
    list.push_back(j);
  }
  fmt::print("{}\n", list.dump(2));
}

void print_options(bool json) {
  if (json) return print_json();
  size_t count = 0;
  const memkit::OptionInfo* table = memkit::option_table(&count);

  std::vector<std::string> values(count);
  size_t name_w = std::strlen("key");
  size_t type_w = std::strlen("type");
  size_t def_w = std::strlen("default");
  size_t values_w = std::strlen("values");
  for (size_t i = 0; i < count; ++i) {
    char text[160];
    memkit::option_values_text(table[i], text, sizeof text);
    values[i] = text;
    name_w = std::max(name_w, std::strlen(table[i].name));
    type_w = std::max(type_w, std::strlen(table[i].type));
    def_w = std::max(def_w, std::strlen(table[i].default_text));
    values_w = std::max(values_w, values[i].size());
  }

  fmt::print(
      "Set with MEMKIT_OPTIONS=key=value:key=value in the environment (read once, at the first\n"
      "allocation). An unknown key is reported on stderr and ignored; a value outside the key's\n"
      "values is reported on stderr and the key's default used. Descriptors go up to this\n"
      "process's RLIMIT_NOFILE-1. bool values: 1/0, true/false, yes/no, on/off; str values: text\n"
      "without ':'.\n\n");
  fmt::print("{:<{}}  {:<{}}  {:<{}}  {:<{}}  {}\n", "key", name_w, "type", type_w, "default", def_w,
             "values", values_w, "help");
  for (size_t i = 0; i < count; ++i) {
    const memkit::OptionInfo& o = table[i];
    fmt::print("{:<{}}  {:<{}}  {:<{}}  {:<{}}  {}\n", o.name, name_w, o.type, type_w, o.default_text,
               def_w, values[i], values_w, o.help);
  }
}

void setup_options(CLI::App& sub) {
  auto json = std::make_shared<bool>(false);
  sub.add_flag("--json", *json,
               "print one JSON array: [{\"key\", \"type\", \"default\", \"values\", \"help\", "
               "\"min\", \"max\" (numbers), \"choices\" (named values)}]");
  sub.callback([json] { print_options(*json); });
}

const memkit::cli::Registration kOptions{
    "options", "list the MEMKIT_OPTIONS keys, defaults, values and help", setup_options};

}  // namespace
