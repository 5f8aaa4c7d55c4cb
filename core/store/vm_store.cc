#include "core/store/vm_store.h"

#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <utility>

#include "core/base/clock.h"
#include "core/base/fault_point.h"
#include "core/base/unique_fd.h"
#include "core/store/store_file_check.h"

namespace banger::core {
namespace {

MDB_val Val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}
std::string_view View(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

std::string LmdbError(const std::string& what, int rc) {
  return "store: " + what + ": " + mdb_strerror(rc);
}

// A read-only transaction, aborted on scope exit (reads never commit).
class ReadTxn {
 public:
  explicit ReadTxn(MDB_env* env) { rc_ = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn_); }
  ~ReadTxn() {
    if (rc_ == 0) mdb_txn_abort(txn_);
  }
  int rc() const { return rc_; }
  MDB_txn* get() const { return txn_; }

 private:
  MDB_txn* txn_ = nullptr;
  int rc_ = 0;
};

// The id a name maps to, by scanning names (used when a record is corrupt
// and its own name field cannot be read).
std::string NameOwnedBy(MDB_txn* txn, MDB_dbi names, const std::string& id) {
  MDB_cursor* cur = nullptr;
  if (mdb_cursor_open(txn, names, &cur) != 0) return "";
  MDB_val k, v;
  std::string found;
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    if (View(v) == id) {
      found = std::string(View(k));
      break;
    }
  }
  mdb_cursor_close(cur);
  return found;
}

// Writes record + name index inside txn. Returns an LMDB code; a logical
// failure (name taken) goes to *logical. On success the record itself (not a
// copy) becomes the change applied to the snapshot after the commit.
// `old_name` is the name the id holds now ("" for a new record).
int PutRecord(MDB_txn* txn, MDB_dbi vms, MDB_dbi names, VmRecordPtr ptr,
              const std::string& old_name, Status* logical, std::vector<VmStore::Change>* changes) {
  const VmRecord& record = *ptr;
  if (!IsVmId(record.id)) {
    *logical = Status::Invalid("store: '" + record.id + "' is not a VM id");
    return 0;
  }
  if (record.name.empty()) {
    *logical = Status::Invalid("store: vm " + record.id + " has no name");
    return 0;
  }
  int rc = 0;
  // The name index already maps a kept name to this id (written with it).
  if (old_name.empty() || old_name != record.name) {
    MDB_val nk = Val(record.name), nv;
    rc = mdb_get(txn, names, &nk, &nv);
    if (rc == 0 && View(nv) != record.id) {
      *logical = Status::Conflict("name '" + record.name + "' is taken by vm " +
                                  std::string(View(nv).substr(0, 8)));
      return 0;
    }
    if (rc != 0 && rc != MDB_NOTFOUND) return rc;
    bool name_indexed = rc == 0;  // and, as checked above, to this id
    if (!old_name.empty()) {
      MDB_val ok = Val(old_name);
      rc = mdb_del(txn, names, &ok, nullptr);
      if (rc != 0 && rc != MDB_NOTFOUND) return rc;
    }
    if (!name_indexed) {
      MDB_val id = Val(record.id);
      nk = Val(record.name);
      if ((rc = mdb_put(txn, names, &nk, &id, 0)) != 0) return rc;
    }
  }
  std::string blob = EncodeVmRecord(record);
  MDB_val key = Val(record.id), val = Val(blob);
  rc = mdb_put(txn, vms, &key, &val, 0);
  if (rc == 0) changes->push_back({record.id, std::move(ptr), nullptr});
  return rc;
}

// Judges an opened environment's format before anything is written: a
// banger store of a format this agent reads, or an empty environment.
Status CheckFormat(MDB_env* env, const std::string& dir) {
  ReadTxn txn(env);
  if (txn.rc() != 0) return Status::Error(LmdbError("read", txn.rc()));
  MDB_dbi meta;
  int rc = mdb_dbi_open(txn.get(), "meta", 0, &meta);
  if (rc == MDB_NOTFOUND) {
    MDB_dbi main;
    MDB_stat st;
    if (mdb_dbi_open(txn.get(), nullptr, 0, &main) == 0 && mdb_stat(txn.get(), main, &st) == 0 &&
        st.ms_entries > 0) {
      return Status::Error("store " + dir +
                           " is an LMDB environment that is not banger's (no meta); refusing "
                           "to use it (left untouched)");
    }
    return Status::Ok();
  }
  if (rc != 0) return Status::Error(LmdbError("meta", rc));
  MDB_val k = Val("format"), v;
  std::string format = mdb_get(txn.get(), meta, &k, &v) == 0 ? std::string(View(v)) : "";
  k = Val("format_version");
  std::string version = mdb_get(txn.get(), meta, &k, &v) == 0 ? std::string(View(v)) : "";
  if (format != kStoreFormat) {
    return Status::Error("store " + dir + " has format marker '" + format + "', not '" +
                         kStoreFormat + "'; refusing to use it (left untouched)");
  }
  int v_num = 0;
  try {
    v_num = std::stoi(version);
  } catch (...) {
    v_num = -1;
  }
  if (v_num < 1 || v_num > kStoreFormatVersion) {
    return Status::Error("store " + dir + " was written in store format version '" + version +
                         "'; this agent reads versions 1 to " +
                         std::to_string(kStoreFormatVersion) +
                         " (upgrade bangerd); refusing to touch it");
  }
  return Status::Ok();
}

constexpr const char* kWhatToDo =
    " (nothing was changed; `bangerd --recover-store` rebuilds the store from its newest copy "
    "and the VM directories; see docs/OPERATIONS.md, \"The store\")";

// Before LMDB maps the data file: a damaged or short one is refused; a
// missing or empty one is a new store only if nothing says VMs existed.
Status JudgeDataFile(const VmStore::Options& options) {
  std::string data = options.dir + "/data.mdb";
  auto facts = CheckStoreFile(data);
  if (facts.ok()) return Status::Ok();
  if (options.read_only) return facts.status();
  if (facts.status().code() != StatusCode::kNotFound) {
    return Status::Error(facts.status().message() + "; refusing to open it" + kWhatToDo);
  }
  std::string marker = options.dir + "/" + VmStore::kCreatedMarker;
  std::ifstream in(marker);
  std::string created;
  if (in) std::getline(in, created);
  std::string why =
      in ? "a store was created here (" + marker + ": " + created + ")" : options.held_vms;
  if (why.empty()) return Status::Ok();  // a new store
  return Status::Error(facts.status().message() + ", but " + why +
                       "; refusing to start with no VMs" + kWhatToDo);
}

// Written once, after the first commit of a new store.
Status MarkCreated(const std::string& dir) {
  std::string marker = dir + "/" + VmStore::kCreatedMarker;
  if (::access(marker.c_str(), F_OK) == 0) return Status::Ok();
  std::string tmp = marker + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "banger store created at unix ms " << UnixMillis() << "\n";
    out.flush();
    if (!out) return Status::Error("store: cannot write " + tmp);
  }
  ::chmod(tmp.c_str(), 0600);
  UniqueFd f(::open(tmp.c_str(), O_RDONLY | O_CLOEXEC));
  if (f.valid()) ::fsync(f.get());
  if (::rename(tmp.c_str(), marker.c_str()) != 0) {
    return Status::Error("store: cannot write " + marker + ": " + std::strerror(errno));
  }
  UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.valid()) ::fsync(d.get());
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<VmStore>> VmStore::Open(const Options& options) {
  if (!options.read_only) {
    std::error_code ec;
    std::filesystem::create_directories(options.dir, ec);
    if (ec) return Status::Error("store: cannot create " + options.dir + ": " + ec.message());
    ::chmod(options.dir.c_str(), 0700);
  }

  if (Status s = JudgeDataFile(options); !s) return s;

  std::unique_ptr<VmStore> store(new VmStore());
  store->dir_ = options.dir;
  store->map_size_ = options.map_size;
  store->write_behind_delay_ = options.write_behind_delay;
  int rc = mdb_env_create(&store->env_);
  if (rc != 0) return Status::Error(LmdbError("env create", rc));
  mdb_env_set_maxdbs(store->env_, 8);
  mdb_env_set_maxreaders(store->env_, 256);
  mdb_env_set_mapsize(store->env_, options.map_size);
  // MDB_NOTLS: a read transaction is not tied to its thread's slot, so any
  // thread may read at any time.
  unsigned flags = MDB_NOTLS;
  if (options.read_only) flags |= MDB_RDONLY | MDB_NOLOCK;
  rc = mdb_env_open(store->env_, options.dir.c_str(), flags, 0600);
  if (rc != 0) return Status::Error(LmdbError("open " + options.dir, rc));
  MDB_envinfo info;
  mdb_env_info(store->env_, &info);
  store->map_size_ = info.me_mapsize;  // an existing, larger store keeps its size

  if (Status s = CheckFormat(store->env_, options.dir); !s) return s;
  if (options.read_only) {
    if (Status s = store->OpenTablesToRead(); !s) return s;
  } else {
    if (Status s = store->OpenTables(); !s) return s;
    if (Status s = MarkCreated(options.dir); !s) return s;
  }
  if (Status s = store->LoadSnapshot(); !s) return s;
  return store;
}

Status VmStore::OpenTables() {
  return Write([&](MDB_txn* txn, Status*, std::vector<Change>*) {
    int rc = mdb_dbi_open(txn, "vms", MDB_CREATE, &vms_);
    if (rc == 0) rc = mdb_dbi_open(txn, "names", MDB_CREATE, &names_);
    if (rc == 0) rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &meta_);
    if (rc == 0) rc = mdb_dbi_open(txn, "stats", MDB_CREATE, &stats_);
    if (rc != 0) return rc;
    MDB_val k = Val("format"), v;
    if (mdb_get(txn, meta_, &k, &v) != MDB_NOTFOUND) return 0;
    // A new store: its marker, format and schema versions.
    std::string version = std::to_string(kStoreFormatVersion);
    std::string schema = std::to_string(kVmRecordSchemaVersion);
    v = Val(kStoreFormat);
    if ((rc = mdb_put(txn, meta_, &k, &v, 0)) != 0) return rc;
    k = Val("format_version");
    v = Val(version);
    if ((rc = mdb_put(txn, meta_, &k, &v, 0)) != 0) return rc;
    k = Val("schema_version");
    v = Val(schema);
    return mdb_put(txn, meta_, &k, &v, 0);
  });
}

Status VmStore::OpenTablesToRead() {
  // Handles opened in a transaction last beyond it only once it commits.
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn); rc != 0) {
    return Status::Error(LmdbError("read", rc));
  }
  for (auto [name, dbi] :
       {std::pair{"vms", &vms_}, {"names", &names_}, {"meta", &meta_}, {"stats", &stats_}}) {
    MDB_dbi opened = 0;
    if (int rc = mdb_dbi_open(txn, name, 0, &opened); rc != 0) {
      mdb_txn_abort(txn);
      return Status::Error(LmdbError(std::string("table ") + name + " in " + dir_, rc));
    }
    *dbi = opened;
  }
  if (int rc = mdb_txn_commit(txn); rc != 0) return Status::Error(LmdbError("read", rc));
  return Status::Ok();
}

Status VmStore::CopyTo(const std::string& dir) const {
  int rc = 0;
  {
    std::shared_lock txns(resize_mu_);  // mdb_env_copy2 runs a read transaction
    rc = mdb_env_copy2(env_, dir.c_str(), MDB_CP_COMPACT);
  }
  if (rc != 0) return Status::Error(LmdbError("copy to " + dir, rc));
  // LMDB writes the copy without syncing it, with the umask's mode.
  std::string data = dir + "/data.mdb";
  UniqueFd f(::open(data.c_str(), O_RDONLY | O_CLOEXEC));
  if (!f.valid() || ::fchmod(f.get(), 0600) != 0 || ::fsync(f.get()) != 0) {
    return Status::Error("store: copy " + data + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

Status VmStore::LoadSnapshot() {
  ReadTxn txn(env_);
  if (txn.rc() != 0) return Status::Error(LmdbError("read", txn.rc()));
  MDB_cursor* cur = nullptr;
  if (int rc = mdb_cursor_open(txn.get(), vms_, &cur); rc != 0) {
    return Status::Error(LmdbError("cursor", rc));
  }
  std::unique_lock cache(cache_mu_);
  MDB_val k, v;
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    std::string id(View(k));
    auto rec = DecodeVmRecord(View(v), id);
    if (!rec) {
      corrupt_[id] = rec.status().message();
      continue;
    }
    names_to_ids_[rec->name] = id;
    by_id_[id] = std::make_shared<const VmRecord>(std::move(rec.value()));
  }
  mdb_cursor_close(cur);
  if (int rc = mdb_cursor_open(txn.get(), stats_, &cur); rc != 0) {
    return Status::Error(LmdbError("cursor", rc));
  }
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    // Figures that do not decode are left out; the next publish replaces them.
    if (auto s = DecodeVmStats(View(v), View(k))) {
      stats_by_id_.emplace(std::string(View(k)), std::make_shared<const VmStats>(std::move(*s)));
    }
  }
  mdb_cursor_close(cur);
  return Status::Ok();
}

void VmStore::Apply(std::vector<Change>& changes) {
  // What the changes replace is freed after the lock is released: readers
  // never wait for destructors.
  std::vector<VmRecordPtr> replaced;
  std::vector<VmStatsPtr> replaced_stats;
  replaced.reserve(changes.size());
  std::unique_lock cache(cache_mu_);
  for (auto& c : changes) {
    if (c.stats) {
      auto it = stats_by_id_.find(c.id);
      if (it == stats_by_id_.end()) {
        stats_by_id_.emplace(std::move(c.id), std::move(c.stats));
      } else {
        replaced_stats.push_back(std::exchange(it->second, std::move(c.stats)));
      }
      continue;
    }
    if (!c.record) {
      if (auto s = stats_by_id_.find(c.id); s != stats_by_id_.end()) {
        replaced_stats.push_back(std::move(s->second));
        stats_by_id_.erase(s);
      }
    }
    if (!corrupt_.empty()) corrupt_.erase(c.id);
    auto old = by_id_.find(c.id);
    bool had = old != by_id_.end();
    // A kept name keeps its index entry (most writes: a state, a handle).
    bool same_name = had && c.record && old->second->name == c.record->name;
    if (had && !same_name) {
      auto n = names_to_ids_.find(old->second->name);
      if (n != names_to_ids_.end() && n->second == c.id) names_to_ids_.erase(n);
    }
    if (c.record) {
      if (!same_name) names_to_ids_[c.record->name] = c.id;
      if (had) {
        replaced.push_back(std::exchange(old->second, std::move(c.record)));
      } else {
        by_id_.emplace(c.id, std::move(c.record));
      }
    } else if (had) {
      replaced.push_back(std::move(old->second));
      by_id_.erase(old);
    }
  }
  cache.unlock();
}

std::string VmStore::CurrentName(MDB_txn* txn, const std::string& id) const {
  {
    std::shared_lock cache(cache_mu_);
    auto it = by_id_.find(id);
    if (it != by_id_.end()) return it->second->name;
    if (!corrupt_.count(id)) return "";
  }
  // A corrupt record's name field cannot be read: find it in the index.
  return NameOwnedBy(txn, names_, id);
}

std::optional<CorruptRecord> VmStore::FindCorrupt(const std::string& ref) const {
  if (ref.empty()) return std::nullopt;
  std::string id;
  {
    std::shared_lock cache(cache_mu_);
    auto it = corrupt_.lower_bound(ref);
    if (it != corrupt_.end() && it->first.compare(0, ref.size(), ref) == 0) {
      // The prefix must name this one record of all, readable ones included.
      auto next = std::next(it);
      bool unique = next == corrupt_.end() || next->first.compare(0, ref.size(), ref) != 0;
      auto good = by_id_.lower_bound(ref);
      unique = unique && (good == by_id_.end() || good->first.compare(0, ref.size(), ref) != 0);
      if (unique) return CorruptRecord{it->first, it->second, ""};
      return std::nullopt;
    }
  }
  // By name: a corrupt record's name is only in the names table.
  ReadTxn txn(env_);
  if (txn.rc() != 0) return std::nullopt;
  MDB_val k = Val(ref), v;
  if (mdb_get(txn.get(), names_, &k, &v) != 0) return std::nullopt;
  id = std::string(View(v));
  std::shared_lock cache(cache_mu_);
  auto it = corrupt_.find(id);
  if (it == corrupt_.end()) return std::nullopt;
  return CorruptRecord{id, it->second, ref};
}

Result<VmRecordPtr> VmStore::Lookup(std::string_view id) const {
  auto it = by_id_.find(id);
  if (it != by_id_.end()) return it->second;
  auto bad = corrupt_.find(id);
  if (bad != corrupt_.end()) {
    return Status::Corrupt(bad->second + "; `bangerctl vm show " + std::string(id) +
                           "` says what is known of it, `bangerctl vm rm --force " +
                           std::string(id) + "` removes it");
  }
  return Status::NotFound("no VM with id " + std::string(id));
}

VmStore::~VmStore() {
  {
    std::lock_guard lock(write_mu_);
    closing_ = true;
  }
  behind_cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  if (env_ != nullptr) {
    if (Status s = Flush(); !s) {
      std::fprintf(stderr, "store: changes written behind were lost at close: %s\n",
                   s.message().c_str());
    }
    mdb_env_close(env_);
  }
}

template <typename Body>
Status VmStore::Write(const Body& body, Sync sync, const std::function<void()>& committed) {
  std::lock_guard writer(write_mu_);
  // The flag is the environment's; writers are serialised, so it holds for
  // exactly this commit.
  if (sync == Sync::kDataOnly) mdb_env_set_flags(env_, MDB_NOMETASYNC, 1);
  struct Restore {
    MDB_env* env;
    bool on;
    ~Restore() {
      if (on) mdb_env_set_flags(env, MDB_NOMETASYNC, 0);
    }
  } restore{env_, sync == Sync::kDataOnly};
  for (int attempt = 0; attempt < 16; ++attempt) {
    int rc = 0;
    Status logical;
    std::vector<Change> changes;
    {
      std::shared_lock txns(resize_mu_);
      MDB_txn* txn = nullptr;
      rc = mdb_txn_begin(env_, nullptr, 0, &txn);
      if (rc != 0) return Status::Error(LmdbError("begin write", rc));
      rc = body(txn, &logical, &changes);
      if (rc != 0 || !logical.ok()) {
        mdb_txn_abort(txn);
      } else {
        rc = mdb_txn_commit(txn);  // frees txn, success or not
        if (rc == 0) {
          ++commits_;
          Apply(changes);  // still under write_mu_: the snapshot follows commit order
          if (committed) committed();
          return Status::Ok();
        }
      }
      if (!logical.ok()) return logical;
      if (rc != MDB_MAP_FULL) return Status::Error(LmdbError("write", rc));
    }
    // Full: grow the map (no transaction may be open while it changes) and
    // run the whole transaction again.
    std::unique_lock resize(resize_mu_);
    size_t grown = map_size_ * 2;
    rc = mdb_env_set_mapsize(env_, grown);
    if (rc != 0) return Status::Error(LmdbError("grow map to " + std::to_string(grown), rc));
    map_size_ = grown;
  }
  return Status::Error("store: still full after growing the map 16 times");
}

Result<VmRecordPtr> VmStore::Get(const std::string& id) const {
  std::shared_lock cache(cache_mu_);
  return Lookup(id);
}

Result<VmRecordPtr> VmStore::GetByName(const std::string& name) const {
  std::shared_lock cache(cache_mu_);
  auto it = names_to_ids_.find(name);
  if (it == names_to_ids_.end()) return Status::NotFound("no VM named '" + name + "'");
  return Lookup(it->second);
}

Result<VmRecordPtr> VmStore::Resolve(const std::string& ref) const {
  if (ref.empty()) return Status::Invalid("empty VM reference; give a name or an id");
  if (IsVmId(ref)) return Get(ref);
  std::shared_lock cache(cache_mu_);
  if (auto it = names_to_ids_.find(ref); it != names_to_ids_.end()) return Lookup(it->second);

  // An id prefix: every record or corrupt blob whose id starts with ref.
  std::vector<std::pair<std::string, std::string>> matches;  // id, name
  for (auto it = by_id_.lower_bound(ref);
       it != by_id_.end() && it->first.compare(0, ref.size(), ref) == 0; ++it) {
    matches.emplace_back(it->first, it->second->name);
  }
  for (auto it = corrupt_.lower_bound(ref);
       it != corrupt_.end() && it->first.compare(0, ref.size(), ref) == 0; ++it) {
    matches.emplace_back(it->first, "corrupt");
  }
  if (matches.empty()) {
    return Status::NotFound("no VM named '" + ref + "' or with an id starting '" + ref + "'");
  }
  if (matches.size() > 1) {
    std::sort(matches.begin(), matches.end());
    std::string list;
    for (const auto& [id, name] : matches) {
      list += (list.empty() ? "" : ", ") + id.substr(0, 12) + " (" + name + ")";
    }
    return Status::Conflict("'" + ref + "' is ambiguous: it starts the ids of " +
                            std::to_string(matches.size()) + " VMs: " + list +
                            "; give more of the id or the name");
  }
  return Lookup(matches.front().first);
}

VmListing VmStore::List() const {
  VmListing out;
  std::shared_lock cache(cache_mu_);
  out.records.reserve(by_id_.size());
  out.stats.reserve(by_id_.size());
  // Both maps are ordered by id: one walk pairs each record with its figures.
  auto s = stats_by_id_.begin();
  for (const auto& [id, rec] : by_id_) {
    out.records.push_back(rec);
    while (s != stats_by_id_.end() && s->first < id) ++s;
    out.stats.push_back(s != stats_by_id_.end() && s->first == id ? s->second : nullptr);
  }
  for (const auto& [id, error] : corrupt_) out.corrupt.push_back({id, error});
  return out;
}

Status VmStore::Upsert(const VmRecord& record) {
  return Write([&](MDB_txn* txn, Status* logical, std::vector<Change>* changes) {
    return PutRecord(txn, vms_, names_, std::make_shared<const VmRecord>(record),
                     CurrentName(txn, record.id), logical, changes);
  });
}

Status VmStore::UpsertMany(const std::vector<VmRecord>& records) {
  return Write([&](MDB_txn* txn, Status* logical, std::vector<Change>* changes) {
    // id -> name written, viewing `records` (which outlive the call).
    std::unordered_map<std::string_view, std::string_view> batch_names;
    batch_names.reserve(records.size());
    changes->reserve(records.size());
    for (const auto& r : records) {
      // An earlier record of this batch may have renamed or created r.id.
      auto earlier = batch_names.find(r.id);
      std::string old_name =
          earlier != batch_names.end() ? std::string(earlier->second) : CurrentName(txn, r.id);
      int rc = PutRecord(txn, vms_, names_, std::make_shared<const VmRecord>(r), old_name, logical,
                         changes);
      batch_names[r.id] = r.name;
      if (rc != 0 || !logical->ok()) return rc;
    }
    return 0;
  });
}

Status VmStore::Delete(const std::string& id) {
  return Write([&](MDB_txn* txn, Status*, std::vector<Change>* changes) {
    std::string name = CurrentName(txn, id);
    if (!name.empty()) {
      MDB_val nk = Val(name), nv;
      if (mdb_get(txn, names_, &nk, &nv) == 0 && View(nv) == id) {
        int rc = mdb_del(txn, names_, &nk, nullptr);
        if (rc != 0) return rc;
      }
    }
    MDB_val k = Val(id);
    int rc = mdb_del(txn, vms_, &k, nullptr);
    if (rc != 0 && rc != MDB_NOTFOUND) return rc;
    rc = mdb_del(txn, stats_, &k, nullptr);
    if (rc != 0 && rc != MDB_NOTFOUND) return rc;
    changes->push_back({id, nullptr, nullptr});
    return 0;
  });
}

Result<VmStore::BatchResult> VmStore::UpdateMany(const std::vector<std::string>& ids,
                                                 const Mutator& mutate, Sync sync) {
  std::vector<std::string_view> views(ids.begin(), ids.end());
  return UpdateMany(views, mutate, sync);
}

Result<VmStore::BatchResult> VmStore::UpdateMany(std::span<const std::string_view> ids,
                                                 const Mutator& mutate, Sync sync) {
  BatchResult result;
  Status s = Write(
      [&](MDB_txn* txn, Status* logical, std::vector<Change>* changes) {
        result = BatchResult{};  // the body may run again after the map grows
        for (const auto& id : ids) {
          // The snapshot is the committed state here (writers are serialised
          // and each applies its changes before the next begins) and what is
          // written behind (UpdateBehind), which this write then carries.
          Result<VmRecordPtr> current = [&] {
            std::shared_lock cache(cache_mu_);
            return Lookup(id);
          }();
          if (!current) {
            result.skipped.push_back(current.status().code() == StatusCode::kNotFound
                                         ? std::string(id) + ": no such VM"
                                         : current.status().message());
            continue;
          }
          if (changes->empty()) changes->reserve(ids.size());
          // One copy: it is changed, written, and becomes the snapshot.
          auto copy = std::make_shared<VmRecord>(**current);
          if (Status m = mutate(*copy); !m) {
            *logical = m;
            return 0;
          }
          int rc =
              PutRecord(txn, vms_, names_, std::move(copy), (*current)->name, logical, changes);
          if (rc != 0 || !logical->ok()) return rc;
          ++result.written;
        }
        BANGER_FAULT_POINT("store.stats.writing");  // inside the transaction
        return 0;
      },
      sync);
  if (!s) return s;
  BANGER_FAULT_POINT("store.stats.committed");
  return result;
}

Status VmStore::Update(const std::string& id, const Mutator& mutate, Sync sync) {
  auto r = UpdateMany({id}, mutate, sync);
  if (!r) return r.status();
  if (!r->skipped.empty()) {
    const std::string& why = r->skipped.front();
    return why.ends_with(": no such VM") ? Status::NotFound("no VM with id " + id)
                                         : Status::Error(why);
  }
  return Status::Ok();
}

Status VmStore::UpdateBehind(const std::string& id, const Mutator& mutate) {
  {
    std::lock_guard writer(write_mu_);
    Result<VmRecordPtr> current = [&] {
      std::shared_lock cache(cache_mu_);
      return Lookup(id);
    }();
    if (!current) return current.status();
    auto copy = std::make_shared<VmRecord>(**current);
    if (Status m = mutate(*copy); !m) return m;
    if (copy->name != (*current)->name || copy->id != id) {
      return Status::Invalid("store: a change written behind may not rename vm " + id);
    }
    std::vector<Change> changes{{id, std::move(copy), nullptr}};
    Apply(changes);
    behind_.insert(id);
    if (!flusher_.joinable()) {
      flusher_ = std::thread([this] {
        ::pthread_setname_np(::pthread_self(), "store-flush");  // not its starter's name
        FlushBehind();
      });
    }
  }
  behind_cv_.notify_all();
  return Status::Ok();
}

void VmStore::FlushBehind() {
  std::unique_lock lock(write_mu_);
  for (;;) {
    behind_cv_.wait(lock, [&] { return closing_ || !behind_.empty(); });
    if (closing_) return;  // the destructor flushes what is left
    // A moment for more to come: many starts' "running" in one commit.
    behind_cv_.wait_for(lock, write_behind_delay_, [&] { return closing_; });
    if (closing_) return;
    lock.unlock();
    Status s = Flush();
    lock.lock();
    if (!s) {
      std::fprintf(stderr, "store: flushing changes written behind: %s (retried)\n",
                   s.message().c_str());
      behind_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return closing_; });
    }
  }
}

Status VmStore::Flush() {
  {
    std::lock_guard writer(write_mu_);
    if (behind_.empty()) return Status::Ok();  // no commit (and no sync) for nothing
  }
  std::vector<std::string> written;
  return Write(
      [&](MDB_txn* txn, Status* logical, std::vector<Change>* changes) {
        written.clear();  // the body may run again after the map grows
        // Under write_mu_ (Write holds it): each record as it is now, which
        // holds its change written behind and whatever came after it.
        for (const auto& id : behind_) {
          Result<VmRecordPtr> current = [&] {
            std::shared_lock cache(cache_mu_);
            return Lookup(id);
          }();
          written.push_back(id);
          if (!current) continue;  // removed since: nothing to write
          int rc = PutRecord(txn, vms_, names_, *current, (*current)->name, logical, changes);
          if (rc != 0 || !logical->ok()) return rc;
        }
        return 0;
      },
      Sync::kDataOnly,
      [&] {
        for (const auto& id : written) behind_.erase(id);
      });
}

VmStatsPtr VmStore::Stats(std::string_view id) const {
  std::shared_lock cache(cache_mu_);
  auto it = stats_by_id_.find(id);
  return it == stats_by_id_.end() ? nullptr : it->second;
}

Result<VmStore::BatchResult> VmStore::UpdateStats(std::span<const std::string_view> ids,
                                                  const StatsMerger& merge, Sync sync) {
  BatchResult result;
  Status s = Write(
      [&](MDB_txn* txn, Status*, std::vector<Change>* changes) {
        result = BatchResult{};  // the body may run again after the map grows
        changes->reserve(ids.size());
        for (size_t i = 0; i < ids.size(); ++i) {
          std::string_view id = ids[i];
          VmStatsPtr current;
          {
            // The snapshot is the committed state here (writers are serialised).
            std::shared_lock cache(cache_mu_);
            if (!by_id_.contains(id)) {
              result.skipped.push_back(std::string(id) + (corrupt_.contains(id)
                                                              ? ": its record does not decode"
                                                              : ": no such VM"));
              continue;
            }
            auto it = stats_by_id_.find(id);
            if (it != stats_by_id_.end()) current = it->second;
          }
          auto next = current ? std::make_shared<VmStats>(*current) : std::make_shared<VmStats>();
          merge(i, *next);
          std::string_view blob = EncodeVmStatsView(*next);
          MDB_val key = Val(id), val = Val(blob);
          if (int rc = mdb_put(txn, stats_, &key, &val, 0); rc != 0) return rc;
          changes->push_back({std::string(id), nullptr, std::move(next)});
          ++result.written;
        }
        BANGER_FAULT_POINT("store.stats.writing");  // inside the transaction
        return 0;
      },
      sync);
  if (!s) return s;
  BANGER_FAULT_POINT("store.stats.committed");
  return result;
}

size_t VmStore::map_size() const {
  std::shared_lock txns(resize_mu_);
  return map_size_;
}

uint64_t VmStore::commits() const {
  return commits_.load();
}

}  // namespace banger::core
