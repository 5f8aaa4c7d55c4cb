// Ordering capabilities by their dependencies (a topological sort), shared by
// the agent and `bangerctl caps --offline`. Pure function; no state.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace banger::core {

struct DependencyNode {
  std::string name;
  std::vector<std::string> dependencies;
};

struct DependencyOrder {
  // Names whose dependencies are all present and acyclic, dependencies first.
  // Among independent nodes the input order is kept.
  std::vector<std::string> order;
  // Names that cannot be ordered, with why: "requires 'x', which is not
  // enabled", "dependency cycle: a -> b -> a", "requires 'a', which cannot
  // be loaded: ...".
  std::map<std::string, std::string> refused;
};

// `unavailable` explains names that are known but not in the graph
// ("is not enabled", "failed to load: ..."); a dependency found in neither
// is reported as not installed.
DependencyOrder OrderByDependencies(const std::vector<DependencyNode>& nodes,
                                    const std::map<std::string, std::string>& unavailable = {});

}  // namespace banger::core
