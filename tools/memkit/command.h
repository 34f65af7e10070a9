// memkit CLI — the subcommand registry (tools/memkit/command.h)
//
// Every subcommand lives in its own tools/memkit/cmd_*.cpp and registers itself with one
// namespace-scope object, so adding a command touches no other file:
//
//   void setup_foo(CLI::App& sub) { sub.add_option(...); sub.callback([] { ... }); }
//   const memkit::cli::Registration kFoo{"foo", "one line for `memkit --help`", setup_foo};
//
// The commands are compiled in unity batches (several cmd_*.cpp in one translation unit), so
// a command keeps its helpers in a namespace named after its file (cmd_foo.cpp: namespace
// cmd_foo_impl), never in an anonymous one, where two commands' `setup` or `Args` would clash.
//
// main.cpp creates the subcommands in name order and calls each setup. A callback that meets
// bad input throws memkit::cli::Failure (usage_error: exit status 2); anything else thrown is
// an internal error (exit status 1). main prints the message as one "memkit: ..." line, passed
// through printable(): whatever input a message echoes (a path, an argument, a trace line),
// its control characters reach the terminal escaped, never raw.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
class Option;
}

namespace memkit::cli {

inline constexpr int kExitUsage = 2;     // bad arguments or input
inline constexpr int kExitInternal = 1;  // memkit itself failed

/// Thrown by command callbacks: `what()` is printed after "memkit: " (nothing when empty, as
/// for `memkit run` passing on its program's status), `status` is the exit code.
class Failure : public std::runtime_error {
 public:
  Failure(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

inline Failure usage_error(const std::string& message) { return Failure(kExitUsage, message); }
inline Failure internal_error(const std::string& message) {
  return Failure(kExitInternal, message);
}

/// `text` safe to print on a terminal, on one line: a backslash, the control characters (C0,
/// DEL and the C1 range U+0080..U+009F) and bytes that are not UTF-8 are escaped as \\, \n,
/// \t, \r or \xNN; everything else, UTF-8 included, is kept.
std::string printable(std::string_view text);

/// `memkit bench`'s check of an allocator (cmd_bench.cpp): main() calls it, and nothing else,
/// when MEMKIT_PRELOAD_PROBE=PATH is set, in a copy of memkit run with LD_PRELOAD=PATH. Returns
/// the exit status: 0 if malloc is PATH's, 1 after one line on stderr saying why not.
int preload_probe(const char* path);

struct Command {
  const char* name;
  const char* summary;           // one line, shown by `memkit --help`
  void (*setup)(CLI::App& sub);  // adds options, nested subcommands and the callback
};

/// Every registered command, sorted by name.
std::vector<Command> registered_commands();

/// Adds the `command` positional (PROGRAM [ARGS...]) of a subcommand that runs a program (run,
/// check) and marks the subcommand so: main() then inserts "--" before the first word that is
/// not one of the subcommand's options (prepare_program_args), so that `memkit run ls -l` works
/// as `memkit run -- ls -l` does, and the options after PROGRAM are PROGRAM's (as with
/// valgrind, heaptrack, strace).
CLI::Option* add_program_argument(CLI::App& sub, std::vector<std::string>& command,
                                  const std::string& help);

/// argv with "--" inserted before PROGRAM when argv names a subcommand of `app` that runs a
/// program (add_program_argument) and has no "--" of its own.
std::vector<char*> prepare_program_args(const CLI::App& app, int argc, char** argv);

/// The registered command names nearest to `typed` (a typo or a prefix), nearest first: at most
/// three, none when nothing is near.
std::vector<std::string> nearest_commands(std::string_view typed);

/// Registers a command at static-initialisation time (see the example above).
struct Registration {
  Registration(const char* name, const char* summary, void (*setup)(CLI::App& sub));
};

}  // namespace memkit::cli
