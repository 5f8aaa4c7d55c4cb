// TapPool: the tap capability's behaviour. A pool of persistent TAP devices
// (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, TUNSETPERSIST, owned by the VMM's uid),
// named <prefix><slot>, created with ioctl and configured over rtnetlink,
// warmed in the background at init. Slot n owns the n-th /30 of the CIDR:
// host .1 on the TAP, guest .2, so addresses follow from the slot.
//
// reserve (before the VM's start is first recorded) takes a slot and records
// it and what follows from it (tap_name, host_ip, guest_ip, guest_mac) as the
// VM's handles; the host commits them with the start's own record. prepare
// then claims the device: made or given to the VMM's uid only when it is not
// already (opening a TAP to change it costs an RCU grace period when the
// descriptor closes), up with the VM's id as its alias (the device says
// whose it is) and its address, and contributes eth0 and the kernel ip= boot
// argument. cleanup finds the slot through the handle cascade (its
// rediscover reads the aliases), returns the device to the pool (down,
// addresses and alias cleared) or deletes it when it is beyond the pool's
// size; a device already gone is fine, and one whose alias names another VM
// is left alone. A device keeps its owner when it goes back: a jailed VMM's
// uid (one per running VM) takes the device its uid owns when it starts
// again, so each uid owns at most one device and a restart pays no attach.
// Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <banger/capability.hpp>

#include "plugins/tap/tap_config.h"

namespace tapcap {

class TapPool {
 public:
  explicit TapPool(banger::Host host);  // throws on a bad config: init fails with the message
  ~TapPool();

  // Takes a slot for `vm` (kept when it holds one) and records its handles.
  // Creates nothing.
  banger::Status Reserve(const banger::Vm& vm);
  // Claims the device of the slot `vm` reserved (reserving first when it did
  // not: a host that has no reserve hook).
  banger::Status Prepare(const banger::Vm& vm);
  banger::Status Cleanup(const banger::Vm& vm);
  // A handle of `vm` found from the devices themselves: the pool device whose
  // alias is the VM's id (after the record lost its handles).
  std::optional<std::string> Rediscover(const banger::Vm& vm, std::string_view key) const;
  void Shutdown();
  // {"size": N, "in_use": N, "free": N}: the `pool` command's answer (and a
  // fleet scheduler's, through GET /v1/host).
  std::string PoolJson();
  // The `release` command, for when banger leaves the host (the package's
  // removal runs it after the drain): stops warming and deletes every pool
  // device no VM holds; a free one carrying an address no record names is
  // left alone, as prepare leaves it. {"deleted": N, "in_use": N,
  // "left_alone": N}. Prepare makes a device again when a VM needs one.
  std::string Release();

  std::string TapName(uint32_t slot) const { return config_.prefix + std::to_string(slot); }
  uint32_t HostIp(uint32_t slot) const { return config_.cidr_base + 4 * slot + 1; }
  uint32_t GuestIp(uint32_t slot) const { return config_.cidr_base + 4 * slot + 2; }
  // 06:00:xx:xx:xx:xx from the VM id: locally administered, unicast, stable.
  static std::string GuestMac(std::string_view vm_id);

 private:
  // Creates the slot's device, or attaches to it when it exists and is
  // free, and makes `owner` its owner (the uid that may attach to it).
  banger::Status EnsureDevice(uint32_t slot, uid_t owner) const;
  // The VMM's uid: the VM's own when it is jailed, else [tap] owner_uid.
  uid_t OwnerOf(const banger::Vm& vm) const;
  // The slot a device of this name would be in, if it is a pool name.
  std::optional<uint32_t> SlotOf(std::string_view name) const;
  // The slot `vm` holds, if any (mu_ held).
  std::optional<uint32_t> HeldBy(std::string_view vm_id) const;
  // A free slot for a VMM of uid `uid`, claimed for `vm_id` (mu_ held): the
  // one whose device that uid owns, else the lowest free one. *wait when
  // that one's device is being made by the warm-up (claim again once it is).
  std::optional<uint32_t> Claim(std::string_view vm_id, uid_t uid, bool* wait);
  void Warm();
  void StopWarming();
  // A free slot whose device carries an address is in use by a VM no record
  // names (its record is corrupt, or it was set by hand): taking or deleting
  // it would break that VM. Says so when it is.
  bool InUseUnrecorded(uint32_t slot) const;

  static constexpr int64_t kNoDevice = -1;

  banger::Host host_;
  TapConfig config_;
  std::mutex mu_;                    // guards the four below
  std::vector<std::string> owner_;   // slot -> VM id, "" when free
  std::vector<int64_t> device_uid_;  // slot -> its device's owner as last seen, or kNoDevice
  std::vector<bool> warming_;        // slot -> its device is being made by the warm-up
  std::condition_variable warmed_;   // with mu_: a slot the warm-up was making is made

  std::atomic<bool> stopping_{false};
  std::mutex warm_mu_;  // joins warm_ once, from Shutdown or Release
  std::thread warm_;
};

}  // namespace tapcap
