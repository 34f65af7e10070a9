// memkit CLI — `memkit options` (tools/memkit/cmd_options.cpp)
//
// Prints the MEMKIT_OPTIONS table (src/options/options.def via option_table()): every key with
// its type, default and one line of help, and how to set them.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstring>

#include "command.h"
#include "options/options.h"

namespace cmd_options_impl {

void print_options() {
  size_t count = 0;
  const memkit::OptionInfo* table = memkit::option_table(&count);

  size_t name_w = std::strlen("key");
  size_t type_w = std::strlen("type");
  size_t def_w = std::strlen("default");
  for (size_t i = 0; i < count; ++i) {
    name_w = std::max(name_w, std::strlen(table[i].name));
    type_w = std::max(type_w, std::strlen(table[i].type));
    def_w = std::max(def_w, std::strlen(table[i].default_text));
  }

  fmt::print(
      "Set with MEMKIT_OPTIONS=key=value:key=value in the environment (read once, at the first\n"
      "allocation); an unknown key or a bad value is reported on stderr and the default kept.\n"
      "bool values: 1/0, true/false, yes/no, on/off; str values: text without ':'.\n\n");
  fmt::print("{:<{}}  {:<{}}  {:<{}}  {}\n", "key", name_w, "type", type_w, "default", def_w,
             "help");
  for (size_t i = 0; i < count; ++i) {
    const memkit::OptionInfo& o = table[i];
    fmt::print("{:<{}}  {:<{}}  {:<{}}  {}\n", o.name, name_w, o.type, type_w, o.default_text,
               def_w, o.help);
  }
}

void setup_options(CLI::App& sub) { sub.callback(print_options); }

const memkit::cli::Registration kOptions{
    "options", "list the MEMKIT_OPTIONS keys, defaults and help", setup_options};

}  // namespace
