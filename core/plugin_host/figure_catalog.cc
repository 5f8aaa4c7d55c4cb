#include "core/plugin_host/figure_catalog.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace banger::core {
namespace {

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 63 || name[0] < 'a' || name[0] > 'z') return false;
  return name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") == std::string::npos;
}

// Prometheus' base units (its naming guide; `promtool check metrics` holds
// names to them): a figure is in these or in none.
constexpr const char* kBaseUnits[] = {"seconds", "bytes", "ratio",   "celsius", "joules",
                                      "meters",  "volts", "amperes", "grams",   "kelvin"};
// A name part that is a scaled or abbreviated unit, and what to use instead.
constexpr std::pair<const char*, const char*> kNotBaseUnits[] = {{"milliseconds", "seconds"},
                                                                 {"microseconds", "seconds"},
                                                                 {"nanoseconds", "seconds"},
                                                                 {"minutes", "seconds"},
                                                                 {"hours", "seconds"},
                                                                 {"days", "seconds"},
                                                                 {"ms", "seconds"},
                                                                 {"us", "seconds"},
                                                                 {"ns", "seconds"},
                                                                 {"kib", "bytes"},
                                                                 {"mib", "bytes"},
                                                                 {"gib", "bytes"},
                                                                 {"kb", "bytes"},
                                                                 {"mb", "bytes"},
                                                                 {"gb", "bytes"},
                                                                 {"percent", "ratio (0 to 1)"}};

// "" when the name uses base units only, else why not.
std::string NonBaseUnit(const std::string& name) {
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('_', start);
    if (end == std::string::npos) end = name.size();
    std::string part = name.substr(start, end - start);
    for (const auto& [unit, instead] : kNotBaseUnits) {
      if (part == unit) return "'" + part + "' is not a base unit: use " + instead;
    }
    start = end + 1;
  }
  return "";
}

}  // namespace

Status FigureCatalog::Declare(std::string_view name_view, bool counter, std::string_view unit,
                              std::string_view help, std::string_view capability) {
  {
    std::lock_guard lock(mu_);
    auto it = figures_.find(name_view);
    if (it != figures_.end() && it->second.counter == counter && it->second.unit == unit &&
        it->second.help == help && it->second.capability == capability) {
      return Status::Ok();
    }
  }
  const std::string name(name_view);
  const std::string figure = "figure '" + name + "'";
  if (!ValidName(name)) {
    return Status::Invalid(figure + ": a name is 1 to 63 of a-z 0-9 _, starting with a letter");
  }
  if (std::string why = NonBaseUnit(name); !why.empty()) {
    return Status::Invalid(figure + ": " + why);
  }
  if (!unit.empty() &&
      std::find(std::begin(kBaseUnits), std::end(kBaseUnits), unit) == std::end(kBaseUnits)) {
    return Status::Invalid(figure + " has unit '" + std::string(unit) +
                           "': a unit is a base unit (seconds, bytes, ratio, ...) or none");
  }
  std::string base = name;
  if (counter) {
    if (!EndsWith(name, "_total")) {
      return Status::Invalid(figure + " is a counter: its name ends with _total");
    }
    base = name.substr(0, name.size() - 6);
  } else if (EndsWith(name, "_total")) {
    return Status::Invalid(figure + " is a gauge: _total is for counters");
  }
  if (!unit.empty() && !EndsWith(base, "_" + std::string(unit))) {
    return Status::Invalid(figure + " has unit '" + std::string(unit) + "': its name ends with _" +
                           std::string(unit) + (counter ? "_total" : ""));
  }
  FigureInfo info{counter, std::string(unit), std::string(help), std::string(capability)};
  std::lock_guard lock(mu_);
  auto [it, added] = figures_.emplace(name, info);
  if (!added) {
    if (it->second.capability != info.capability) {
      return Status::Invalid(figure + " is " + it->second.capability + "'s");
    }
    if (it->second.counter != info.counter) {
      return Status::Invalid(figure + " was declared a " +
                             (it->second.counter ? "counter" : "gauge") + "; a kind is for good");
    }
    it->second = info;  // unit and help may be reworded
  }
  return Status::Ok();
}

std::optional<FigureInfo> FigureCatalog::Find(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = figures_.find(name);
  if (it == figures_.end()) return std::nullopt;
  return it->second;
}

}  // namespace banger::core
