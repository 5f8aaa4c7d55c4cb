// VmStore: the VM records, in LMDB under <state_dir>/store. Four DBIs:
// vms (id -> msgpack record), names (name -> id), meta (format marker and
// versions), stats (id -> msgpack figures: written every stats tick, so
// kept apart from the record, which then is not rewritten for them). Name uniqueness is enforced in
// the write transaction that writes the record. Every write is committed
// before it returns; records take LMDB's two syncs, Sync::kDataOnly writes
// (handles, figures) one: what each survives is docs/ARCHITECTURE.md,
// "Durability".
//
// The agent is the only writer of its state dir (StateDirLock), so the store
// also keeps every record decoded, as an immutable shared snapshot
// (VmRecordPtr): loaded at open, replaced after each commit. Reads are served
// from it and never decode or touch the disk; LMDB remains the durable truth.
// A record that did not decode at open stays reported as corrupt until it is
// rewritten or deleted.
//
// Thread-safety: every method may be called from any thread. Readers never
// wait for a write transaction or its fsync; they only share a lock with the
// in-memory swap that follows a commit (microseconds). Writers are
// serialised.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/base/status.h"
#include "core/store/vm_record.h"

typedef struct MDB_env MDB_env;
typedef struct MDB_txn MDB_txn;

namespace banger::core {

struct CorruptRecord {
  std::string id;
  std::string error;
  std::string name = {};  // when known (FindCorrupt by name), else ""
};

// A record as it was last committed. Immutable: to change a VM, copy the
// record, change the copy, write it.
using VmRecordPtr = std::shared_ptr<const VmRecord>;
// A VM's figures as last committed; immutable like a record.
using VmStatsPtr = std::shared_ptr<const VmStats>;

struct VmListing {
  std::vector<VmRecordPtr> records;  // by id
  std::vector<VmStatsPtr> stats;     // records[i]'s figures; null when none were published
  std::vector<CorruptRecord> corrupt;
};

// Marker and version of the store's on-disk format (meta DBI).
inline constexpr const char* kStoreFormat = "banger-store";
inline constexpr int kStoreFormatVersion = 1;

class VmStore {
 public:
  // The default Options::write_behind_delay.
  static constexpr std::chrono::milliseconds kWriteBehindDelay{20};
  struct Options {
    std::string dir;              // the LMDB environment directory (created)
    size_t map_size = 64u << 20;  // initial map size; grows by doubling when full
    // Why the caller believes this store held VMs ("3 VM directories under
    // /var/lib/banger/vms"), or "": a missing or empty data file is then
    // refused, not made into a new store.
    std::string held_vms = {};
    // Open an existing store to read it only (a copy being checked, or the
    // source of a recovery): nothing is created or written, no lock file is
    // used, and a missing data file is an error. Writes then fail.
    bool read_only = false;
    // How long a change written behind waits for company before the flush
    // (UpdateBehind).
    std::chrono::milliseconds write_behind_delay = kWriteBehindDelay;
  };

  // The file in `dir` that says a store was created there (and when): with
  // it, a missing or empty data file is a lost store, not a new one.
  static constexpr const char* kCreatedMarker = "created";

  // Opens or creates the store. Refuses, without writing anything:
  // - a data file that is damaged or cut short (CheckStoreFile judges it with
  //   pread before LMDB maps it: never a SIGBUS);
  // - a missing or empty data file where a store was created before (the
  //   marker) or the caller says VMs existed (Options::held_vms);
  // - a store whose format marker is not banger's or whose format version
  //   is newer than this agent's.
  // Each message names the file and points to docs/OPERATIONS.md.
  static Result<std::unique_ptr<VmStore>> Open(const Options& options);
  ~VmStore();
  VmStore(const VmStore&) = delete;
  VmStore& operator=(const VmStore&) = delete;

  // Reads. NOT_FOUND-style errors say what was looked for; a record that
  // does not decode is an error naming its id.
  Result<VmRecordPtr> Get(const std::string& id) const;
  Result<VmRecordPtr> GetByName(const std::string& name) const;
  // The corrupt record `ref` names (its id, a unique prefix of it among the
  // corrupt ones, or its name as the names table has it), if it is one.
  // Reads of such a record fail with StatusCode::kCorrupt.
  std::optional<CorruptRecord> FindCorrupt(const std::string& ref) const;
  // ref = full id, a unique id prefix, or a name. An exact id wins, then a
  // name, then a prefix; a prefix that matches several VMs is an error
  // listing them.
  Result<VmRecordPtr> Resolve(const std::string& ref) const;
  // Every record; corrupt ones are reported, never hidden or dropped.
  VmListing List() const;

  // Writes. Upsert writes the record (its name must be free or already its
  // own; a rename releases the old name). Delete removes record and name
  // (absent is OK).
  Status Upsert(const VmRecord& record);
  // Several upserts in ONE transaction (one durable commit): all or none.
  Status UpsertMany(const std::vector<VmRecord>& records);
  Status Delete(const std::string& id);

  // Read-modify-write of several records in ONE transaction (one durable
  // commit): `mutate` is called with each existing record and may change it;
  // a record that is missing or corrupt is reported in the result and
  // skipped, the others are written. An error from `mutate` aborts all.
  using Mutator = std::function<Status(VmRecord&)>;
  // How a write reaches the disk. kFull: data and meta pages synced (the
  // write survives a host crash). kDataOnly: the meta page is not synced
  // (MDB_NOMETASYNC): one fsync instead of two, the store's integrity is
  // kept, but a host crash may undo the latest such writes. Either survives
  // the agent's own death at any instant.
  enum class Sync { kFull, kDataOnly };
  struct BatchResult {
    size_t written = 0;
    std::vector<std::string> skipped;  // "<id>: why"
  };
  Result<BatchResult> UpdateMany(std::span<const std::string_view> ids, const Mutator& mutate,
                                 Sync sync = Sync::kFull);
  Result<BatchResult> UpdateMany(const std::vector<std::string>& ids, const Mutator& mutate,
                                 Sync sync = Sync::kFull);
  // One record, same rules; NOT_FOUND and corrupt are errors.
  Status Update(const std::string& id, const Mutator& mutate, Sync sync = Sync::kFull);

  // Update, written behind: the change is what every read sees at once (it
  // is applied to the snapshot now, in order with every other write) and is
  // committed by a background flush within Options::write_behind_delay - one
  // transaction and one sync for every change written behind meanwhile - or
  // at Flush, or when the store closes. A later write of the same record
  // carries it too. Until it is flushed, an agent that dies loses it: the
  // record on disk is as it was before. So this is only for what the agent
  // rebuilds from the host after such a death (a start's "running": reconcile
  // re-adopts the live VMM of a VM recorded starting). `mutate` may not
  // rename (Invalid). NOT_FOUND and corrupt are errors, as in Update.
  Status UpdateBehind(const std::string& id, const Mutator& mutate);
  // Commits every change written behind that is not yet: OK when none is
  // waiting. Errors are LMDB's (the changes stay waiting).
  Status Flush();

  // A VM's latest figures; null when none were published. Deleting the VM
  // deletes them.
  VmStatsPtr Stats(std::string_view id) const;
  // Changes the figures of several VMs in ONE transaction: `merge` gets the
  // index of the id in `ids` and a copy of that VM's figures (empty when it
  // has none) to change; the
  // record is not rewritten. A VM without a record (removed meanwhile, or
  // corrupt) is skipped and reported. A stored blob of figures that does not
  // decode is replaced: figures are re-sampled, never the only copy of
  // anything.
  using StatsMerger = std::function<void(size_t index, VmStats&)>;
  Result<BatchResult> UpdateStats(std::span<const std::string_view> ids, const StatsMerger& merge,
                                  Sync sync = Sync::kDataOnly);

  size_t map_size() const;

  // Writes a consistent, compacted copy of the store (LMDB's
  // mdb_env_copy2 with MDB_CP_COMPACT, from one read transaction: writers
  // go on meanwhile) to `dir`/data.mdb, synced to disk, mode 0600. `dir`
  // must exist and hold no data.mdb. StoreCopies keeps these in rotation.
  Status CopyTo(const std::string& dir) const;

  // What a committed write changes in the snapshot (internal).
  struct Change {
    std::string id;
    VmRecordPtr record;  // null: the id is gone (with its figures), unless `stats` is set
    VmStatsPtr stats;    // set: only the VM's figures changed
  };
  const std::string& dir() const { return dir_; }
  // Number of write transactions committed since open (tests and stats).
  uint64_t commits() const;

 private:
  VmStore() = default;
  // Runs `body` in a write transaction, growing the map and retrying when
  // LMDB reports it full; after the commit, applies its changes.
  template <typename Body>
  Status Write(const Body& body, Sync sync = Sync::kFull,
               const std::function<void()>& committed = {});
  void FlushBehind();         // the flusher thread
  Status OpenTables();        // creates the four tables, and the meta of a new store
  Status OpenTablesToRead();  // the four tables of an existing store, read-only
  Status LoadSnapshot();
  void Apply(std::vector<Change>& changes);               // consumes them
  Result<VmRecordPtr> Lookup(std::string_view id) const;  // cache_mu_ held
  std::string CurrentName(MDB_txn* txn, const std::string& id) const;

  std::string dir_;
  MDB_env* env_ = nullptr;
  unsigned vms_ = 0, names_ = 0, meta_ = 0, stats_ = 0;  // MDB_dbi
  mutable std::shared_mutex resize_mu_;  // shared: any txn; exclusive: mapsize change
  std::mutex write_mu_;
  // Written behind, waiting for the flush (write_mu_): ids.
  std::set<std::string> behind_;
  std::condition_variable behind_cv_;  // with write_mu_: a change waits, or the store closes
  bool closing_ = false;
  std::chrono::milliseconds write_behind_delay_ = kWriteBehindDelay;
  std::thread flusher_;
  size_t map_size_ = 0;
  std::atomic<uint64_t> commits_{0};

  mutable std::shared_mutex cache_mu_;
  std::map<std::string, VmRecordPtr, std::less<>> by_id_;  // ordered: id-prefix lookups
  std::unordered_map<std::string, std::string> names_to_ids_;
  std::map<std::string, std::string, std::less<>> corrupt_;  // id -> decode error
  std::map<std::string, VmStatsPtr, std::less<>> stats_by_id_;
};

}  // namespace banger::core
