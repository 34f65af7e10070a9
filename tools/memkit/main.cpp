// memkit CLI — entry point (tools/memkit/main.cpp)
//
// Builds the CLI11 application from the registered subcommands (command.h) and maps every
// outcome to an exit status: 0 success, 2 usage or input error, 1 internal error or a /proc or
// /sys file that could not be read or parsed (inspect::InspectError: "memkit: <file>: <what>").
// `memkit` alone prints the help (the list of subcommands); an unknown subcommand is a usage
// error that names the nearest ones. For the subcommands that run a program (run, check), the
// first word that is not one of their options starts PROGRAM ("--" is optional).
// Every message is one line with its control characters escaped (printable(): the input it
// echoes may hold any byte), and every numeric option is checked strictly (number_arg.h).
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "command.h"
#include "inspect/procfs.h"
#include "number_arg.h"
#include "view.h"
#include "memkit/version.h"

int main(int argc, char** argv) {
  using memkit::cli::kExitInternal;
  using memkit::cli::kExitUsage;
  if (const char* probe = std::getenv("MEMKIT_PRELOAD_PROBE")) return memkit::cli::preload_probe(probe);

  CLI::App app("memkit: the Linux kernel's memory management in user space", "memkit");
  app.set_version_flag("--version", "memkit " MEMKIT_VERSION);
  app.require_subcommand(1);
  // "memkit:" in bold red on a terminal (never in a pipe or a file; NO_COLOR respected).
  const char* const prefix = memkit::cli::color_enabled(2) ? "\x1b[1;31mmemkit:\x1b[0m" : "memkit:";
  app.failure_message([prefix](const CLI::App*, const CLI::Error& e) {
    return fmt::format("{} {} (see --help)\n", prefix, memkit::cli::printable(e.what()));
  });
  for (const memkit::cli::Command& command : memkit::cli::registered_commands()) {
    command.setup(*app.add_subcommand(command.name, command.summary));
  }
  memkit::cli::check_numeric_options(app);
  const auto fail = [prefix](const char* what) {
    fmt::print(stderr, "{} {}\n", prefix, memkit::cli::printable(what));
  };

  if (argc <= 1) {
    fmt::print("{}", app.help());
    return 0;
  }
  if (argv[1][0] != '-' && app.get_subcommands([&](const CLI::App* sub) { return sub->check_name(argv[1]); }).empty()) {
    const std::vector<std::string> near = memkit::cli::nearest_commands(argv[1]);
    std::string hint;
    for (size_t i = 0; i < near.size(); ++i) hint += (i == 0 ? "" : i + 1 == near.size() ? " or " : ", ") + near[i];
    fail(fmt::format("'{}' is not a memkit subcommand{} (see memkit --help)", argv[1],
                     hint.empty() ? std::string() : "; did you mean " + hint + "?")
             .c_str());
    return kExitUsage;
  }
  std::vector<char*> args = memkit::cli::prepare_program_args(app, argc, argv);

  try {
    app.parse(static_cast<int>(args.size()), args.data());
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
    fmt::print(stderr, "{} out of memory\n", prefix);
    return kExitInternal;
  } catch (const std::exception& e) {
    fmt::print(stderr, "{} internal error: {}\n", prefix, memkit::cli::printable(e.what()));
    return kExitInternal;
  }
  return 0;
}
