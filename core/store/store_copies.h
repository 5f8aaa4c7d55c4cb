// Copies of the store, kept in rotation: what `bangerd --recover-store`
// rebuilds from when the store itself is lost or damaged. Each copy is a
// directory <copies_dir>/<sequence>-<UTC time>/ holding one data.mdb, compacted,
// synced, checked by opening it read-only, then renamed into place: a copy
// that is listed is whole. The agent takes one at clean shutdown and every
// [core] store_copy_interval, and keeps the newest store_copies_keep.
//
// Thread-safety: Take and List may be called from any thread; Takes are
// serialised.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "core/base/status.h"
#include "core/store/vm_store.h"

namespace banger::core {

struct StoreCopy {
  std::string dir;   // <copies_dir>/<name>
  std::string name;  // "000042-20261129T222334.123Z": its sequence number, when it was taken
};

// What a copy holds, once opened and read like the agent reads its store.
struct CheckedStoreCopy {
  size_t records = 0;
  size_t corrupt = 0;
};

class StoreCopies {
 public:
  StoreCopies(std::string copies_dir, size_t keep);

  // Takes a copy of `store`, then removes the oldest beyond `keep`, and any
  // half-made copy a killed agent left. The new copy's directory, or why
  // none was made (the store itself is never changed).
  Result<StoreCopy> Take(const VmStore& store);

  // Removes what a copy cut short left (never listed); Take does it too.
  void SweepPartial();

  // The copies, newest first.
  std::vector<StoreCopy> List() const;

  // Opens a copy read-only and reads every record; an error when its file
  // is damaged or not a banger store.
  static Result<CheckedStoreCopy> Check(const std::string& copy_dir);

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  size_t keep_;
  std::mutex mu_;
};

}  // namespace banger::core
