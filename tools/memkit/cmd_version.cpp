// memkit CLI — `memkit version` (tools/memkit/cmd_version.cpp): the same line as --version.
#include <fmt/core.h>

#include <CLI/CLI.hpp>

#include "command.h"
#include "memkit/version.h"

namespace cmd_version_impl {

void setup_version(CLI::App& sub) {
  sub.callback([] { fmt::print("memkit {}\n", MEMKIT_VERSION); });
}

const memkit::cli::Registration kVersion{"version", "print memkit's version", setup_version};

}  // namespace
