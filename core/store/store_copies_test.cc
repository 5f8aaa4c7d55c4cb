#include "core/store/store_copies.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "core/base/fault_point.h"

namespace banger::core {
namespace {

class StoreCopiesTest : public ::testing::Test {
 protected:
  StoreCopiesTest() {
    char tmpl[] = "/tmp/banger-copies-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    auto s = VmStore::Open({dir_ + "/store"});
    EXPECT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(s.value());
  }
  ~StoreCopiesTest() override { std::filesystem::remove_all(dir_); }

  void Add(const std::string& name) {
    VmRecord r;
    r.id = NewVmId();
    r.name = name;
    r.spec.kernel_image = "/k";
    r.spec.rootfs = "/r";
    ASSERT_TRUE(store_->Upsert(r).ok());
  }

  std::string dir_;
  std::unique_ptr<VmStore> store_;
};

TEST_F(StoreCopiesTest, ACopyHoldsEveryRecordAndReadsBackAlone) {
  for (int i = 0; i < 50; ++i) Add("vm-" + std::to_string(i));
  StoreCopies copies(dir_ + "/copies", 3);
  auto copy = copies.Take(*store_);
  ASSERT_TRUE(copy.ok()) << copy.status().message();
  auto checked = StoreCopies::Check(copy->dir);
  ASSERT_TRUE(checked.ok()) << checked.status().message();
  EXPECT_EQ(checked->records, 50u);
  EXPECT_EQ(checked->corrupt, 0u);
  struct stat st {};
  ASSERT_EQ(::stat((copy->dir + "/data.mdb").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "a copy holds what the store holds: owner only";
  // Read-only means read-only: checking a copy leaves nothing beside it.
  EXPECT_FALSE(std::filesystem::exists(copy->dir + "/lock.mdb"));
  // The store goes on after the copy; the copy does not.
  Add("after");
  EXPECT_EQ(StoreCopies::Check(copy->dir)->records, 50u);
}

TEST_F(StoreCopiesTest, TheNewestAreKeptNewestFirst) {
  StoreCopies copies(dir_ + "/copies", 2);
  std::vector<std::string> taken;
  for (int i = 0; i < 4; ++i) {
    Add("vm-" + std::to_string(i));
    auto copy = copies.Take(*store_);
    ASSERT_TRUE(copy.ok()) << copy.status().message();
    taken.push_back(copy->dir);
  }
  auto listed = copies.List();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].dir, taken[3]);
  EXPECT_EQ(listed[1].dir, taken[2]);
  EXPECT_EQ(StoreCopies::Check(listed[0].dir)->records, 4u);
  EXPECT_FALSE(std::filesystem::exists(taken[0]));
}

TEST_F(StoreCopiesTest, ADamagedCopyIsRefusedByItsCheck) {
  Add("web");
  StoreCopies copies(dir_ + "/copies", 3);
  auto copy = copies.Take(*store_);
  ASSERT_TRUE(copy.ok());
  std::filesystem::resize_file(copy->dir + "/data.mdb", 4096 + 100);
  auto checked = StoreCopies::Check(copy->dir);
  ASSERT_FALSE(checked.ok());
  EXPECT_NE(checked.status().message().find(copy->dir + "/data.mdb"), std::string::npos)
      << checked.status().message();
}

// A copy interrupted before its rename is never listed, and the next Take
// removes it.
TEST_F(StoreCopiesTest, AHalfMadeCopyIsNeverListedAndIsSweptByTheNext) {
#ifndef BANGER_FAULT_POINTS
  GTEST_SKIP() << "built without fault points (BANGER_FAULT_POINTS=OFF)";
#endif
  Add("web");
  StoreCopies copies(dir_ + "/copies", 3);
  struct Interrupted {};
  fault::Arm("store.copy.written", [] { throw Interrupted{}; });
  EXPECT_THROW((void)copies.Take(*store_), Interrupted);
  fault::Disarm("store.copy.written");
  EXPECT_TRUE(copies.List().empty());
  size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_ + "/copies")) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1u) << "the half-made copy is on disk";
  ASSERT_TRUE(copies.Take(*store_).ok());
  entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_ + "/copies")) {
    EXPECT_EQ(e.path().filename().string().find(".partial-"), std::string::npos);
    ++entries;
  }
  EXPECT_EQ(entries, 1u);
}

}  // namespace
}  // namespace banger::core
