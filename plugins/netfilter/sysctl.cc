#include "plugins/netfilter/sysctl.h"

#include <fstream>
#include <stdexcept>

namespace netfilter {

std::string EnableSysctl(const std::string& name) {
  const std::string path = "/proc/sys/" + name;
  std::string dotted = name;
  for (char& c : dotted) c = c == '/' ? '.' : c;
  std::string before;
  std::ifstream(path) >> before;
  if (before == "1") return dotted + " was already 1";
  std::ofstream out(path);
  out << "1\n";
  out.close();
  if (!out) throw std::runtime_error("cannot set " + dotted + " to 1 (" + path + ")");
  return "enabled " + dotted + " (was " + (before.empty() ? "unknown" : before) + ")";
}

}  // namespace netfilter
