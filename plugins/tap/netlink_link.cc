#include "plugins/tap/netlink_link.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/if_addr.h>
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
    h->nlmsg_seq = 1;
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

class Socket {
 public:
  Socket() { fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE); }
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

// Sends and waits for the ACK; returns 0 or a positive errno. Each reply
// message before the ACK goes to `on_reply` (RTM_GETLINK's answer).
int Talk(Request& req, const std::function<void(const nlmsghdr*)>& on_reply = {}) {
  Socket s;
  if (s.fd() < 0) return errno;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(s.fd(), req.header(), req.size(), 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof kernel) < 0) {
    return errno;
  }
  char buf[8192];
  for (;;) {
    ssize_t n = ::recv(s.fd(), buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, static_cast<unsigned>(n));
         h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* err = static_cast<nlmsgerr*>(NLMSG_DATA(h));
        return -err->error;  // 0 is the ACK
      }
      if (h->nlmsg_type == NLMSG_DONE) return 0;
      if (on_reply) on_reply(h);
    }
  }
}

Status Fail(const std::string& what, const std::string& ifname, int err) {
  return Status::Error(what + " " + ifname + ": " + std::strerror(err));
}

int IndexOf(const std::string& ifname) {
  return static_cast<int>(::if_nametoindex(ifname.c_str()));
}

}  // namespace

bool HasIpv4Address(const std::string& ifname) {
  ifaddrs* all = nullptr;
  if (::getifaddrs(&all) != 0) return false;
  bool found = false;
  for (ifaddrs* a = all; a != nullptr && !found; a = a->ifa_next) {
    found = a->ifa_addr != nullptr && a->ifa_addr->sa_family == AF_INET && ifname == a->ifa_name;
  }
  ::freeifaddrs(all);
  return found;
}

bool LinkExists(const std::string& ifname) {
  return IndexOf(ifname) > 0;
}

Status SetLinkUp(const std::string& ifname, bool up) {
  int index = IndexOf(ifname);
  if (index == 0) return Fail(up ? "link up" : "link down", ifname, ENODEV);
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  info.ifi_index = index;
  info.ifi_change = IFF_UP;
  info.ifi_flags = up ? IFF_UP : 0;
  Request req(RTM_NEWLINK, 0, &info, sizeof info);
  int err = Talk(req);
  return err ? Fail(up ? "link up" : "link down", ifname, err) : Status::Ok();
}

Status SetLinkAlias(const std::string& ifname, const std::string& alias) {
  int index = IndexOf(ifname);
  if (index == 0) return Fail("set the alias of", ifname, ENODEV);
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  info.ifi_index = index;
  Request req(RTM_NEWLINK, 0, &info, sizeof info);
  req.AddAttr(IFLA_IFALIAS, alias.data(), alias.size());  // empty: the alias is removed
  int err = Talk(req);
  return err ? Fail("set the alias of", ifname, err) : Status::Ok();
}

std::string LinkAlias(const std::string& ifname) {
  int index = IndexOf(ifname);
  if (index == 0) return "";
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  info.ifi_index = index;
  Request req(RTM_GETLINK, 0, &info, sizeof info);
  std::string alias;
  Talk(req, [&](const nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWLINK) return;
    auto* got = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
    int len = static_cast<int>(IFLA_PAYLOAD(h));
    for (auto* a = IFLA_RTA(got); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
      if (a->rta_type != IFLA_IFALIAS) continue;
      alias.assign(static_cast<const char*>(RTA_DATA(a)), RTA_PAYLOAD(a));
      while (!alias.empty() && alias.back() == '\0') alias.pop_back();
    }
  });
  return alias;
}

Status AddIpv4Address(const std::string& ifname, uint32_t addr, int prefix_len) {
  int index = IndexOf(ifname);
  if (index == 0) return Fail("add address to", ifname, ENODEV);
  ifaddrmsg a{};
  a.ifa_family = AF_INET;
  a.ifa_prefixlen = static_cast<unsigned char>(prefix_len);
  a.ifa_index = static_cast<uint32_t>(index);
  Request req(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, &a, sizeof a);
  uint32_t net = htonl(addr);
  req.AddAttr(IFA_LOCAL, &net, sizeof net);
  req.AddAttr(IFA_ADDRESS, &net, sizeof net);
  int err = Talk(req);
  return err ? Fail("add address to", ifname, err) : Status::Ok();
}

Status FlushIpv4Addresses(const std::string& ifname) {
  int index = IndexOf(ifname);
  if (index == 0) return Status::Ok();  // gone: nothing to flush
  // Dump the addresses, then delete those of this link. With strict checking
  // the kernel filters the dump by interface: the cost does not grow with the
  // number of addresses (one per busy TAP) in the namespace.
  Socket s;
  if (s.fd() < 0) return Fail("flush addresses of", ifname, errno);
  int strict = 1;
  ::setsockopt(s.fd(), SOL_NETLINK, NETLINK_GET_STRICT_CHK, &strict, sizeof strict);
  struct {
    nlmsghdr h;
    ifaddrmsg a;
  } dump{};
  dump.h.nlmsg_len = NLMSG_LENGTH(sizeof(ifaddrmsg));
  dump.h.nlmsg_type = RTM_GETADDR;
  dump.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  dump.a.ifa_family = AF_INET;
  dump.a.ifa_index = static_cast<uint32_t>(index);
  if (::send(s.fd(), &dump, dump.h.nlmsg_len, 0) < 0)
    return Fail("flush addresses of", ifname, errno);
  std::vector<std::pair<ifaddrmsg, uint32_t>> mine;
  char buf[16384];
  bool done = false;
  while (!done) {
    ssize_t n = ::recv(s.fd(), buf, sizeof buf, 0);
    if (n <= 0) break;
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, static_cast<unsigned>(n));
         h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
        done = true;
        break;
      }
      auto* a = static_cast<ifaddrmsg*>(NLMSG_DATA(h));
      if (static_cast<int>(a->ifa_index) != index) continue;
      int len = static_cast<int>(IFA_PAYLOAD(h));
      for (auto* rta = IFA_RTA(a); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
        if (rta->rta_type == IFA_LOCAL) {
          mine.emplace_back(*a, *static_cast<uint32_t*>(RTA_DATA(rta)));
        }
      }
    }
  }
  for (auto& [a, addr] : mine) {
    Request req(RTM_DELADDR, 0, &a, sizeof a);
    req.AddAttr(IFA_LOCAL, &addr, sizeof addr);
    int err = Talk(req);
    if (err && err != EADDRNOTAVAIL) return Fail("flush addresses of", ifname, err);
  }
  return Status::Ok();
}

Status DeleteLink(const std::string& ifname) {
  int index = IndexOf(ifname);
  if (index == 0) return Status::Ok();  // already gone
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  info.ifi_index = index;
  Request req(RTM_DELLINK, 0, &info, sizeof info);
  int err = Talk(req);
  if (err == ENODEV) return Status::Ok();
  return err ? Fail("delete link", ifname, err) : Status::Ok();
}

}  // namespace tapcap
