#include "plugins/netfilter/nft_session.h"

#include <nftables/libnftables.h>

#include "plugins/netfilter/text.h"

namespace netfilter {

using banger::Status;

NftSession::NftSession() {
  ctx_ = nft_ctx_new(NFT_CTX_DEFAULT);
  if (ctx_) {
    nft_ctx_buffer_output(ctx_);
    nft_ctx_buffer_error(ctx_);
  }
}

NftSession::~NftSession() {
  if (ctx_) nft_ctx_free(ctx_);
}

banger::Result<std::string> NftSession::Run(const std::string& commands) {
  std::lock_guard lock(mu_);
  if (!ctx_) return {Status::Error("nftables: cannot create a context"), {}};
  int rc = nft_run_cmd_from_buffer(ctx_, commands.c_str());
  // Both buffers are taken after every run, which also empties them for the
  // next (a buffer nothing was written to yet is NULL).
  const char* out = nft_ctx_get_output_buffer(ctx_);
  const char* err_text = nft_ctx_get_error_buffer(ctx_);
  if (rc != 0) {
    std::string err = err_text ? err_text : "";
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    return {Status::Error("nftables: " + FirstLine(err)), {}};
  }
  return {Status::Ok(), out ? out : ""};
}

}  // namespace netfilter
