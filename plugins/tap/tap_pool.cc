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
#include <unordered_set>

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
  device_uid_.assign(config_.pool_size, kNoDevice);
  warming_.assign(config_.pool_size, false);
  // What the pool's devices are now, in one dump: which exist, whose uid
  // owns each, which VM each serves (its alias).
  std::vector<std::string> alias(config_.pool_size);
  for (const auto& link : ListLinks()) {
    auto slot = SlotOf(link.name);
    if (!slot) continue;
    device_uid_[*slot] = link.tun_owner.value_or(kNoDevice);
    alias[*slot] = link.alias;
  }
  // Slots still held by VMs from before a restart stay theirs: the record
  // knows which (the agent reconciles dead VMs, which frees theirs).
  auto vms = host_.ListVms();
  if (vms.ok()) {
    std::unordered_set<std::string> ids;
    for (const auto& vm : vms.value) {
      ids.insert(vm.id);
      auto slot = host_.HandleGet(vm.id, "slot");
      if (!slot.ok()) continue;
      uint32_t n = static_cast<uint32_t>(std::strtoul(slot.value.c_str(), nullptr, 10));
      if (n < owner_.size()) owner_[n] = vm.id;
    }
    // A device's alias names the VM it serves, recorded or not (a store
    // rebuilt by --recover-store has no handles).
    for (uint32_t slot = 0; slot < config_.pool_size; ++slot) {
      if (owner_[slot].empty() && ids.count(alias[slot])) owner_[slot] = alias[slot];
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
    } else if (!GetLink(tap)) {
      device_uid_[slot] = kNoDevice;
    } else if (InUseUnrecorded(slot)) {
      ++left_alone;
    } else if (Status s = DeleteLink(tap); !s.ok()) {
      host_.Warn("release " + tap + ": " + s.message());
      ++left_alone;
    } else {
      device_uid_[slot] = kNoDevice;
      ++deleted;
    }
  }
  host_.Info("pool released: deleted " + std::to_string(deleted) + " TAP devices, " +
             std::to_string(in_use) + " in use");
  return "{\"deleted\": " + std::to_string(deleted) + ", \"in_use\": " + std::to_string(in_use) +
         ", \"left_alone\": " + std::to_string(left_alone) + "}";
}

bool TapPool::InUseUnrecorded(uint32_t slot) const {
  int error = 0;
  auto link = GetLink(TapName(slot), &error);
  if (error != 0) {
    // Not known: not taken (nor deleted) on a guess.
    host_.Warn("cannot ask the kernel about " + TapName(slot) + ": " + std::strerror(error) +
               "; left alone");
    return true;
  }
  if (!link || !HasIpv4Address(*link)) return false;
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
  // Close ours: a TAP can be held by one process, and that is the VMM. (The
  // close waits for an RCU grace period in the kernel: why this runs only
  // when the device is missing or has another owner.)
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
    {
      std::lock_guard lock(mu_);
      if (!owner_[slot].empty() || device_uid_[slot] != kNoDevice) continue;  // in use, or made
      // Marked, not locked, while it is made (a device takes milliseconds to
      // make on a busy host): a reserve waits for this one device only when
      // this is the slot it takes, and none takes it to give it another owner.
      warming_[slot] = true;
    }
    Status s = EnsureDevice(slot, config_.owner_uid);
    {
      std::lock_guard lock(mu_);
      warming_[slot] = false;
      if (s.ok()) device_uid_[slot] = config_.owner_uid;
    }
    warmed_.notify_all();
    if (!s.ok()) {
      host_.Warn("warming the pool stopped: " + s.message());
      return;
    }
    ++created;
  }
  host_.Info((stopping_ ? "pool warming stopped: created " : "pool warm: created ") +
             std::to_string(created) + " TAP devices");
}

std::optional<uint32_t> TapPool::SlotOf(std::string_view name) const {
  if (name.size() <= config_.prefix.size() ||
      name.compare(0, config_.prefix.size(), config_.prefix))
    return std::nullopt;
  std::string_view digits = name.substr(config_.prefix.size());
  if (digits.find_first_not_of("0123456789") != std::string_view::npos || digits.size() > 9)
    return std::nullopt;
  uint32_t slot = static_cast<uint32_t>(std::strtoul(std::string(digits).c_str(), nullptr, 10));
  if (slot >= config_.pool_size || TapName(slot) != name) return std::nullopt;  // "bt01"
  return slot;
}

std::optional<uint32_t> TapPool::HeldBy(std::string_view vm_id) const {
  for (uint32_t slot = 0; slot < owner_.size(); ++slot) {
    if (owner_[slot] == vm_id) return slot;
  }
  return std::nullopt;
}

std::optional<uint32_t> TapPool::Claim(std::string_view vm_id, uid_t uid, bool* wait) {
  // The free device this uid owns first: a jailed VMM's uid then never owns
  // two devices (it could open the other one), and a VM's restart reuses its
  // device as it is. Then the lowest free slot, or, when the warm-up is
  // making its device, that one once it is made (one device's wait, at an
  // agent's start). Never one a VM no record names uses (a failed start
  // would strip that VM's address).
  *wait = false;
  auto usable = [&](uint32_t slot) { return owner_[slot].empty() && !InUseUnrecorded(slot); };
  for (uint32_t slot = 0; slot < owner_.size(); ++slot) {
    if (device_uid_[slot] == static_cast<int64_t>(uid) && !warming_[slot] && usable(slot)) {
      owner_[slot] = std::string(vm_id);
      return slot;
    }
  }
  for (uint32_t slot = 0; slot < owner_.size(); ++slot) {
    if (!owner_[slot].empty()) continue;
    if (warming_[slot]) {
      *wait = true;
      return std::nullopt;
    }
    if (usable(slot)) {
      owner_[slot] = std::string(vm_id);
      return slot;
    }
  }
  return std::nullopt;
}

Status TapPool::Reserve(const banger::Vm& vm) {
  uint32_t slot = 0;
  {
    std::unique_lock lock(mu_);
    // A VM that already holds a slot keeps it: reserve is idempotent.
    auto held = HeldBy(vm.id());
    for (bool wait = true; !held && wait;) {
      held = Claim(vm.id(), OwnerOf(vm), &wait);
      if (!held && wait) warmed_.wait(lock);
    }
    if (!held) {
      return Status::Error("the pool is exhausted: all " + std::to_string(owner_.size()) +
                           " slots are in use (raise [tap] pool_size, within the cidr)");
    }
    slot = *held;
  }
  // Identity first: recorded before the device is claimed (the host commits
  // a reserve's handles with the start's record, before any prepare).
  Status s = host_.HandleSetMany(vm.id(), {{"slot", std::to_string(slot)},
                                           {"tap_name", TapName(slot)},
                                           {"host_ip", Ipv4Text(HostIp(slot))},
                                           {"guest_ip", Ipv4Text(GuestIp(slot))},
                                           {"guest_mac", GuestMac(vm.id())}});
  if (!s.ok()) {
    std::lock_guard lock(mu_);
    owner_[slot].clear();
    return Status::Error("record the TAP: " + s.message());
  }
  return Status::Ok();
}

Status TapPool::Prepare(const banger::Vm& vm) {
  std::optional<uint32_t> held;
  {
    std::lock_guard lock(mu_);
    held = HeldBy(vm.id());
  }
  if (!held) {
    // No reserve before (a host without the hook): reserve now.
    if (Status s = Reserve(vm); !s.ok()) return s;
    std::lock_guard lock(mu_);
    held = HeldBy(vm.id());
    if (!held) return Status::Error("the slot reserved for the VM was taken back");
  }
  const uint32_t slot = *held;
  std::string tap = TapName(slot);
  // Made (the warm-up may not have reached it yet) or given to the uid this
  // VM's VMM runs as (a jailed VMM has no other right to it), only when it
  // is not already.
  const uid_t owner = OwnerOf(vm);
  int error = 0;
  auto link = GetLink(tap, &error);
  if (error != 0) return Status::Error("ask the kernel about " + tap + ": " + std::strerror(error));
  if (!link || link->tun_owner != owner) {
    if (Status s = EnsureDevice(slot, owner); !s.ok()) return s;
    link = GetLink(tap);
    if (!link) return Status::Error("made " + tap + " but the kernel does not list it");
  }
  {
    std::lock_guard lock(mu_);
    device_uid_[slot] = owner;
  }
  Status s = SetLinkState(*link, /*up=*/true, std::string(vm.id()));
  if (s.ok()) s = AddIpv4Address(*link, HostIp(slot), 30);
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
  auto release_claim = [&] {
    // A reserve whose start never got recorded holds a slot nothing names.
    std::lock_guard lock(mu_);
    if (auto held = HeldBy(vm.id())) owner_[*held].clear();
  };
  auto slot_text = host_.HandleGet(vm.id(), "slot");
  if (!slot_text.ok()) {
    if (slot_text.status.code() == BANGER_NOT_FOUND) {
      host_.Debug(who + ": no TAP was ever allocated (" + slot_text.status.message() + ")");
      release_claim();
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
  } else {
    int error = 0;
    auto link = GetLink(tap, &error);
    if (error != 0) {
      // Not "gone": unknown. The slot stays taken and the handles kept, so
      // the next cleanup (reconcile's) tries again.
      return Status::Error("ask the kernel about " + tap + ": " + std::strerror(error));
    }
    if (link && !link->alias.empty() && link->alias != vm.id()) {
      // Handles from before (a store restored from a copy): the slot has
      // been another VM's since. Its device is not this VM's to undo.
      host_.Warn(who + ": " + tap + " now serves vm " + link->alias + "; left alone");
      release_claim();
      return Status::Ok();
    }
    if (link) {
      // Back to the pool, still owned by the uid it was given to: the next
      // VM of another uid gives it that uid (prepare), one of the same uid
      // takes it first (Claim).
      s = FlushIpv4Addresses(*link);
      if (s.ok()) s = SetLinkState(*link, /*up=*/false, "");
    }
  }
  // A device deleted by hand is gone: nothing to undo, and the slot is free
  // (the warm-up or the next prepare recreates it).
  if (!s.ok()) return Status::Error(s.message());
  std::lock_guard lock(mu_);
  if (slot < owner_.size() && owner_[slot] == vm.id()) owner_[slot].clear();
  if (auto held = HeldBy(vm.id())) owner_[*held].clear();
  return Status::Ok();
}

std::optional<std::string> TapPool::Rediscover(const banger::Vm& vm, std::string_view key) const {
  for (const auto& link : ListLinks()) {
    if (link.alias != vm.id()) continue;
    auto slot = SlotOf(link.name);
    if (!slot) continue;
    if (key == "slot") return std::to_string(*slot);
    if (key == "tap_name") return TapName(*slot);
    if (key == "host_ip") return Ipv4Text(HostIp(*slot));
    if (key == "guest_ip") return Ipv4Text(GuestIp(*slot));
    if (key == "guest_mac") return GuestMac(vm.id());
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace tapcap
