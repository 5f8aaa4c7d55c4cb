#include "plugins/nat/nat_backend.h"

#include <nftables/libnftables.h>

namespace natcap {

using banger::Status;

// ---- nftables ----

NftablesBackend::NftablesBackend(NatConfig config) : config_(std::move(config)) {
  ctx_ = nft_ctx_new(NFT_CTX_DEFAULT);
  if (ctx_) {
    nft_ctx_buffer_output(ctx_);
    nft_ctx_buffer_error(ctx_);
  }
}

NftablesBackend::~NftablesBackend() {
  if (ctx_) nft_ctx_free(ctx_);
}

Status NftablesBackend::Run(const std::string& commands) {
  std::lock_guard lock(mu_);
  if (!ctx_) return Status::Error("nftables: cannot create a context");
  if (nft_run_cmd_from_buffer(ctx_, commands.c_str()) != 0) {
    std::string err = nft_ctx_get_error_buffer(ctx_);
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    auto nl = err.find('\n');  // the first line says what failed
    return Status::Error("nftables: " + (nl == std::string::npos ? err : err.substr(0, nl)));
  }
  return Status::Ok();
}

Status NftablesBackend::Setup() {
  const std::string t = "ip " + config_.table;
  const std::string up = "\"" + config_.uplink + "\"";
  // Idempotent: the table, its set (and the VMs' elements in it, from before
  // a restart) are kept; the chains' rules are rewritten, so a changed
  // uplink takes effect. One batch: all or nothing.
  return Run("add table " + t + "\n" + "add set " + t + " egress { type ipv4_addr . ifname; }\n" +
             "add chain " + t +
             " postrouting { type nat hook postrouting priority srcnat; policy accept; }\n" +
             "add chain " + t +
             " forward { type filter hook forward priority filter; policy accept; }\n" +
             "flush chain " + t + " postrouting\n" + "flush chain " + t + " forward\n" +
             "add rule " + t + " postrouting ip saddr . iifname @egress oifname " + up +
             " masquerade\n" + "add rule " + t + " forward ip saddr . iifname @egress oifname " +
             up + " accept\n" + "add rule " + t + " forward ip daddr . oifname @egress iifname " +
             up + " ct state established,related accept\n");
}

Status NftablesBackend::Add(const std::string& guest_ip, const std::string& tap) {
  return Run("add element ip " + config_.table + " egress { " + guest_ip + " . \"" + tap +
             "\" }\n");
}

Status NftablesBackend::Remove(const std::string& guest_ip, const std::string& tap) {
  // Add then delete, in one atomic batch: the element ends up absent whether
  // or not it was there, so a removal is idempotent without a lookup.
  std::string element = "{ " + guest_ip + " . \"" + tap + "\" }";
  return Run("add element ip " + config_.table + " egress " + element + "\n" +
             "delete element ip " + config_.table + " egress " + element + "\n");
}

// ---- iptables ----

std::vector<std::vector<std::string>> IptablesBackend::Rules(const std::string& ip,
                                                             const std::string& tap) const {
  const std::string& up = config_.uplink;
  return {
      {"nat", "POSTROUTING", "-s", ip + "/32", "-o", up, "-j", "MASQUERADE"},
      {"filter", "FORWARD", "-i", tap, "-o", up, "-s", ip + "/32", "-j", "ACCEPT"},
      {"filter", "FORWARD", "-i", up, "-o", tap, "-d", ip + "/32", "-m", "conntrack", "--ctstate",
       "RELATED,ESTABLISHED", "-j", "ACCEPT"},
  };
}

namespace {

std::vector<std::string> Argv(const char* op, const std::vector<std::string>& rule) {
  std::vector<std::string> argv{"iptables", "-w", "5", "-t", rule[0], op, rule[1]};
  argv.insert(argv.end(), rule.begin() + 2, rule.end());
  return argv;
}

std::string FirstLine(const std::string& s) {
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

}  // namespace

Status IptablesBackend::Setup() {
  auto r = host_.Exec({"iptables", "--version"}, 5000);
  if (!r.ok() || r.value.exit_code != 0) {
    return Status::Skip("iptables backend: `iptables --version` did not run: " +
                        (r.ok() ? FirstLine(r.value.output) : r.status.message()));
  }
  return Status::Ok();
}

banger::Result<bool> IptablesBackend::Exists(const std::vector<std::string>& rule) {
  auto r = host_.Exec(Argv("-C", rule), 10000);
  if (!r.ok()) return {r.status, false};
  if (r.value.exit_code == 0) return {Status::Ok(), true};
  if (r.value.exit_code == 1) return {Status::Ok(), false};  // "Bad rule": not there
  return {Status::Error("iptables -C " + rule[1] + ": " + FirstLine(r.value.output)), false};
}

Status IptablesBackend::Change(const char* op, const std::vector<std::string>& rule) {
  auto r = host_.Exec(Argv(op, rule), 10000);
  if (!r.ok()) return r.status;
  if (r.value.exit_code != 0) {
    return Status::Error(std::string("iptables ") + op + " " + rule[1] + ": " +
                         FirstLine(r.value.output));
  }
  return Status::Ok();
}

Status IptablesBackend::Add(const std::string& guest_ip, const std::string& tap) {
  for (const auto& rule : Rules(guest_ip, tap)) {
    auto exists = Exists(rule);
    if (!exists.ok()) return exists.status;
    if (exists.value) continue;
    if (Status s = Change("-A", rule); !s.ok()) return s;
  }
  return Status::Ok();
}

Status IptablesBackend::Remove(const std::string& guest_ip, const std::string& tap) {
  std::string failures;
  for (const auto& rule : Rules(guest_ip, tap)) {
    auto exists = Exists(rule);
    Status s = !exists.ok() ? exists.status : exists.value ? Change("-D", rule) : Status::Ok();
    if (!s.ok()) failures += (failures.empty() ? "" : "; ") + s.message();
  }
  return failures.empty() ? Status::Ok() : Status::Error(failures);
}

std::unique_ptr<NatBackend> MakeBackend(const NatConfig& config, banger::Host host) {
  if (config.backend == "iptables") return std::make_unique<IptablesBackend>(config, host);
  return std::make_unique<NftablesBackend>(config);
}

}  // namespace natcap
