// NftSession: a capability's own nftables context (libnftables, in
// process, no `nft` binary). Each Run is one batch: all of it or none.
// Thread-safe (an nft context is not: calls take turns).
#pragma once

#include <mutex>
#include <string>

#include <banger/capability.hpp>

struct nft_ctx;

namespace netfilter {

class NftSession {
 public:
  NftSession();
  ~NftSession();
  NftSession(const NftSession&) = delete;
  NftSession& operator=(const NftSession&) = delete;

  // Runs `commands` as one batch; what list and get commands print. A
  // failure says nft's first line of error ("nftables: ...").
  banger::Result<std::string> Run(const std::string& commands);

 private:
  std::mutex mu_;
  nft_ctx* ctx_ = nullptr;
};

}  // namespace netfilter
