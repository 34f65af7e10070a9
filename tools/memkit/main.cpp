// memkit CLI — entry point (tools/memkit/main.cpp)
//
// Builds the CLI11 application from the registered subcommands (command.h) and maps every
// outcome to an exit status: 0 success, 2 usage or input error, 1 internal error or a /proc or
// /sys file that could not be read or parsed (inspect::InspectError: "memkit: <file>: <what>").
// Every message is one line with its control characters escaped (printable(): the input it
// echoes may hold any byte), and every numeric option is checked strictly (number_arg.h).
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <exception>
#include <new>

#include "command.h"
#include "inspect/procfs.h"
#include "number_arg.h"
#include "memkit/version.h"

int main(int argc, char** argv) {
  using memkit::cli::kExitInternal;
  using memkit::cli::kExitUsage;
  if (const char* probe = std::getenv("MEMKIT_PRELOAD_PROBE")) return memkit::cli::preload_probe(probe);

  CLI::App app("memkit: the Linux kernel's memory management in user space", "memkit");
  app.set_version_flag("--version", "memkit " MEMKIT_VERSION);
  app.require_subcommand(1);
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return fmt::format("memkit: {} (see --help)\n", memkit::cli::printable(e.what()));
  });
  for (const memkit::cli::Command& command : memkit::cli::registered_commands()) {
    command.setup(*app.add_subcommand(command.name, command.summary));
  }
  memkit::cli::check_numeric_options(app);
  const auto fail = [](const char* what) {
    fmt::print(stderr, "memkit: {}\n", memkit::cli::printable(what));
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int status = app.exit(e);  // prints help, the version, or the usage error
    return status == 0 ? 0 : kExitUsage;
  } catch (const memkit::cli::Failure& e) {
    if (*e.what() != '\0') fail(e.what());  // "": status only
    return e.status();
  } catch (const memkit::inspect::InspectError& e) {
    fail(e.what());  // names the file and what was wrong
    return kExitInternal;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "memkit: out of memory\n");
    return kExitInternal;
  } catch (const std::exception& e) {
    fmt::print(stderr, "memkit: internal error: {}\n", memkit::cli::printable(e.what()));
    return kExitInternal;
  }
  return 0;
}
