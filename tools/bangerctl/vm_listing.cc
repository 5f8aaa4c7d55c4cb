#include "tools/bangerctl/vm_listing.h"

#include <nlohmann/json.hpp>

namespace bangerctl {
namespace {

using nlohmann::json;

// Keeps the path of keys to where the parser is and takes the values the
// table needs; everything else is passed over as it is read.
class ListingReader : public nlohmann::json_sax<json> {
 public:
  explicit ListingReader(VmListingView& out) : out_(out) {}

  bool start_object(std::size_t) override {
    // A new element of one of the three arrays: {"vms": [ {...} ]}.
    if (path_.size() == 2 && path_[1] == "[]") {
      if (path_[0] == "vms") out_.vms.emplace_back();
      if (path_[0] == "corrupt") out_.corrupt.emplace_back();
      if (path_[0] == "orphans") out_.orphans.emplace_back();
    }
    path_.push_back("");  // the key comes next
    return true;
  }
  bool end_object() override {
    path_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    path_.push_back("[]");
    return true;
  }
  bool end_array() override {
    path_.pop_back();
    return true;
  }
  bool key(string_t& k) override {
    path_.back() = k;
    return true;
  }
  bool string(string_t& v) override {
    Take(v);
    return true;
  }
  bool number_integer(number_integer_t v) override {
    TakeNumber(static_cast<double>(v));
    return true;
  }
  bool number_unsigned(number_unsigned_t v) override {
    TakeNumber(static_cast<double>(v));
    return true;
  }
  bool number_float(number_float_t v, const string_t&) override {
    TakeNumber(v);
    return true;
  }
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool parse_error(std::size_t at, const std::string&,
                   const nlohmann::detail::exception& e) override {
    error_ = "at byte " + std::to_string(at) + ": " + e.what();
    return false;
  }
  const std::string& error() const { return error_; }

 private:
  // path_: {"vms", "[]", <member>, <sub-key>, <sub-sub-key>}
  bool InVm() const { return path_.size() >= 3 && path_[0] == "vms" && !out_.vms.empty(); }

  void Take(std::string& v) {
    if (InVm()) {
      VmRow& row = out_.vms.back();
      const std::string& member = path_[2];
      if (path_.size() == 3) {
        if (member == "name") row.name = std::move(v);
        if (member == "short_id") row.short_id = std::move(v);
        if (member == "state") row.state = std::move(v);
        if (member == "last_error") row.last_error = std::move(v);
      } else if (path_.size() == 5 && member == "handles" && path_[4] == "guest_ip" &&
                 row.guest_ip.empty()) {
        row.guest_ip = std::move(v);
      }
      return;
    }
    if (path_.size() != 3) return;
    if (path_[0] == "corrupt" && !out_.corrupt.empty()) {
      auto& c = out_.corrupt.back();
      if (path_[2] == "id") c.first = std::move(v);
      if (path_[2] == "error") c.second = std::move(v);
    } else if (path_[0] == "orphans" && !out_.orphans.empty()) {
      auto& o = out_.orphans.back();
      if (path_[2] == "kind") o.kind = std::move(v);
      if (path_[2] == "id") o.id = std::move(v);
      if (path_[2] == "detail") o.detail = std::move(v);
    }
  }
  void TakeNumber(double v) {
    if (!InVm()) return;
    VmRow& row = out_.vms.back();
    if (path_.size() == 3 && path_[2] == "uptime_s") row.uptime_s = static_cast<int64_t>(v);
    if (path_.size() == 4 && path_[2] == "spec") {
      if (path_[3] == "vcpus") row.vcpus = static_cast<uint64_t>(v);
      if (path_[3] == "memory_mib") row.memory_mib = static_cast<uint64_t>(v);
    }
  }

  VmListingView& out_;
  std::vector<std::string> path_;
  std::string error_;
};

}  // namespace

banger::core::Result<VmListingView> ParseVmListing(std::string_view body) {
  VmListingView out;
  ListingReader reader(out);
  if (!json::sax_parse(body, &reader)) {
    return banger::core::Status::Error("bangerd sent a listing that is not JSON (" +
                                       reader.error() + ")");
  }
  return out;
}

}  // namespace bangerctl
