#include "plugins/tap/tap_pool.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "plugins/tap/netlink_link.h"

namespace tapcap {

using banger::Status;

std::string TapPool::PoolJson() {
  std::lock_guard lock(mu_);
  size_t in_use = 0;
  for (const auto& o : owner_) in_use += !o.empty();
  return "{\"size\": " + std::to_string(owner_.size()) + ", \"in_use\": " + std::to_string(in_use) +
         ", \"free\": " + std::to_string(owner_.size() - in_use) + "}";
}

TapPool::TapPool(banger::Host host) : host_(host) {
  auto config = ParseTapConfig(host_);
  if (!config.ok()) throw std::runtime_error(config.status.message());
  config_ = config.value;
  owner_.assign(config_.pool_size, "");
  // Slots still held by VMs from before a restart stay theirs: the record
  // knows which (the agent reconciles dead VMs, which frees theirs).
  auto vms = host_.ListVms();
  if (vms.ok()) {
    for (const auto& vm : vms.value) {
      auto slot = host_.HandleGet(vm.id, "slot");
      if (!slot.ok()) continue;
      uint32_t n = static_cast<uint32_t>(std::strtoul(slot.value.c_str(), nullptr, 10));
      if (n < owner_.size()) owner_[n] = vm.id;
    }
    // A device's alias names the VM it serves, recorded or not (a store
    // rebuilt by --recover-store has no handles).
    for (uint32_t slot = 0; slot < config_.pool_size; ++slot) {
      if (!owner_[slot].empty()) continue;
      std::string alias = LinkAlias(TapName(slot));
      for (const auto& vm : vms.value) {
        if (!alias.empty() && vm.id == alias) owner_[slot] = alias;
      }
    }
  }
  host_.Info("pool of " + std::to_string(config_.pool_size) + " TAP devices " + TapName(0) + ".." +
             TapName(config_.pool_size - 1) + " in " + Ipv4Text(config_.cidr_base) + "/" +
             std::to_string(config_.cidr_prefix) + "; warming in the background");
  warm_ = std::thread([this] { Warm(); });
}

TapPool::~TapPool() {
  Shutdown();
}

void TapPool::Shutdown() {
  StopWarming();
}

void TapPool::StopWarming() {
  std::lock_guard lock(warm_mu_);
  stopping_ = true;
  if (warm_.joinable()) warm_.join();
}

std::string TapPool::Release() {
  StopWarming();
  uint32_t deleted = 0, in_use = 0, left_alone = 0;
  // Under the lock throughout: a prepare claims its slot under it before it
  // makes the device, so no device is deleted under a VM that is starting.
  std::lock_guard lock(mu_);
  for (uint32_t slot = 0; slot < owner_.size(); ++slot) {
    std::string tap = TapName(slot);
    if (!owner_[slot].empty()) {
      ++in_use;
    } else if (!LinkExists(tap)) {
      continue;
    } else if (InUseUnrecorded(slot)) {
      ++left_alone;
    } else if (Status s = DeleteLink(tap); !s.ok()) {
      host_.Warn("release " + tap + ": " + s.message());
      ++left_alone;
    } else {
      ++deleted;
    }
  }
  host_.Info("pool released: deleted " + std::to_string(deleted) + " TAP devices, " +
             std::to_string(in_use) + " in use");
  return "{\"deleted\": " + std::to_string(deleted) + ", \"in_use\": " + std::to_string(in_use) +
         ", \"left_alone\": " + std::to_string(left_alone) + "}";
}

bool TapPool::InUseUnrecorded(uint32_t slot) const {
  if (!HasIpv4Address(TapName(slot))) return false;
  host_.Warn(TapName(slot) +
             " has an address but no VM's record names it: left alone (a VM whose record is "
             "corrupt? `bangerctl vm ls` lists those)");
  return true;
}

std::string TapPool::GuestMac(std::string_view id) {
  std::string mac = "06:00";
  for (size_t i = 0; i + 1 < 8 && i + 1 < id.size(); i += 2) {
    mac += ":" + std::string(id.substr(i, 2));
  }
  return mac;
}

uid_t TapPool::OwnerOf(const banger::Vm& vm) const {
  return vm.vmm_uid() != 0 ? static_cast<uid_t>(vm.vmm_uid()) : config_.owner_uid;
}

Status TapPool::EnsureDevice(uint32_t slot, uid_t owner) const {
  std::string name = TapName(slot);
  int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return Status::Error("open /dev/net/tun: " + std::string(std::strerror(errno)));
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  // Creates the device, or attaches to it when it exists and is free.
  Status s;
  if (::ioctl(fd, TUNSETIFF, &ifr) != 0) {
    s = Status::Error("create " + name + ": " + std::strerror(errno));
  } else if (::ioctl(fd, TUNSETOWNER, static_cast<unsigned long>(owner)) != 0 ||
             ::ioctl(fd, TUNSETPERSIST, 1) != 0) {
    s = Status::Error("make " + name + " persistent, owned by uid " + std::to_string(owner) + ": " +
                      std::strerror(errno));
  }
  // Close ours: a TAP can be held by one process, and that is the VMM.
  ::close(fd);
  if (s.ok()) {
    // The address plan is IPv4: no IPv6 autoconfiguration (link-local
    // address, router solicitations) each time the device comes up.
    int v6 =
        ::open(("/proc/sys/net/ipv6/conf/" + name + "/disable_ipv6").c_str(), O_WRONLY | O_CLOEXEC);
    if (v6 >= 0) {
      ssize_t unused = ::write(v6, "1", 1);
      (void)unused;
      ::close(v6);
    }
  }
  return s;
}

void TapPool::Warm() {
  uint32_t created = 0;
  for (uint32_t slot = 0; slot < config_.pool_size && !stopping_; ++slot) {
    // Held while the device is made: a prepare that claimed the slot in
    // between would have its device (owned by a jailed VMM's uid) given
    // back to the pool's owner, and its VMM could not open it.
    std::lock_guard lock(mu_);
    if (!owner_[slot].empty()) continue;  // in use: it exists
    if (LinkExists(TapName(slot))) continue;
    if (Status s = EnsureDevice(slot, config_.owner_uid); !s.ok()) {
      host_.Warn("warming the pool stopped: " + s.message());
      return;
    }
    ++created;
  }
  host_.Info((stopping_ ? "pool warming stopped: created " : "pool warm: created ") +
             std::to_string(created) + " TAP devices");
}

Status TapPool::Prepare(const banger::Vm& vm) {
  uint32_t slot = 0;
  {
    std::lock_guard lock(mu_);
    // A VM that already holds a slot keeps it: prepare is idempotent.
    auto mine = std::find(owner_.begin(), owner_.end(), std::string(vm.id()));
    if (mine != owner_.end()) {
      slot = static_cast<uint32_t>(mine - owner_.begin());
    } else {
      // Nor one a VM no record names uses: a failed start would also strip
      // that VM's address.
      for (; slot < owner_.size(); ++slot) {
        if (owner_[slot].empty() && !InUseUnrecorded(slot)) break;
      }
    }
    if (slot == owner_.size()) {
      return Status::Error("the pool is exhausted: all " + std::to_string(owner_.size()) +
                           " slots are in use (raise [tap] pool_size, within the cidr)");
    }
    owner_[slot] = vm.id();
  }
  auto release = [&] {
    std::lock_guard lock(mu_);
    owner_[slot].clear();
  };
  std::string tap = TapName(slot);
  // Identity first: recorded before the device is claimed.
  Status s = host_.HandleSetMany(vm.id(), {{"slot", std::to_string(slot)},
                                           {"tap_name", tap},
                                           {"host_ip", Ipv4Text(HostIp(slot))},
                                           {"guest_ip", Ipv4Text(GuestIp(slot))},
                                           {"guest_mac", GuestMac(vm.id())}});
  if (!s.ok()) {
    release();
    return Status::Error("record the TAP: " + s.message());
  }
  // Made (the warm-up may not have reached it yet) or taken over, owned by
  // the uid this VM's VMM runs as: a jailed VMM has no other right to it.
  s = EnsureDevice(slot, OwnerOf(vm));
  if (s.ok()) s = SetLinkAlias(tap, std::string(vm.id()));
  if (s.ok()) s = AddIpv4Address(tap, HostIp(slot), 30);
  if (s.ok()) s = SetLinkUp(tap, true);
  if (s.ok()) s = host_.AddNetworkInterface(vm.id(), "eth0", tap, GuestMac(vm.id()));
  if (s.ok()) {
    s = host_.AppendBootArgs(vm.id(), "ip=" + Ipv4Text(GuestIp(slot)) + "::" +
                                          Ipv4Text(HostIp(slot)) + ":255.255.255.252::eth0:off");
  }
  // On failure the host calls cleanup, which finds the slot in the record.
  return s;
}

Status TapPool::Cleanup(const banger::Vm& vm) {
  const std::string who = "cleanup vm \"" + std::string(vm.name()) + "\"";
  auto slot_text = host_.HandleGet(vm.id(), "slot");
  if (!slot_text.ok()) {
    if (slot_text.status.code() == BANGER_NOT_FOUND) {
      host_.Debug(who + ": no TAP was ever allocated (" + slot_text.status.message() + ")");
      return Status::Ok();
    }
    return Status::Error(slot_text.status.message());
  }
  uint32_t slot = static_cast<uint32_t>(std::strtoul(slot_text.value.c_str(), nullptr, 10));
  // What was recorded wins; the name is derived only when none was.
  auto recorded = host_.HandleGet(vm.id(), "tap_name");
  if (!recorded.ok() && recorded.status.code() != BANGER_NOT_FOUND) {
    return Status::Error(recorded.status.message());
  }
  std::string tap = recorded.ok() ? recorded.value : TapName(slot);
  Status s;
  if (slot >= config_.pool_size || tap != TapName(slot)) {
    // From an earlier config (a larger pool, another prefix): not kept. But
    // an old name can read as another slot's now ("bt1" + "0" is "bt10"):
    // that device is the pool's, maybe another VM's, and is left alone.
    bool pooled = false;
    for (uint32_t k = 0; k < config_.pool_size && !pooled; ++k) pooled = TapName(k) == tap;
    if (!pooled) s = DeleteLink(tap);
  } else if (LinkExists(tap)) {
    std::string serves = LinkAlias(tap);
    if (!serves.empty() && serves != vm.id()) {
      // Handles from before (a store restored from a copy): the slot has
      // been another VM's since. Its device is not this VM's to undo.
      host_.Warn(who + ": " + tap + " now serves vm " + serves + "; left alone");
      return Status::Ok();
    }
    // Back to the pool's owner first: the VM's uid goes to another VM next.
    if (OwnerOf(vm) != config_.owner_uid) s = EnsureDevice(slot, config_.owner_uid);
    if (s.ok()) s = FlushIpv4Addresses(tap);
    if (s.ok()) s = SetLinkUp(tap, false);
    if (s.ok()) s = SetLinkAlias(tap, "");
  }
  // A device deleted by hand is gone: nothing to undo, and the slot is free
  // (the warm-up or the next prepare recreates it).
  if (!s.ok()) return Status::Error(s.message());
  std::lock_guard lock(mu_);
  if (slot < owner_.size() && owner_[slot] == vm.id()) owner_[slot].clear();
  return Status::Ok();
}

std::optional<std::string> TapPool::Rediscover(const banger::Vm& vm, std::string_view key) const {
  for (uint32_t slot = 0; slot < config_.pool_size; ++slot) {
    if (LinkAlias(TapName(slot)) != vm.id()) continue;
    if (key == "slot") return std::to_string(slot);
    if (key == "tap_name") return TapName(slot);
    if (key == "host_ip") return Ipv4Text(HostIp(slot));
    if (key == "guest_ip") return Ipv4Text(GuestIp(slot));
    if (key == "guest_mac") return GuestMac(vm.id());
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace tapcap
