#include "plugins/portfwd/portfwd_backend.h"

#include <algorithm>
#include <sstream>

#include "plugins/netfilter/text.h"

namespace portfwdcap {

using banger::Status;
using netfilter::FirstLine;

namespace {

std::string GuestDestination(const std::string& guest_ip, const PortForward& f) {
  return guest_ip + ":" + std::to_string(f.guest_port);
}

}  // namespace

// ---- nftables ----

NftablesBackend::NftablesBackend(PortfwdConfig config) : config_(std::move(config)) {}

std::string NftablesBackend::Declarations() const {
  const std::string t = "ip " + config_.table;
  std::string out = "add table " + t + "\n";
  for (const char* p : kProtocols) {
    out += "add map " + t + " fwd_" + p + " { type inet_service : ipv4_addr . inet_service; }\n";
  }
  return out;
}

std::string NftablesBackend::Element(const std::string& guest_ip, const PortForward& f) const {
  return "ip " + config_.table + " fwd_" + f.proto + " { " + std::to_string(f.host_port) + " : " +
         guest_ip + " . " + std::to_string(f.guest_port) + " }\n";
}

Status NftablesBackend::Setup() {
  const std::string t = "ip " + config_.table;
  // Which destinations forward: the listed addresses, or any of the host's
  // own (fib ... local) but loopback, which only the output chain takes, and
  // only when asked. Without the fib match a guest's own connections to port
  // 8080 anywhere would be caught too.
  std::string to_host = "ip daddr != 127.0.0.0/8 fib daddr type local";
  if (!config_.addresses.empty()) {
    to_host = "ip daddr { ";
    for (size_t i = 0; i < config_.addresses.size(); ++i) {
      to_host += (i ? ", " : "") + config_.addresses[i];
    }
    to_host += " }";
  }
  const std::pair<const char*, const char*> chains[] = {
      {"prerouting", "type nat hook prerouting priority dstnat"},
      {"output", "type nat hook output priority -100"},
      {"postrouting", "type nat hook postrouting priority srcnat"},
      {"forward", "type filter hook forward priority filter"},
      {"guard", "type filter hook prerouting priority raw"},
  };
  std::string batch = Declarations();
  for (const auto& [name, hook] : chains) {
    batch += "add chain " + t + " " + name + " { " + hook + "; policy accept; }\n";
    batch += "flush chain " + t + " " + name + "\n";
  }
  for (const char* proto : kProtocols) {
    const std::string p = proto;
    const std::string dnat = " dnat ip to " + p + " dport map @fwd_" + p + "\n";
    batch += "add rule " + t + " prerouting " + to_host + dnat;
    batch += "add rule " + t + " output " + to_host + dnat;
    if (config_.loopback) batch += "add rule " + t + " output ip daddr 127.0.0.0/8" + dnat;
  }
  if (config_.loopback) {
    // The guest answers the tap's host address, not 127.0.0.1.
    batch += "add rule " + t + " postrouting ip saddr 127.0.0.0/8 ct status dnat masquerade\n";
  }
  // route_localnet lets packets for 127.0.0.0/8 be routed; none may come
  // from outside (kube-proxy's guard). Kept whatever `loopback` says: the
  // sysctl outlives a configuration that turned loopback off.
  batch += "add rule " + t + " guard iifname != \"lo\" ip daddr 127.0.0.0/8 drop\n";
  batch += "add rule " + t + " forward ct status dnat accept\n";
  // Idempotent: the table and maps (and the elements in them: VMs running
  // across a restart) are kept; the chains' rules are rewritten, so a changed
  // config takes effect. One batch: all or nothing.
  return Run(batch).status;
}

Status NftablesBackend::Add(const std::string& guest_ip, const std::vector<PortForward>& forwards) {
  std::string batch;
  for (const auto& f : forwards) batch += "add element " + Element(guest_ip, f);
  return Run(batch).status;
}

Status NftablesBackend::Remove(const std::string& guest_ip,
                               const std::vector<PortForward>& forwards) {
  // Add then delete, in one atomic batch: each element ends up absent whether
  // or not it was there, so a removal is idempotent without a lookup. The
  // declarations make a table deleted by hand (its elements gone with it)
  // a success too.
  auto add_delete = [&](const PortForward& f) {
    return "add element " + Element(guest_ip, f) + "delete element " + Element(guest_ip, f);
  };
  std::string batch = Declarations();
  for (const auto& f : forwards) batch += add_delete(f);
  if (Run(batch).ok()) return Status::Ok();
  // The kernel refuses to add over a port another VM's element holds, which
  // fails the whole batch: go one by one, and leave what is not ours.
  std::string failures;
  for (const auto& f : forwards) {
    Status s = Run(Declarations() + add_delete(f)).status;
    if (s.ok()) continue;
    auto now = Destination(f);
    if (now.ok() && !now.value.empty() && now.value != GuestDestination(guest_ip, f)) continue;
    failures += (failures.empty() ? "" : "; ") + HostPortText(f) + ": " + s.message();
  }
  return failures.empty() ? Status::Ok() : Status::Error(failures);
}

banger::Result<std::string> NftablesBackend::Destination(const PortForward& f) {
  // nft answers a key that is not there (or a map that is not) with an
  // error: nothing holds the port. Any other failure shows in the add that
  // follows.
  auto out = Run("get element ip " + config_.table + " fwd_" + f.proto + " { " +
                 std::to_string(f.host_port) + " }\n");
  if (!out.ok()) return {Status::Ok(), ""};
  // "... elements = { 8080 : 10.0.0.2 . 80 } ..."
  auto open = out.value.find("elements = {");
  auto close = out.value.find('}', open);
  if (open != std::string::npos && close != std::string::npos) {
    std::istringstream words(out.value.substr(open + 12, close - open - 12));
    std::string port, colon, ip, dot, guest_port;
    words >> port >> colon >> ip >> dot >> guest_port;
    if (port == std::to_string(f.host_port) && colon == ":" && dot == "." && ValidIpv4(ip)) {
      return {Status::Ok(), ip + ":" + guest_port};
    }
  }
  return {Status::Error("nftables: cannot read where " + HostPortText(f) + " forwards to in '" +
                        FirstLine(out.value) + "...'"),
          {}};
}

// ---- iptables ----

namespace {

const char* const kComment = "banger-portfwd";

// The rule with our comment before its target: how Destination (and an
// operator) tells portfwd's rules from others.
std::vector<std::string> Tagged(std::vector<std::string> rule) {
  rule.insert(std::find(rule.begin(), rule.end(), "-j"), {"-m", "comment", "--comment", kComment});
  return rule;
}

std::vector<std::string> Words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

}  // namespace

std::vector<netfilter::IptablesRule> IptablesBackend::Rules(
    const std::string& ip, const std::vector<PortForward>& forwards) const {
  // Which destinations forward, as in the nftables backend.
  std::vector<std::vector<std::string>> to_host;
  if (config_.addresses.empty()) {
    to_host.push_back({"-m", "addrtype", "--dst-type", "LOCAL", "!", "-d", "127.0.0.0/8"});
  }
  for (const auto& a : config_.addresses) to_host.push_back({"-d", a + "/32"});

  std::vector<std::vector<std::string>> rules;
  auto add = [&](std::vector<std::string> rule) {
    rule = Tagged(std::move(rule));
    if (std::find(rules.begin(), rules.end(), rule) == rules.end()) rules.push_back(rule);
  };
  for (const auto& f : forwards) {
    const std::string host_port = std::to_string(f.host_port);
    const std::string guest_port = std::to_string(f.guest_port);
    auto dnat = [&](const char* chain, const std::vector<std::string>& match) {
      std::vector<std::string> r{"nat", chain, "-p", f.proto, "--dport", host_port};
      r.insert(r.end(), match.begin(), match.end());
      r.insert(r.end(), {"-j", "DNAT", "--to-destination", ip + ":" + guest_port});
      add(std::move(r));
    };
    for (const auto& match : to_host) {
      dnat("PREROUTING", match);
      dnat("OUTPUT", match);
    }
    if (config_.loopback) {
      dnat("OUTPUT", {"-d", "127.0.0.0/8"});  // the host's own only: never from outside
      add({"nat", "POSTROUTING", "-p", f.proto, "--dport", guest_port, "-s", "127.0.0.0/8", "-d",
           ip + "/32", "-m", "conntrack", "--ctstate", "DNAT", "-j", "MASQUERADE"});
    }
    // Both ways, for hosts whose FORWARD policy is DROP (Docker's).
    add({"filter", "FORWARD", "-p", f.proto, "--dport", guest_port, "-d", ip + "/32", "-m",
         "conntrack", "--ctstate", "DNAT", "-j", "ACCEPT"});
    add({"filter", "FORWARD", "-p", f.proto, "--sport", guest_port, "-s", ip + "/32", "-m",
         "conntrack", "--ctstate", "DNAT", "-j", "ACCEPT"});
  }
  return rules;
}

Status IptablesBackend::Setup() {
  if (Status s = iptables_.Available(); !s.ok()) return s;
  if (!config_.loopback) return Status::Ok();
  // The guard of the nftables backend's table. Never removed: the sysctl it
  // guards stays set.
  return iptables_.AppendMissing({Tagged(Words("raw PREROUTING ! -i lo -d 127.0.0.0/8 -j DROP"))});
}

Status IptablesBackend::Add(const std::string& guest_ip, const std::vector<PortForward>& forwards) {
  // A DNAT rule for the port to elsewhere would shadow ours (the first rule
  // wins): refuse, as the nftables backend's kernel does.
  for (const auto& f : forwards) {
    auto now = Destination(f);
    if (!now.ok()) return now.status;
    if (!now.value.empty() && now.value != GuestDestination(guest_ip, f)) {
      return Status::Error(HostPortText(f) + " is already forwarded to " + now.value);
    }
  }
  return iptables_.AppendMissing(Rules(guest_ip, forwards));
}

Status IptablesBackend::Remove(const std::string& guest_ip,
                               const std::vector<PortForward>& forwards) {
  // Each rule names guest_ip: another VM's rules are never matched.
  return iptables_.DeletePresent(Rules(guest_ip, forwards));
}

banger::Result<std::string> IptablesBackend::Destination(const PortForward& f) {
  // Our DNAT rules in PREROUTING, as `iptables -S` prints them:
  // -A PREROUTING ... -p tcp -m tcp --dport 8080 ... --comment banger-portfwd
  //    -j DNAT --to-destination 10.0.0.2:80
  auto listed = iptables_.List("nat", "PREROUTING");
  if (!listed.ok()) return {listed.status, {}};
  std::istringstream lines(listed.value);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string word; words >> word;) w.push_back(word);
    auto after = [&](const char* flag) -> std::string {
      auto it = std::find(w.begin(), w.end(), flag);
      return it == w.end() || it + 1 == w.end() ? "" : *(it + 1);
    };
    std::string comment = after("--comment");
    comment.erase(std::remove(comment.begin(), comment.end(), '"'), comment.end());
    if (comment == kComment && after("-p") == f.proto &&
        after("--dport") == std::to_string(f.host_port)) {
      return {Status::Ok(), after("--to-destination")};
    }
  }
  return {Status::Ok(), ""};
}

std::unique_ptr<PortfwdBackend> MakeBackend(const PortfwdConfig& config, banger::Host host) {
  if (config.backend == "iptables") return std::make_unique<IptablesBackend>(config, host);
  return std::make_unique<NftablesBackend>(config);
}

}  // namespace portfwdcap
