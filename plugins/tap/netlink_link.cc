#include "plugins/tap/netlink_link.h"

#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <vector>

namespace tapcap {
namespace {

using banger::Status;

// A netlink request: header + payload + attributes, built in one buffer.
class Request {
 public:
  Request(uint16_t type, uint16_t flags, const void* body, size_t body_len) {
    buf_.resize(NLMSG_SPACE(body_len));
    auto* h = header();
    h->nlmsg_len = static_cast<uint32_t>(NLMSG_LENGTH(body_len));
    h->nlmsg_type = type;
    h->nlmsg_flags = static_cast<uint16_t>(flags | NLM_F_REQUEST | NLM_F_ACK);
    std::memcpy(NLMSG_DATA(h), body, body_len);
  }
  void AddAttr(uint16_t type, const void* data, size_t len) {
    size_t at = NLMSG_ALIGN(header()->nlmsg_len);
    buf_.resize(at + RTA_SPACE(len));
    auto* rta = reinterpret_cast<rtattr*>(buf_.data() + at);
    rta->rta_type = type;
    rta->rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
    std::memcpy(RTA_DATA(rta), data, len);
    header()->nlmsg_len = static_cast<uint32_t>(at + RTA_ALIGN(rta->rta_len));
  }
  nlmsghdr* header() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }
  size_t size() { return header()->nlmsg_len; }

 private:
  std::vector<char> buf_;
};

// This thread's socket to the kernel, with strict checking on (dumps are
// filtered by the kernel) and a receive buffer a dump's chunks fit in.
class Channel {
 public:
  Channel() : buf_(64 * 1024) { Open(); }
  ~Channel() {
    if (fd_ >= 0) ::close(fd_);
  }

  // Sends `req` and reads until its answer ends: the ACK (or error) of a
  // request, NLMSG_DONE of a dump. Each message of the answer before that
  // goes to `on_reply`. 0 or a positive errno. Messages of an earlier
  // request (a sequence number not this one's) are skipped.
  int Talk(Request& req, const std::function<void(const nlmsghdr*)>& on_reply) {
    // A socket that could not be made (out of descriptors) is tried again:
    // one failure does not cost the thread its netlink for good.
    if (fd_ < 0 && !Open()) return errno;
    uint32_t seq = ++seq_;
    req.header()->nlmsg_seq = seq;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(fd_, req.header(), req.size(), 0, reinterpret_cast<sockaddr*>(&kernel),
                 sizeof kernel) < 0) {
      return errno;
    }
    for (;;) {
      ssize_t n = ::recv(fd_, buf_.data(), buf_.size(), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      for (auto* h = reinterpret_cast<nlmsghdr*>(buf_.data());
           NLMSG_OK(h, static_cast<unsigned>(n)); h = NLMSG_NEXT(h, n)) {
        if (h->nlmsg_seq != seq) continue;
        if (h->nlmsg_type == NLMSG_ERROR) {
          auto* err = static_cast<nlmsgerr*>(NLMSG_DATA(h));
          return -err->error;  // 0 is the ACK
        }
        if (h->nlmsg_type == NLMSG_DONE) return 0;
        if (on_reply) on_reply(h);
      }
    }
  }

 private:
  bool Open() {
    fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd_ < 0) return false;
    int one = 1;
    ::setsockopt(fd_, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one);
    ::setsockopt(fd_, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
    return true;
  }

  int fd_ = -1;
  uint32_t seq_ = 0;
  std::vector<char> buf_;
};

int Talk(Request& req, const std::function<void(const nlmsghdr*)>& on_reply = {}) {
  static thread_local Channel channel;
  return channel.Talk(req, on_reply);
}

Status Fail(const std::string& what, const std::string& ifname, int err) {
  return Status::Error(what + " " + ifname + ": " + std::strerror(err));
}

// IFLA_LINKINFO -> IFLA_INFO_DATA -> IFLA_TUN_OWNER, for a "tun" link.
std::optional<uid_t> TunOwner(const rtattr* linkinfo) {
  int len = static_cast<int>(RTA_PAYLOAD(linkinfo));
  bool tun = false;
  const rtattr* data = nullptr;
  for (auto* a = static_cast<const rtattr*>(RTA_DATA(linkinfo)); RTA_OK(a, len);
       a = RTA_NEXT(a, len)) {
    if (a->rta_type == IFLA_INFO_KIND) {
      tun = std::strncmp(static_cast<const char*>(RTA_DATA(a)), "tun", RTA_PAYLOAD(a)) == 0;
    } else if (a->rta_type == IFLA_INFO_DATA) {
      data = a;
    }
  }
  if (!tun || data == nullptr) return std::nullopt;
  len = static_cast<int>(RTA_PAYLOAD(data));
  for (auto* a = static_cast<const rtattr*>(RTA_DATA(data)); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    if (a->rta_type == IFLA_TUN_OWNER && RTA_PAYLOAD(a) >= sizeof(uint32_t)) {
      uint32_t uid;
      std::memcpy(&uid, RTA_DATA(a), sizeof uid);
      return static_cast<uid_t>(uid);
    }
  }
  return std::nullopt;
}

std::optional<LinkInfo> ParseLink(const nlmsghdr* h) {
  if (h->nlmsg_type != RTM_NEWLINK) return std::nullopt;
  auto* got = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
  LinkInfo link;
  link.index = got->ifi_index;
  link.up = (got->ifi_flags & IFF_UP) != 0;
  int len = static_cast<int>(IFLA_PAYLOAD(h));
  for (auto* a = IFLA_RTA(got); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    auto text = [&] {
      std::string s(static_cast<const char*>(RTA_DATA(a)), RTA_PAYLOAD(a));
      while (!s.empty() && s.back() == '\0') s.pop_back();
      return s;
    };
    if (a->rta_type == IFLA_IFNAME) {
      link.name = text();
    } else if (a->rta_type == IFLA_IFALIAS) {
      link.alias = text();
    } else if (a->rta_type == IFLA_LINKINFO) {
      link.tun_owner = TunOwner(a);
    } else if (a->rta_type == IFLA_CARRIER_CHANGES && RTA_PAYLOAD(a) >= sizeof(uint32_t)) {
      std::memcpy(&link.carrier_changes, RTA_DATA(a), sizeof(uint32_t));
    }
  }
  return link;
}

// Asks for links without their counters: a dump of 1,000 links is then a
// tenth of the bytes.
void SkipStats(Request& req) {
  uint32_t mask = RTEXT_FILTER_SKIP_STATS;
  req.AddAttr(IFLA_EXT_MASK, &mask, sizeof mask);
}

// RTM_GETADDR for one link's IPv4 addresses, filtered by the kernel.
int DumpIpv4Addresses(const LinkInfo& link,
                      const std::function<void(const ifaddrmsg&, uint32_t local)>& each) {
  ifaddrmsg a{};
  a.ifa_family = AF_INET;
  a.ifa_index = static_cast<uint32_t>(link.index);
  Request req(RTM_GETADDR, NLM_F_DUMP, &a, sizeof a);
  return Talk(req, [&](const nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWADDR) return;
    auto* got = static_cast<const ifaddrmsg*>(NLMSG_DATA(h));
    if (static_cast<int>(got->ifa_index) != link.index) return;
    int len = static_cast<int>(IFA_PAYLOAD(h));
    for (auto* rta = IFA_RTA(got); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
      if (rta->rta_type == IFA_LOCAL && RTA_PAYLOAD(rta) >= sizeof(uint32_t)) {
        uint32_t local;
        std::memcpy(&local, RTA_DATA(rta), sizeof local);
        each(*got, local);
      }
    }
  });
}

}  // namespace

std::optional<LinkInfo> GetLink(const std::string& ifname, int* error) {
  if (error) *error = 0;
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) return std::nullopt;
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  Request req(RTM_GETLINK, 0, &info, sizeof info);
  req.AddAttr(IFLA_IFNAME, ifname.c_str(), ifname.size() + 1);
  SkipStats(req);
  std::optional<LinkInfo> found;
  int err = Talk(req, [&](const nlmsghdr* h) {
    if (auto link = ParseLink(h); link && link->name == ifname) found = std::move(link);
  });
  if (err != 0) {
    if (error && err != ENODEV) *error = err;  // not an answer about the link
    return std::nullopt;
  }
  return found;
}

std::vector<LinkInfo> ListLinks() {
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  Request req(RTM_GETLINK, NLM_F_DUMP, &info, sizeof info);
  SkipStats(req);
  std::vector<LinkInfo> links;
  Talk(req, [&](const nlmsghdr* h) {
    if (auto link = ParseLink(h)) links.push_back(std::move(*link));
  });
  return links;
}

Status SetLinkState(const LinkInfo& link, bool up, const std::string& alias) {
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  info.ifi_index = link.index;
  info.ifi_change = IFF_UP;
  info.ifi_flags = up ? IFF_UP : 0;
  Request req(RTM_NEWLINK, 0, &info, sizeof info);
  req.AddAttr(IFLA_IFALIAS, alias.data(), alias.size());  // empty: the alias is removed
  int err = Talk(req);
  return err ? Fail(up ? "bring up" : "bring down", link.name, err) : Status::Ok();
}

Status AddIpv4Address(const LinkInfo& link, uint32_t addr, int prefix_len) {
  ifaddrmsg a{};
  a.ifa_family = AF_INET;
  a.ifa_prefixlen = static_cast<unsigned char>(prefix_len);
  a.ifa_index = static_cast<uint32_t>(link.index);
  Request req(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, &a, sizeof a);
  uint32_t net = htonl(addr);
  req.AddAttr(IFA_LOCAL, &net, sizeof net);
  req.AddAttr(IFA_ADDRESS, &net, sizeof net);
  int err = Talk(req);
  return err ? Fail("add address to", link.name, err) : Status::Ok();
}

bool HasIpv4Address(const LinkInfo& link) {
  bool found = false;
  DumpIpv4Addresses(link, [&](const ifaddrmsg&, uint32_t) { found = true; });
  return found;
}

Status FlushIpv4Addresses(const LinkInfo& link) {
  std::vector<std::pair<ifaddrmsg, uint32_t>> mine;
  int err = DumpIpv4Addresses(
      link, [&](const ifaddrmsg& a, uint32_t local) { mine.emplace_back(a, local); });
  if (err == ENODEV) return Status::Ok();  // gone: nothing to flush
  if (err) return Fail("flush addresses of", link.name, err);
  for (auto& [a, addr] : mine) {
    Request req(RTM_DELADDR, 0, &a, sizeof a);
    req.AddAttr(IFA_LOCAL, &addr, sizeof addr);
    err = Talk(req);
    if (err && err != EADDRNOTAVAIL && err != ENODEV)
      return Fail("flush addresses of", link.name, err);
  }
  return Status::Ok();
}

Status DeleteLink(const std::string& ifname) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) return Status::Ok();  // no such link
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  Request req(RTM_DELLINK, 0, &info, sizeof info);
  req.AddAttr(IFLA_IFNAME, ifname.c_str(), ifname.size() + 1);
  int err = Talk(req);
  if (err == ENODEV) return Status::Ok();  // already gone
  return err ? Fail("delete link", ifname, err) : Status::Ok();
}

}  // namespace tapcap
