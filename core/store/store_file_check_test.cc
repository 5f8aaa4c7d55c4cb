// The store's answer to a damaged file: each kind of damage found in the
// field is refused with a message naming the file and what to do, never a
// crash (SIGBUS would end this test binary), never a store that silently
// lacks VMs.
#include "core/store/store_file_check.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <lmdb.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include "core/store/vm_store.h"

namespace banger::core {
namespace {

namespace fs = std::filesystem;

constexpr int kRecords = 3000;  // enough for branch pages in the vms table

class StoreFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/banger-storefile-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    std::string live = dir_ + "/live";
    {
      auto store = VmStore::Open({live});
      ASSERT_TRUE(store.ok()) << store.status().message();
      std::vector<VmRecord> records;
      for (int i = 0; i < kRecords; ++i) {
        VmRecord r;
        r.id = NewVmId();
        r.name = "vm-" + std::to_string(i);
        r.spec.kernel_image = "/var/lib/banger/images/vmlinux-6.1";
        r.spec.rootfs = "/var/lib/banger/images/debian-12.ext4";
        r.spec.boot_args = "console=ttyS0 reboot=k panic=1 pci=off";
        records.push_back(r);
      }
      ASSERT_TRUE((*store)->UpsertMany(records).ok());
    }
    // A compact copy: every page in it is reached from a root, so damage
    // anywhere past the meta pages is damage to live data.
    store_ = dir_ + "/store";
    fs::create_directory(store_);
    MDB_env* env;
    ASSERT_EQ(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 8);
    ASSERT_EQ(mdb_env_open(env, live.c_str(), MDB_RDONLY, 0600), 0);
    ASSERT_EQ(mdb_env_copy2(env, store_.c_str(), MDB_CP_COMPACT), 0);
    mdb_env_close(env);
    fs::copy_file(live + "/" + VmStore::kCreatedMarker, store_ + "/" + VmStore::kCreatedMarker);
    data_ = store_ + "/data.mdb";
    auto facts = CheckStoreFile(data_);
    ASSERT_TRUE(facts.ok()) << facts.status().message();
    facts_ = *facts;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Pages of the copy whose header flags are `flags` (2 leaf, 1 branch).
  std::vector<uint64_t> PagesWithFlags(uint16_t flags) {
    std::vector<uint64_t> out;
    int fd = ::open(data_.c_str(), O_RDONLY);
    std::vector<uint8_t> page(facts_.page_size);
    for (uint64_t p = 2; p * facts_.page_size < facts_.file_bytes; ++p) {
      if (::pread(fd, page.data(), page.size(), p * facts_.page_size) != ssize_t(page.size()))
        break;
      uint16_t f;
      std::memcpy(&f, &page[10], 2);
      if (f == flags) out.push_back(p);
    }
    ::close(fd);
    return out;
  }
  void Overwrite(off_t offset, const void* bytes, size_t n) {
    int fd = ::open(data_.c_str(), O_WRONLY);
    ASSERT_EQ(::pwrite(fd, bytes, n, offset), ssize_t(n));
    ::close(fd);
  }
  void Invert(off_t offset, size_t n) {
    int fd = ::open(data_.c_str(), O_RDWR);
    std::vector<uint8_t> b(n);
    ASSERT_EQ(::pread(fd, b.data(), n, offset), ssize_t(n));
    for (auto& c : b) c = ~c;
    ASSERT_EQ(::pwrite(fd, b.data(), n, offset), ssize_t(n));
    ::close(fd);
  }
  void TruncateTo(off_t size) { ASSERT_EQ(::truncate(data_.c_str(), size), 0); }

  // Opening is refused, and the message says which file, what, and where to read on.
  void ExpectRefused(const std::string& what) {
    auto store = VmStore::Open({store_});
    ASSERT_FALSE(store.ok()) << "a damaged store was opened (" << what << ")";
    const std::string& m = store.status().message();
    EXPECT_NE(m.find(data_), std::string::npos) << m;
    EXPECT_NE(m.find(what), std::string::npos) << m;
    EXPECT_NE(m.find("docs/OPERATIONS.md"), std::string::npos) << m;
    EXPECT_NE(m.find("nothing was changed"), std::string::npos) << m;
    EXPECT_NE(m.find("`bangerd --recover-store` rebuilds the store"), std::string::npos) << m;
  }

  std::string dir_, store_, data_;
  StoreFileFacts facts_;
};

TEST_F(StoreFileTest, AWholeStoreIsAcceptedAndCounted) {
  EXPECT_EQ(facts_.entries, 2u * kRecords + 3 + 4)  // vms, names, meta's 3 keys, 4 tables
      << "entries of every table and of the table of tables";
  auto store = VmStore::Open({store_});
  ASSERT_TRUE(store.ok()) << store.status().message();
  EXPECT_EQ((*store)->List().records.size(), size_t(kRecords));
}

// A store as it lives, not compacted: grown from a 1 MiB map, records larger
// than a page (overflow pages), rewritten and deleted (free pages, a free
// table with entries, pages past the file's end). Never refused.
TEST_F(StoreFileTest, ALiveStoreAfterGrowthRewritesAndDeletesIsAccepted) {
  std::string live = dir_ + "/grown";
  std::vector<std::string> ids;
  {
    auto store = VmStore::Open({live, 1 << 20});
    ASSERT_TRUE(store.ok()) << store.status().message();
    for (int round = 0; round < 4; ++round) {
      std::vector<VmRecord> batch;
      for (int i = 0; i < 500; ++i) {
        VmRecord r;
        r.id = NewVmId();
        r.name = "r" + std::to_string(round) + "-" + std::to_string(i);
        r.spec.boot_args = std::string(i % 50 == 0 ? 9000 : 100, 'a');  // some overflow pages
        batch.push_back(r);
        ids.push_back(r.id);
      }
      ASSERT_TRUE((*store)->UpsertMany(batch).ok());
    }
    for (size_t i = 0; i < ids.size(); i += 3) ASSERT_TRUE((*store)->Delete(ids[i]).ok());
    for (size_t i = 1; i < ids.size(); i += 7) {
      if (i % 3 == 0) continue;  // deleted above
      ASSERT_TRUE((*store)
                      ->Update(ids[i],
                               [](VmRecord& r) {
                                 r.last_error = std::string(5000, 'e');
                                 return Status::Ok();
                               })
                      .ok());
    }
  }
  auto facts = CheckStoreFile(live + "/data.mdb");
  ASSERT_TRUE(facts.ok()) << facts.status().message();
  auto reopened = VmStore::Open({live});
  ASSERT_TRUE(reopened.ok()) << reopened.status().message();
  EXPECT_EQ((*reopened)->List().records.size(), ids.size() - (ids.size() + 2) / 3);
}

TEST_F(StoreFileTest, AnEmptyFileOfACreatedStoreIsRefused) {
  TruncateTo(0);
  ExpectRefused("is empty (0 bytes), but a store was created here");
  EXPECT_EQ(fs::file_size(data_), 0u) << "left as it was";
}

TEST_F(StoreFileTest, AMissingFileOfACreatedStoreIsRefused) {
  fs::remove(data_);
  ExpectRefused("does not exist, but a store was created here");
  EXPECT_FALSE(fs::exists(data_));
}

TEST_F(StoreFileTest, AnEmptyFileWithVmDirectoriesIsRefusedEvenWithoutTheMarker) {
  TruncateTo(0);
  fs::remove(store_ + "/" + VmStore::kCreatedMarker);
  auto store = VmStore::Open({store_, 1 << 20, "30 VM directories under /var/lib/banger/vms"});
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("30 VM directories"), std::string::npos);
  // With nothing saying VMs existed, an empty file is a new store.
  auto fresh = VmStore::Open({store_});
  ASSERT_TRUE(fresh.ok()) << fresh.status().message();
  EXPECT_TRUE((*fresh)->List().records.empty());
}

TEST_F(StoreFileTest, AFileCutInHalfIsRefused) {
  TruncateTo(static_cast<off_t>(facts_.file_bytes / 2));
  ExpectRefused("the file was cut short");
}

TEST_F(StoreFileTest, AFileCutToItsMetaPagesIsRefused) {
  TruncateTo(2 * facts_.page_size);
  ExpectRefused("the file was cut short");
}

TEST_F(StoreFileTest, AFileShorterThanAMetaPageIsRefused) {
  TruncateTo(100);
  ExpectRefused("too short for meta page 0");
}

TEST_F(StoreFileTest, AFlippedMetaMagicIsRefused) {
  Invert(16, 4);
  ExpectRefused("meta page 0 is not an LMDB 0.9 meta page");
}

TEST_F(StoreFileTest, ABadRootPageIsRefused) {
  // The main table's root (meta + 16 + 72 + 40) in both meta pages.
  uint64_t nowhere = facts_.file_bytes / facts_.page_size + 1000;
  Overwrite(128, &nowhere, 8);
  Overwrite(facts_.page_size + 128, &nowhere, 8);
  ExpectRefused("past the end of the file");
}

TEST_F(StoreFileTest, ADamagedBranchPageIsRefused) {
  auto branches = PagesWithFlags(1);
  ASSERT_FALSE(branches.empty());
  Invert(static_cast<off_t>(branches.front() * facts_.page_size), 64);
  ExpectRefused("is damaged: page");
}

TEST_F(StoreFileTest, ADamagedLeafPageHeaderIsRefused) {
  auto leaves = PagesWithFlags(2);
  ASSERT_GT(leaves.size(), 10u);
  Invert(static_cast<off_t>(leaves[leaves.size() / 2] * facts_.page_size), 64);
  ExpectRefused("is damaged: page");
}

// The field's symptom: one slot of a leaf's pointer array copied from its
// neighbour. LMDB walks it without an error, one VM missing and one listed
// twice; the check sees the keys stop rising.
TEST_F(StoreFileTest, ALeafWithAPointerCopiedFromItsNeighbourIsRefused) {
  auto leaves = PagesWithFlags(2);
  ASSERT_GT(leaves.size(), 10u);
  off_t page = static_cast<off_t>(leaves[leaves.size() / 2] * facts_.page_size);
  uint16_t first;
  int fd = ::open(data_.c_str(), O_RDONLY);
  ASSERT_EQ(::pread(fd, &first, 2, page + 16), 2);
  ::close(fd);
  Overwrite(page + 18, &first, 2);
  ExpectRefused("does not sort after the one before it");
}

}  // namespace
}  // namespace banger::core
