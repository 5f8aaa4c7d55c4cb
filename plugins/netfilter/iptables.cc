#include "plugins/netfilter/iptables.h"

#include "plugins/netfilter/text.h"

namespace netfilter {

using banger::Status;

namespace {

constexpr int kTimeoutMs = 10000;

std::vector<std::string> Argv(const char* op, const IptablesRule& rule) {
  std::vector<std::string> argv{"iptables", "-w", "5", "-t", rule[0], op, rule[1]};
  argv.insert(argv.end(), rule.begin() + 2, rule.end());
  return argv;
}

}  // namespace

Status Iptables::Available() {
  auto r = host_.Exec({"iptables", "--version"}, 5000);
  if (!r.ok() || r.value.exit_code != 0) {
    return Status::Skip("iptables backend: `iptables --version` did not run: " +
                        (r.ok() ? FirstLine(r.value.output) : r.status.message()));
  }
  return Status::Ok();
}

banger::Result<bool> Iptables::Exists(const IptablesRule& rule) {
  auto r = host_.Exec(Argv("-C", rule), kTimeoutMs);
  if (!r.ok()) return {r.status, false};
  if (r.value.exit_code == 0) return {Status::Ok(), true};
  if (r.value.exit_code == 1) return {Status::Ok(), false};  // "Bad rule": not there
  return {Status::Error("iptables -C " + rule[1] + ": " + FirstLine(r.value.output)), false};
}

Status Iptables::Change(const char* op, const IptablesRule& rule) {
  auto r = host_.Exec(Argv(op, rule), kTimeoutMs);
  if (!r.ok()) return r.status;
  if (r.value.exit_code != 0) {
    return Status::Error(std::string("iptables ") + op + " " + rule[1] + ": " +
                         FirstLine(r.value.output));
  }
  return Status::Ok();
}

Status Iptables::AppendMissing(const std::vector<IptablesRule>& rules) {
  for (const auto& rule : rules) {
    auto exists = Exists(rule);
    if (!exists.ok()) return exists.status;
    if (exists.value) continue;
    if (Status s = Change("-A", rule); !s.ok()) return s;
  }
  return Status::Ok();
}

Status Iptables::DeletePresent(const std::vector<IptablesRule>& rules) {
  std::string failures;
  for (const auto& rule : rules) {
    auto exists = Exists(rule);
    Status s = !exists.ok() ? exists.status : exists.value ? Change("-D", rule) : Status::Ok();
    if (!s.ok()) failures += (failures.empty() ? "" : "; ") + s.message();
  }
  return failures.empty() ? Status::Ok() : Status::Error(failures);
}

banger::Result<std::string> Iptables::List(const std::string& table, const std::string& chain) {
  auto r = host_.Exec({"iptables", "-w", "5", "-t", table, "-S", chain}, kTimeoutMs);
  if (!r.ok()) return {r.status, {}};
  if (r.value.exit_code != 0) {
    return {Status::Error("iptables -S " + chain + ": " + FirstLine(r.value.output)), {}};
  }
  return {Status::Ok(), r.value.output};
}

}  // namespace netfilter
