#include "core/store/vm_store.h"

#include <gtest/gtest.h>
#include <lmdb.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/store/handle_store.h"
#include "core/store/state_dir_lock.h"

namespace banger::core {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/banger-store-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string Id(char fill, int n) {
  std::string id(32, fill);
  std::string suffix = std::to_string(n);
  id.replace(32 - suffix.size(), suffix.size(), suffix);
  return id;
}

VmRecord Record(const std::string& id, const std::string& name) {
  VmRecord r;
  r.id = id;
  r.name = name;
  r.state = VmState::kStopped;
  r.spec.kernel_image = "/var/lib/banger/images/vmlinux";
  r.spec.rootfs = "/var/lib/banger/images/rootfs.ext4";
  r.runtime.api_socket = "/var/lib/banger/vms/" + id + "/firecracker.sock";
  return r;
}

// Writes a raw value into a DBI of a closed store (LMDB forbids a second
// environment handle on the same files in one process).
void RawPut(const std::string& dir, const char* dbi, const std::string& key,
            const std::string& value) {
  MDB_env* env;
  ASSERT_EQ(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 8);
  ASSERT_EQ(mdb_env_open(env, dir.c_str(), 0, 0600), 0);
  MDB_txn* txn;
  ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
  MDB_dbi d;
  ASSERT_EQ(mdb_dbi_open(txn, dbi, MDB_CREATE, &d), 0);
  MDB_val k{key.size(), const_cast<char*>(key.data())};
  MDB_val v{value.size(), const_cast<char*>(value.data())};
  ASSERT_EQ(mdb_put(txn, d, &k, &v, 0), 0);
  ASSERT_EQ(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

std::string FileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class VmStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen(size_t map_size = 64u << 20) {
    store_.reset();
    auto s = VmStore::Open({dir_.path() + "/store", map_size});
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(s.value());
  }
  std::string StoreDir() { return dir_.path() + "/store"; }

  TempDir dir_;
  std::unique_ptr<VmStore> store_;
};

TEST_F(VmStoreTest, UpsertGetByIdAndName) {
  VmRecord r = Record(Id('a', 1), "web-1");
  ASSERT_TRUE(store_->Upsert(r).ok());
  EXPECT_EQ((*store_->Get(r.id))->name, "web-1");
  EXPECT_EQ((*store_->GetByName("web-1"))->id, r.id);
  auto missing = store_->Get(Id('f', 9));
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetByName("nope").status().message(), "no VM named 'nope'");
}

TEST_F(VmStoreTest, NamesAreUniqueAndRenamesReleaseTheOldName) {
  ASSERT_TRUE(store_->Upsert(Record(Id('a', 1), "web-1")).ok());
  Status taken = store_->Upsert(Record(Id('b', 2), "web-1"));
  EXPECT_EQ(taken.code(), StatusCode::kConflict);
  EXPECT_EQ(taken.message(), "name 'web-1' is taken by vm aaaaaaaa");
  EXPECT_FALSE(store_->Get(Id('b', 2)).ok()) << "a refused upsert wrote the record";
  ASSERT_TRUE(store_->Upsert(Record(Id('a', 1), "web-2")).ok());  // rename
  EXPECT_TRUE(store_->Upsert(Record(Id('b', 2), "web-1")).ok());  // old name is free
  EXPECT_EQ((*store_->GetByName("web-2"))->id, Id('a', 1));
}

TEST_F(VmStoreTest, DeleteRemovesRecordAndName) {
  ASSERT_TRUE(store_->Upsert(Record(Id('a', 1), "web-1")).ok());
  ASSERT_TRUE(store_->Delete(Id('a', 1)).ok());
  EXPECT_FALSE(store_->Get(Id('a', 1)).ok());
  EXPECT_FALSE(store_->GetByName("web-1").ok());
  EXPECT_TRUE(store_->Delete(Id('a', 1)).ok());  // absent is fine
  EXPECT_TRUE(store_->Upsert(Record(Id('b', 2), "web-1")).ok());
}

TEST_F(VmStoreTest, ResolveByIdNamePrefixAndAmbiguity) {
  std::string a1 = "aaaa1111" + std::string(24, '0'), a2 = "aaaa2222" + std::string(24, '0');
  std::string b = "bbbb3333" + std::string(24, '0');
  ASSERT_TRUE(store_->Upsert(Record(a1, "web-1")).ok());
  ASSERT_TRUE(store_->Upsert(Record(a2, "web-2")).ok());
  ASSERT_TRUE(store_->Upsert(Record(b, "aaaa")).ok());  // a name that looks like a prefix
  EXPECT_EQ((*store_->Resolve(a1))->name, "web-1");
  EXPECT_EQ((*store_->Resolve("web-2"))->id, a2);
  EXPECT_EQ((*store_->Resolve("bbbb"))->id, b);
  EXPECT_EQ((*store_->Resolve("aaaa1"))->id, a1);
  EXPECT_EQ((*store_->Resolve("aaaa"))->id, b) << "a name wins over an id prefix";
  auto ambiguous = store_->Resolve("aaa");
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_EQ(ambiguous.status().code(), StatusCode::kConflict);
  EXPECT_EQ(ambiguous.status().message(),
            "'aaa' is ambiguous: it starts the ids of 2 VMs: aaaa11110000 (web-1), aaaa22220000 "
            "(web-2); give more of the id or the name");
  auto none = store_->Resolve("zz");
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Resolve("").status().code(), StatusCode::kInvalid);
}

TEST_F(VmStoreTest, CorruptRecordIsReportedAndNeverHidesTheOthers) {
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(store_->Upsert(Record(Id('a', i), "vm-" + std::to_string(i))).ok());
  store_.reset();
  RawPut(StoreDir(), "vms", Id('c', 7), std::string("\x81\xa2id\xc1garbage", 12));
  RawPut(StoreDir(), "names", "broken", Id('c', 7));
  Reopen();
  VmListing all = store_->List();
  EXPECT_EQ(all.records.size(), 3u);
  ASSERT_EQ(all.corrupt.size(), 1u);
  EXPECT_EQ(all.corrupt[0].id, Id('c', 7));
  EXPECT_NE(all.corrupt[0].error.find("vm record " + Id('c', 7)), std::string::npos);
  auto get = store_->Get(Id('c', 7));
  ASSERT_FALSE(get.ok());
  EXPECT_NE(get.status().message().find(Id('c', 7)), std::string::npos);
  // The blob is left as it was: nothing rewrites it behind the operator's back.
  EXPECT_EQ(store_->List().corrupt.size(), 1u);
  // It can be removed (its name is found without decoding it).
  ASSERT_TRUE(store_->Delete(Id('c', 7)).ok());
  EXPECT_TRUE(store_->List().corrupt.empty());
  EXPECT_TRUE(store_->Upsert(Record(Id('d', 1), "broken")).ok()) << "name not released";
}

TEST_F(VmStoreTest, UpdateManyIsOneTransaction) {
  std::vector<std::string> ids;
  for (int i = 0; i < 50; ++i) {
    ids.push_back(Id('a', i));
    ASSERT_TRUE(store_->Upsert(Record(ids.back(), "vm-" + std::to_string(i))).ok());
  }
  ids.push_back(Id('f', 1));  // missing: skipped, not fatal
  uint64_t before = store_->commits();
  auto r = store_->UpdateMany(ids, [](VmRecord& rec) {
    rec.last_touched_at_ms = 1234;
    return Status::Ok();
  });
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(store_->commits() - before, 1u);
  EXPECT_EQ(r->written, 50u);
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_EQ((*store_->Get(Id('a', 10)))->last_touched_at_ms, 1234);
}

TEST_F(VmStoreTest, FiguresAreOneTransactionAndLeaveTheRecordAlone) {
  std::vector<std::string> ids;
  for (int i = 0; i < 50; ++i) {
    ids.push_back(Id('a', i));
    ASSERT_TRUE(store_->Upsert(Record(ids.back(), "vm-" + std::to_string(i))).ok());
  }
  ids.push_back(Id('f', 1));  // no such VM: skipped, not fatal
  std::vector<std::string_view> views(ids.begin(), ids.end());
  VmRecordPtr before_record = *store_->Get(Id('a', 10));
  uint64_t before = store_->commits();
  auto r = store_->UpdateStats(views, [&](size_t i, VmStats& s) {
    EXPECT_TRUE(s.values.empty()) << "first publish starts empty";
    s.collected_at_ms = 1234;
    s.values = {{"cpu_percent", static_cast<double>(i)}};
  });
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(store_->commits() - before, 1u);
  EXPECT_EQ(r->written, 50u);
  EXPECT_EQ(r->skipped, (std::vector<std::string>{Id('f', 1) + ": no such VM"}));
  EXPECT_EQ(*store_->Get(Id('a', 10)), before_record) << "the record was rewritten";
  ASSERT_NE(store_->Stats(Id('a', 10)), nullptr);
  EXPECT_EQ(store_->Stats(Id('a', 10))->values[0].second, 10.0);
  EXPECT_EQ(store_->Stats(Id('f', 1)), nullptr);

  // The next publish merges into what is there; both survive a reopen.
  ASSERT_TRUE(store_
                  ->UpdateStats(std::vector<std::string_view>{ids[3]},
                                [](size_t, VmStats& s) {
                                  ASSERT_EQ(s.values.size(), 1u);
                                  s.values.emplace_back("rss_bytes", 4096);
                                })
                  .ok());
  Reopen();
  auto figures = store_->Stats(ids[3]);
  ASSERT_NE(figures, nullptr);
  EXPECT_EQ(figures->collected_at_ms, 1234);
  EXPECT_EQ(figures->values, (std::vector<std::pair<std::string_view, double>>{
                                 {"cpu_percent", 3}, {"rss_bytes", 4096}}));
  VmListing all = store_->List();
  ASSERT_EQ(all.stats.size(), all.records.size());
  for (size_t i = 0; i < all.records.size(); ++i) {
    ASSERT_NE(all.stats[i], nullptr) << all.records[i]->id;
  }
}

TEST_F(VmStoreTest, DeletingAVmDeletesItsFigures) {
  ASSERT_TRUE(store_->Upsert(Record(Id('a', 1), "one")).ok());
  std::string id = Id('a', 1);
  std::vector<std::string_view> ids{id};
  ASSERT_TRUE(store_->UpdateStats(ids,
                                  [](size_t, VmStats& s) {
                                    s.values = {{"cpu_percent", 1}};
                                  })
                  .ok());
  ASSERT_TRUE(store_->Delete(id).ok());
  EXPECT_EQ(store_->Stats(id), nullptr);
  // Re-created under the same id, it starts without the old figures.
  ASSERT_TRUE(store_->Upsert(Record(id, "one")).ok());
  Reopen();
  EXPECT_EQ(store_->Stats(id), nullptr);
}

TEST_F(VmStoreTest, FiguresThatDoNotDecodeAreLeftOutAndReplaced) {
  ASSERT_TRUE(store_->Upsert(Record(Id('a', 1), "one")).ok());
  store_.reset();
  RawPut(StoreDir(), "stats", Id('a', 1), "\xc1 not msgpack");
  Reopen();
  EXPECT_EQ(store_->Stats(Id('a', 1)), nullptr);
  EXPECT_TRUE(store_->Get(Id('a', 1)).ok()) << "bad figures hid the VM";
  std::string id = Id('a', 1);
  std::vector<std::string_view> ids{id};
  ASSERT_TRUE(store_->UpdateStats(ids,
                                  [](size_t, VmStats& s) {
                                    s.values = {{"cpu_percent", 2}};
                                  })
                  .ok());
  Reopen();
  ASSERT_NE(store_->Stats(id), nullptr);
  EXPECT_EQ(store_->Stats(id)->values[0].second, 2.0);
}

TEST_F(VmStoreTest, UpsertManyIsAllOrNothing) {
  ASSERT_TRUE(store_->Upsert(Record(Id('a', 1), "taken")).ok());
  uint64_t before = store_->commits();
  ASSERT_TRUE(store_->UpsertMany({Record(Id('b', 1), "b1"), Record(Id('b', 2), "b2")}).ok());
  EXPECT_EQ(store_->commits() - before, 1u);
  Status s = store_->UpsertMany({Record(Id('c', 1), "c1"), Record(Id('c', 2), "taken")});
  EXPECT_EQ(s.code(), StatusCode::kConflict);
  EXPECT_FALSE(store_->Get(Id('c', 1)).ok()) << "half a batch was written";
}

TEST_F(VmStoreTest, AMutatorErrorAbortsTheWholeBatch) {
  ASSERT_TRUE(store_->Upsert(Record(Id('a', 1), "one")).ok());
  ASSERT_TRUE(store_->Upsert(Record(Id('a', 2), "two")).ok());
  auto r = store_->UpdateMany({Id('a', 1), Id('a', 2)}, [](VmRecord& rec) {
    rec.last_error = "changed";
    return rec.name == "two" ? Status::Error("refused") : Status::Ok();
  });
  EXPECT_FALSE(r.ok());
  EXPECT_EQ((*store_->Get(Id('a', 1)))->last_error, "");
}

TEST_F(VmStoreTest, MapGrowsInsteadOfFailing) {
  Reopen(256u << 10);
  size_t initial = store_->map_size();
  for (int i = 0; i < 2000; ++i) {
    VmRecord r = Record(Id('e', i), "vm-" + std::to_string(i));
    r.last_error = std::string(1000, 'x');
    Status s = store_->Upsert(r);
    ASSERT_TRUE(s.ok()) << i << ": " << s.message();
  }
  EXPECT_GT(store_->map_size(), initial);
  EXPECT_EQ(store_->List().records.size(), 2000u);
}

TEST_F(VmStoreTest, ReadersDoNotWaitForAWriter) {
  ASSERT_TRUE(store_->Upsert(Record(Id('a', 1), "web-1")).ok());
  std::atomic<bool> writer_inside{false}, reader_done{false};
  std::thread writer([&] {
    store_->Update(Id('a', 1), [&](VmRecord& r) {
      writer_inside = true;
      // Hold the write transaction open until the reader has finished.
      while (!reader_done) std::this_thread::yield();
      r.last_error = "written";
      return Status::Ok();
    });
  });
  while (!writer_inside) std::this_thread::yield();
  auto r = store_->Get(Id('a', 1));  // would deadlock if reads waited for the writer
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->last_error, "");  // the reader sees the last committed state
  reader_done = true;
  writer.join();
  EXPECT_EQ((*store_->Get(Id('a', 1)))->last_error, "written");
}

TEST_F(VmStoreTest, ConcurrentReadersDuringWrites) {
  std::atomic<bool> done{false};
  std::atomic<int> errors{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      size_t last = 0;
      while (!done) {
        VmListing l = store_->List();
        if (!l.corrupt.empty() || l.records.size() < last) ++errors;
        last = l.records.size();
        for (const auto& r : l.records) {
          if (!store_->Get(r->id).ok()) ++errors;
        }
      }
    });
  }
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(store_->Upsert(Record(Id('a', i), "vm-" + std::to_string(i))).ok());
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(store_->List().records.size(), 300u);
}

TEST_F(VmStoreTest, FutureFormatIsRefusedAndLeftUntouched) {
  store_.reset();
  RawPut(StoreDir(), "meta", "format_version", "99");
  std::string before = FileBytes(StoreDir() + "/data.mdb");
  auto s = VmStore::Open({StoreDir(), 64u << 20});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "store " + StoreDir() +
                                      " was written in store format version '99'; this agent "
                                      "reads versions 1 to 1 (upgrade bangerd); refusing to "
                                      "touch it");
  EXPECT_EQ(FileBytes(StoreDir() + "/data.mdb"), before);
}

TEST_F(VmStoreTest, ForeignFormatMarkerIsRefused) {
  store_.reset();
  RawPut(StoreDir(), "meta", "format", "something-else");
  auto s = VmStore::Open({StoreDir(), 64u << 20});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("has format marker 'something-else'"), std::string::npos);
}

TEST_F(VmStoreTest, CommittedRecordsSurviveSigkill) {
  store_.reset();
  int acks[2];
  ASSERT_EQ(::pipe(acks), 0);
  pid_t child = ::fork();
  if (child == 0) {
    ::close(acks[0]);
    auto s = VmStore::Open({StoreDir(), 1u << 20});
    if (!s) ::_exit(3);
    for (int i = 0;; ++i) {
      if (!(*s)->Upsert(Record(Id('d', i), "vm-" + std::to_string(i)))) ::_exit(4);
      // Acknowledged only after Upsert returned: that is the durability promise.
      if (::write(acks[1], &i, sizeof i) != sizeof i) ::_exit(5);
    }
  }
  ::close(acks[1]);
  int acked = -1, n = 0;
  while (acked < 200 && ::read(acks[0], &n, sizeof n) == sizeof n) acked = n;
  ::kill(child, SIGKILL);  // mid-stream: it is writing the next records
  int status;
  ::waitpid(child, &status, 0);
  ::close(acks[0]);
  ASSERT_TRUE(WIFSIGNALED(status));
  Reopen();
  for (int i = 0; i <= acked; ++i) {
    auto r = store_->Get(Id('d', i));
    ASSERT_TRUE(r.ok()) << "acknowledged record " << i << " lost: " << r.status().message();
  }
  EXPECT_TRUE(store_->List().corrupt.empty());
}

// A change written behind is what reads see at once, reaches the disk with
// the background flush (one commit), and is carried by a later write of the
// same record; a kill before the flush leaves the record as it was.
TEST_F(VmStoreTest, AChangeWrittenBehindIsSeenAtOnceAndCommittedByTheFlush) {
  ASSERT_TRUE(store_->Upsert(Record(Id('a', 1), "web-1")).ok());
  const uint64_t before = store_->commits();
  auto running = [](VmRecord& r) {
    r.state = VmState::kRunning;
    r.runtime.pid = 4242;
    return Status::Ok();
  };
  ASSERT_TRUE(store_->UpdateBehind(Id('a', 1), running).ok());
  EXPECT_EQ((*store_->Get(Id('a', 1)))->state, VmState::kRunning) << "not seen at once";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (store_->commits() == before && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_EQ(store_->commits(), before + 1) << "not flushed in one commit";
  EXPECT_TRUE(store_->Flush().ok());
  EXPECT_EQ(store_->commits(), before + 1) << "a flush with nothing waiting committed";
  Reopen();
  EXPECT_EQ((*store_->Get(Id('a', 1)))->runtime.pid, 4242) << "the flush did not reach the disk";
  // Renames are not written behind.
  Status renamed = store_->UpdateBehind(Id('a', 1), [](VmRecord& r) {
    r.name = "other";
    return Status::Ok();
  });
  EXPECT_EQ(renamed.code(), StatusCode::kInvalid);
  EXPECT_EQ(store_->UpdateBehind(Id('f', 9), running).code(), StatusCode::kNotFound);
  // Closing the store flushes what waits.
  ASSERT_TRUE(store_
                  ->UpdateBehind(Id('a', 1),
                                 [](VmRecord& r) {
                                   r.runtime.pid = 7;
                                   return Status::Ok();
                                 })
                  .ok());
  Reopen();
  EXPECT_EQ((*store_->Get(Id('a', 1)))->runtime.pid, 7) << "not flushed at close";
}

TEST_F(VmStoreTest, AChangeWrittenBehindAndNotFlushedIsLostToAKillNotTheRecord) {
  ASSERT_TRUE(store_->Upsert(Record(Id('a', 1), "web-1")).ok());
  store_.reset();
  pid_t child = ::fork();
  if (child == 0) {
    VmStore::Options options{StoreDir()};
    options.write_behind_delay = std::chrono::minutes(1);  // no flush before the kill
    auto s = VmStore::Open(options);
    if (!s) ::_exit(3);
    if (!(*s)->UpdateBehind(Id('a', 1), [](VmRecord& r) {
          r.state = VmState::kRunning;
          return Status::Ok();
        }))
      ::_exit(4);
    ::kill(::getpid(), SIGKILL);  // before the flush
    ::_exit(5);
  }
  int status;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  Reopen();
  auto r = store_->Get(Id('a', 1));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)->state, VmState::kStopped) << "the record is as it was before";
  EXPECT_TRUE(store_->List().corrupt.empty());
}

TEST(StateDirLockTest, SecondHolderIsRefusedNamingFileAndPid) {
  TempDir dir;
  auto first = StateDirLock::Acquire(dir.path());
  ASSERT_TRUE(first.ok()) << first.status().message();
  auto second = StateDirLock::Acquire(dir.path());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().message(),
            "state dir " + dir.path() + " is in use by another agent: lock file " + dir.path() +
                "/bangerd.lock is held by pid " + std::to_string(::getpid()));
  first->reset();
  EXPECT_TRUE(StateDirLock::Acquire(dir.path()).ok()) << "lock not released";
}

TEST_F(VmStoreTest, HandlesWriteThroughAndSurviveAReopen) {
  ASSERT_TRUE(store_->Upsert(Record(Id('a', 1), "web-1")).ok());
  {
    HandleStore handles(*store_);
    ASSERT_TRUE(handles.Set(Id('a', 1), "tap", "tap_name", "bt3").ok());
    ASSERT_TRUE(handles.Set(Id('a', 1), "tap", "guest_ip", "172.16.0.14").ok());
    EXPECT_EQ(*handles.Get(Id('a', 1), "tap", "tap_name"), "bt3");
    auto none = handles.Get(Id('a', 1), "nat", "rule");
    EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
    EXPECT_EQ(none.status().message(),
              "no handle nat.rule for vm \"web-1\" (handle cache empty, record has none)");
    EXPECT_EQ(handles.Set(Id('f', 1), "tap", "x", "y").code(), StatusCode::kNotFound);
  }
  Reopen();  // a new agent: empty cache, the record remembers
  HandleStore handles(*store_);
  EXPECT_EQ(*handles.Get(Id('a', 1), "tap", "guest_ip"), "172.16.0.14");
  ASSERT_TRUE(handles.Clear(Id('a', 1), "tap", "tap_name").ok());
  EXPECT_FALSE(handles.Get(Id('a', 1), "tap", "tap_name").ok());
  ASSERT_TRUE(handles.Clear(Id('a', 1), "tap", "").ok());
  handles.ForgetAll();
  EXPECT_FALSE(handles.Get(Id('a', 1), "tap", "guest_ip").ok());
  EXPECT_TRUE((*store_->Get(Id('a', 1)))->handles.empty());
  EXPECT_TRUE(handles.Clear(Id('f', 1), "tap", "").ok()) << "clearing a gone VM is OK";
}

}  // namespace
}  // namespace banger::core
