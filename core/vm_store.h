// VmStore: the VM records, in LMDB under <state_dir>/store. Three DBIs:
// vms (id -> msgpack record), names (name -> id), meta (format marker and
// versions). Name uniqueness is enforced in the write transaction that
// writes the record. Every write is committed durably (LMDB's default sync)
// before it returns.
//
// Thread-safety: every method may be called from any thread. Reads use their
// own read-only transactions (MVCC) and never wait for a writer; writers are
// serialised. The one exception is growing the map (MDB_MAP_FULL), which
// waits for in-flight reads to finish for the microseconds it takes.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/vm_record.h"

typedef struct MDB_env MDB_env;

namespace banger {

struct CorruptRecord {
  std::string id;
  std::string error;
};

struct VmListing {
  std::vector<VmRecord> records;  // by id
  std::vector<CorruptRecord> corrupt;
};

// Marker and version of the store's on-disk format (meta DBI).
inline constexpr const char* kStoreFormat = "banger-store";
inline constexpr int kStoreFormatVersion = 1;

class VmStore {
 public:
  struct Options {
    std::string dir;              // the LMDB environment directory (created)
    size_t map_size = 64u << 20;  // initial map size; grows by doubling when full
  };

  // Opens or creates the store. Refuses, without writing anything, a store
  // whose format marker is not banger's or whose format version is newer
  // than this agent's.
  static Result<std::unique_ptr<VmStore>> Open(const Options& options);
  ~VmStore();
  VmStore(const VmStore&) = delete;
  VmStore& operator=(const VmStore&) = delete;

  // Reads. NOT_FOUND-style errors say what was looked for; a record that
  // does not decode is an error naming its id.
  Result<VmRecord> Get(const std::string& id) const;
  Result<VmRecord> GetByName(const std::string& name) const;
  // ref = full id, a unique id prefix, or a name. An exact id wins, then a
  // name, then a prefix; a prefix that matches several VMs is an error
  // listing them.
  Result<VmRecord> Resolve(const std::string& ref) const;
  // Every record; corrupt ones are reported, never hidden or dropped.
  VmListing List() const;

  // Writes. Upsert writes the record (its name must be free or already its
  // own; a rename releases the old name). Delete removes record and name
  // (absent is OK).
  Status Upsert(const VmRecord& record);
  Status Delete(const std::string& id);

  // Read-modify-write of several records in ONE transaction (one durable
  // commit): `mutate` is called with each existing record and may change it;
  // a record that is missing or corrupt is reported in the result and
  // skipped, the others are written. An error from `mutate` aborts all.
  using Mutator = std::function<Status(VmRecord&)>;
  struct BatchResult {
    size_t written = 0;
    std::vector<std::string> skipped;  // "<id>: why"
  };
  Result<BatchResult> UpdateMany(const std::vector<std::string>& ids, const Mutator& mutate);
  // One record, same rules; NOT_FOUND and corrupt are errors.
  Status Update(const std::string& id, const Mutator& mutate);

  size_t map_size() const;
  const std::string& dir() const { return dir_; }
  // Number of write transactions committed since open (tests and stats).
  uint64_t commits() const;

 private:
  VmStore() = default;
  // Runs `body` in a write transaction, growing the map and retrying when
  // LMDB reports it full.
  template <typename Body>
  Status Write(const Body& body);

  std::string dir_;
  MDB_env* env_ = nullptr;
  unsigned vms_ = 0, names_ = 0, meta_ = 0;  // MDB_dbi
  mutable std::shared_mutex resize_mu_;      // shared: any txn; exclusive: mapsize change
  std::mutex write_mu_;
  size_t map_size_ = 0;
  std::atomic<uint64_t> commits_{0};
};

}  // namespace banger
