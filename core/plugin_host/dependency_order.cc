#include "core/plugin_host/dependency_order.h"

#include <algorithm>
#include <functional>
#include <set>

namespace banger::core {

DependencyOrder OrderByDependencies(const std::vector<DependencyNode>& nodes,
                                    const std::map<std::string, std::string>& unavailable) {
  DependencyOrder out;
  std::map<std::string, const DependencyNode*> by_name;
  for (const auto& n : nodes) by_name.emplace(n.name, &n);

  enum class Mark { kNone, kVisiting, kDone };
  std::map<std::string, Mark> mark;
  std::vector<std::string> stack;

  // Depth-first: a node is placed after its dependencies; a node met again
  // while still on the stack closes a cycle.
  std::function<bool(const std::string&)> visit = [&](const std::string& name) -> bool {
    if (out.refused.count(name)) return false;
    Mark& m = mark[name];
    if (m == Mark::kDone) return true;
    if (m == Mark::kVisiting) {
      auto start = std::find(stack.begin(), stack.end(), name);
      std::string cycle;
      for (auto it = start; it != stack.end(); ++it) cycle += *it + " -> ";
      cycle += name;
      for (auto it = start; it != stack.end(); ++it) {
        out.refused[*it] = "dependency cycle: " + cycle;
      }
      return false;
    }
    m = Mark::kVisiting;
    stack.push_back(name);
    const DependencyNode* node = by_name.at(name);
    bool ok = true;
    for (const auto& dep : node->dependencies) {
      if (!by_name.count(dep)) {
        auto why = unavailable.find(dep);
        out.refused.emplace(name, "requires '" + dep + "', which " +
                                      (why != unavailable.end()
                                           ? why->second
                                           : std::string("is not installed in any plugin dir")));
        ok = false;
        break;
      }
      if (!visit(dep)) {
        if (!out.refused.count(name)) {
          out.refused.emplace(
              name, "requires '" + dep + "', which cannot be used: " + out.refused.at(dep));
        }
        ok = false;
        break;
      }
    }
    stack.pop_back();
    mark[name] = Mark::kDone;
    if (ok && !out.refused.count(name)) out.order.push_back(name);
    return ok && !out.refused.count(name);
  };
  for (const auto& n : nodes) visit(n.name);
  return out;
}

}  // namespace banger::core
