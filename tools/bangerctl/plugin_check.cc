#include "tools/bangerctl/plugin_check.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>

#include "core/plugin_host/capability_library.h"
#include "core/plugin_host/plugin_file.h"
#include "core/plugin_host/plugin_registry.h"

namespace bangerctl {
namespace {

using banger::core::Result;
using banger::core::Status;

constexpr const char* kUsage =
    "usage: bangerctl plugin check FILE.so [--plugin-dir DIR]...\n"
    "  checks a capability file without an agent, in a child process: the file (owner, mode,\n"
    "  ELF), its exports, its descriptor and ABI, its hooks and config keys, and, with\n"
    "  --plugin-dir, that the capabilities it depends on are there. Exit 1 when it would not "
    "load.\n";

struct Checks {
  bool failed = false;
  void Line(bool ok, const std::string& check, const std::string& detail) {
    std::cout << (ok ? "ok    " : "FAIL  ") << check << ": " << detail << "\n" << std::flush;
    failed = failed || !ok;
  }
};

// The defined, exported symbols of an ELF64 shared object (.dynsym).
Result<std::set<std::string>> ExportedSymbols(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < sizeof(Elf64_Ehdr) || std::memcmp(bytes.data(), ELFMAG, SELFMAG) != 0 ||
      bytes[EI_CLASS] != ELFCLASS64) {
    return Status::Invalid("not a 64-bit ELF file");
  }
  Elf64_Ehdr eh;
  std::memcpy(&eh, bytes.data(), sizeof eh);
  auto section = [&](size_t i) {
    Elf64_Shdr sh{};
    size_t at = eh.e_shoff + i * sizeof(Elf64_Shdr);
    if (at + sizeof sh <= bytes.size()) std::memcpy(&sh, bytes.data() + at, sizeof sh);
    return sh;
  };
  std::set<std::string> out;
  for (size_t i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr sh = section(i);
    if (sh.sh_type != SHT_DYNSYM || sh.sh_entsize != sizeof(Elf64_Sym)) continue;
    Elf64_Shdr strtab = section(sh.sh_link);
    for (size_t off = sh.sh_offset; off + sizeof(Elf64_Sym) <= sh.sh_offset + sh.sh_size &&
                                    off + sizeof(Elf64_Sym) <= bytes.size();
         off += sizeof(Elf64_Sym)) {
      Elf64_Sym sym;
      std::memcpy(&sym, bytes.data() + off, sizeof sym);
      int bind = ELF64_ST_BIND(sym.st_info);
      if (sym.st_shndx == SHN_UNDEF || (bind != STB_GLOBAL && bind != STB_WEAK)) continue;
      size_t name_at = strtab.sh_offset + sym.st_name;
      if (name_at >= bytes.size()) continue;
      out.insert(std::string(bytes.c_str() + name_at));
    }
  }
  return out;
}

// The checks, in the child: a capability's constructors run when it loads.
int CheckInChild(const std::string& path, const std::vector<std::string>& plugin_dirs) {
  Checks c;
  banger::core::PluginFilePolicy policy{false, ::geteuid()};
  auto fd = banger::core::OpenPluginFile(path, policy);
  c.Line(fd.ok(), "file",
         fd.ok() ? path + ": regular, owned by root or you, not writable by others, ELF"
                 : fd.status().message());
  if (!fd.ok()) return 1;
  auto exported = ExportedSymbols(path);
  if (!exported.ok()) {
    c.Line(false, "exports", exported.status().message());
  } else {
    std::string others;
    for (const auto& s : *exported) {
      if (s != BANGER_ENTRY_SYMBOL) others += (others.empty() ? "" : ", ") + s;
    }
    bool has_entry = exported->count(BANGER_ENTRY_SYMBOL) > 0;
    c.Line(has_entry, "entry",
           has_entry
               ? std::string(BANGER_ENTRY_SYMBOL) + " is exported"
               : std::string("no ") + BANGER_ENTRY_SYMBOL + " (built without BANGER_CAPABILITY?)");
    // Not fatal to loading, but every other export can clash with the agent's.
    c.Line(others.empty(), "exports",
           others.empty() ? "nothing else is exported"
                          : "also exports " + others +
                                " (hide them: banger_add_capability's "
                                "version script, -fvisibility=hidden)");
  }
  std::string seen_abi, seen_name;
  auto lib = banger::core::LoadCapabilityLibrary(path, policy, &seen_abi, &seen_name);
  if (!lib.ok()) {
    c.Line(false, "descriptor", lib.status().message());
    return 1;
  }
  c.Line(true, "descriptor",
         "\"" + lib->name + "\" " + lib->version + " (" + lib->description + "), needs ABI " +
             std::to_string(lib->abi_major) + "." + std::to_string(lib->abi_minor) +
             ", this bangerctl speaks " + std::to_string(BANGER_ABI_MAJOR) + "." +
             std::to_string(BANGER_ABI_MINOR));
  c.Line(true, "hooks", banger::core::DescribeHooks(lib->hooks));
  std::string keys;
  for (const auto& k : lib->config_keys) keys += (keys.empty() ? "" : ", ") + k.key;
  c.Line(true, "config keys",
         lib->declares_config_keys ? (keys.empty() ? "none (any key is an error)" : keys)
                                   : "not declared (any key is accepted)");
  if (lib->dependencies.empty()) {
    c.Line(true, "dependencies", "none");
  } else if (plugin_dirs.empty()) {
    std::string deps;
    for (const auto& d : lib->dependencies) deps += (deps.empty() ? "" : ", ") + d;
    c.Line(true, "dependencies", deps + " (not checked: give --plugin-dir)");
  } else {
    banger::core::PluginSelection selection;
    selection.plugin_dirs = plugin_dirs;
    auto registry = banger::core::PluginRegistry::Discover(selection, policy);
    for (const auto& d : lib->dependencies) {
      banger::core::Plugin* p = registry->Find(d);
      bool ok = p != nullptr && p->library.has_value();
      c.Line(ok, "dependency " + d,
             ok  ? "found: " + p->path
             : p ? "in " + p->path + " but " + p->StatusText()
                 : "no plugin dir given has it");
    }
  }
  return c.failed ? 1 : 0;
}

}  // namespace

int RunPluginCommand(const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "check") {
    std::cerr << kUsage;
    return 2;
  }
  std::string file;
  std::vector<std::string> plugin_dirs;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--plugin-dir" && i + 1 < args.size()) {
      plugin_dirs.push_back(args[++i]);
    } else if (!args[i].empty() && args[i][0] != '-' && file.empty()) {
      file = args[i];
    } else {
      std::cerr << "bangerctl: plugin check: unexpected '" << args[i] << "'\n" << kUsage;
      return 2;
    }
  }
  if (file.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  std::cout << std::flush;
  pid_t pid = ::fork();
  if (pid < 0) {
    std::cerr << "bangerctl: fork: " << std::strerror(errno) << "\n";
    return 1;
  }
  if (pid == 0) ::_exit(CheckInChild(file, plugin_dirs));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) {
    std::cout << "FAIL  load: the check died of signal " << WTERMSIG(status) << " ("
              << strsignal(WTERMSIG(status)) << ") while loading " << file
              << (plugin_dirs.empty() ? "" : " or the capabilities of the plugin dirs given")
              << ": it would take the agent down\n";
    return 1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

}  // namespace bangerctl
