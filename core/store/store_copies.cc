#include "core/store/store_copies.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/base/clock.h"
#include "core/base/fault_point.h"
#include "core/base/unique_fd.h"

namespace banger::core {
namespace {

constexpr const char* kPartialPrefix = ".partial-";

void SyncDir(const std::string& dir) {
  UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.valid()) ::fsync(d.get());
}

}  // namespace

StoreCopies::StoreCopies(std::string copies_dir, size_t keep)
    : dir_(std::move(copies_dir)), keep_(std::max<size_t>(keep, 1)) {}

std::vector<StoreCopy> StoreCopies::List() const {
  std::vector<StoreCopy> copies;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind(kPartialPrefix, 0) == 0 || !e.is_directory(ec)) continue;
    copies.push_back({e.path().string(), name});
  }
  std::sort(copies.begin(), copies.end(),
            [](const StoreCopy& a, const StoreCopy& b) { return a.name > b.name; });
  return copies;
}

Result<CheckedStoreCopy> StoreCopies::Check(const std::string& copy_dir) {
  VmStore::Options options;
  options.dir = copy_dir;
  options.read_only = true;
  auto store = VmStore::Open(options);
  if (!store) return store.status();
  VmListing all = (*store)->List();
  return CheckedStoreCopy{all.records.size(), all.corrupt.size()};
}

void StoreCopies::SweepPartial() {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
    if (e.path().filename().string().rfind(kPartialPrefix, 0) == 0) {
      std::filesystem::remove_all(e.path(), ec);
    }
  }
}

Result<StoreCopy> StoreCopies::Take(const VmStore& store) {
  std::lock_guard lock(mu_);
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return Status::Error("store copy: cannot create " + dir_ + ": " + ec.message());
  ::chmod(dir_.c_str(), 0700);
  SweepPartial();
  // "000042-20261129T222334.123Z": a sequence number first, so the order is
  // the order they were taken in even when the clock steps back; the newest
  // is never the one rotation removes.
  unsigned long seq = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
    std::string n = e.path().filename().string();
    if (n.rfind(kPartialPrefix, 0) == 0) n = n.substr(std::strlen(kPartialPrefix));
    seq = std::max(seq, std::strtoul(n.c_str(), nullptr, 10));
  }
  char prefix[16];
  std::snprintf(prefix, sizeof prefix, "%06lu-", seq + 1);
  std::string name = prefix + UtcTimestamp(UnixMillis());
  const std::string partial = dir_ + "/" + kPartialPrefix + name;
  const std::string final_dir = dir_ + "/" + name;
  auto fail = [&](Status s) -> Result<StoreCopy> {
    std::filesystem::remove_all(partial, ec);
    return s.Prefixed("store copy " + final_dir);
  };
  if (::mkdir(partial.c_str(), 0700) != 0) {
    return fail(Status::Error(std::string("mkdir: ") + std::strerror(errno)));
  }
  if (Status s = store.CopyTo(partial); !s) return fail(s);
  BANGER_FAULT_POINT("store.copy.written");
  if (auto checked = Check(partial); !checked) {
    return fail(checked.status().Prefixed("the copy does not read back"));
  }
  if (::rename(partial.c_str(), final_dir.c_str()) != 0) {
    return fail(Status::Error(std::string("rename: ") + std::strerror(errno)));
  }
  SyncDir(dir_);
  BANGER_FAULT_POINT("store.copy.renamed");
  std::vector<StoreCopy> copies = List();
  for (size_t i = keep_; i < copies.size(); ++i) {
    std::filesystem::remove_all(copies[i].dir, ec);
  }
  if (copies.size() > keep_) SyncDir(dir_);
  return StoreCopy{final_dir, name};
}

}  // namespace banger::core
