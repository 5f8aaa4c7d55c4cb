// bangerctl's commands, once: the help text, the man page (bangerctl.8) and
// the bash completion are all rendered from these tables, so none of them
// can drift from what the program takes.
#pragma once

#include <span>
#include <string>

namespace bangerctl {

struct CommandInfo {
  const char* name;     // "vm create"
  const char* args;     // "NAME --kernel K --rootfs R [...]"
  const char* summary;  // one line
};

struct OptionInfo {
  const char* flag;  // "--socket PATH"
  const char* summary;
};

std::span<const CommandInfo> Commands();  // every command, "vm ..." ones included

// `bangerctl --help`.
std::string HelpText();
// bangerctl.8, in roff (man(7)).
std::string ManPage(const std::string& version);
// A bash completion script (`bangerctl completion bash`).
std::string BashCompletion();

}  // namespace bangerctl
