// memkit CLI — the subcommand registry (tools/memkit/command.cpp): see command.h.
#include "command.h"

#include <algorithm>
#include <string_view>

namespace memkit::cli {
namespace {

// A function-local static, so registrations from any translation unit find it constructed.
std::vector<Command>& registry() {
  static std::vector<Command> commands;
  return commands;
}

}  // namespace

Registration::Registration(const char* name, const char* summary, void (*setup)(CLI::App& sub)) {
  registry().push_back(Command{name, summary, setup});
}

std::vector<Command> registered_commands() {
  std::vector<Command> commands = registry();
  std::sort(commands.begin(), commands.end(), [](const Command& a, const Command& b) {
    return std::string_view(a.name) < std::string_view(b.name);
  });
  return commands;
}

}  // namespace memkit::cli
