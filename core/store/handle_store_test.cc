#include "core/store/handle_store.h"

#include "core/base/fault_point.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

namespace banger::core {
namespace {

class HandleStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/banger-handles-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    auto store = VmStore::Open({dir_ + "/store"});
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(store.value());
    VmRecord r;
    r.id = std::string(32, 'a');
    r.name = "web";
    ASSERT_TRUE(store_->Upsert(r).ok());
    handles_ = std::make_unique<HandleStore>(*store_);
  }
  void TearDown() override {
    handles_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  // What a start or a stop does with what it held: written with the
  // record, in one commit, then released.
  void WriteHeld() {
    ASSERT_TRUE(store_
                    ->Update(id_,
                             [&](VmRecord& r) {
                               handles_->ApplyHeld(id_, r);
                               return Status::Ok();
                             })
                    .ok());
    handles_->Release(id_, /*written=*/true);
  }
  const std::string id_ = std::string(32, 'a');
  std::string dir_;
  std::unique_ptr<VmStore> store_;
  std::unique_ptr<HandleStore> handles_;
};

TEST_F(HandleStoreTest, GetFallsBackToTheRecordAndSaysWhatItConsulted) {
  ASSERT_TRUE(handles_->Set(id_, "tap", "tap_name", "bt3").ok());
  handles_->ForgetAll();  // as after a restart
  EXPECT_EQ(*handles_->Get(id_, "tap", "tap_name"), "bt3");
  auto missing = handles_->Get(id_, "tap", "guest_ip");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("record has none"), std::string::npos);
}

// A Get that misses the cache reads the record, then fills the cache from
// it. A Clear landing in between must not have its handle put back by that
// fill: once Clear has returned, Get answers NotFound. The fault point holds
// the reader at that instant while the Clear runs.
TEST_F(HandleStoreTest, AClearBetweenAGetsReadAndItsFillStaysCleared) {
#ifndef BANGER_FAULT_POINTS
  GTEST_SKIP() << "built without fault points (BANGER_FAULT_POINTS=OFF)";
#endif
  ASSERT_TRUE(handles_->Set(id_, "tap", "tap_name", "bt3").ok());
  handles_->ForgetAll();  // the next Get reads the record
  bool cleared = false;
  fault::Arm("handle_store.get.record_read", [&] {
    if (cleared) return;
    cleared = true;
    ASSERT_TRUE(handles_->Clear(id_, "tap", "tap_name").ok());
  });
  (void)handles_->Get(id_, "tap", "guest_ip");  // reads the record, then the Clear lands
  fault::Disarm("handle_store.get.record_read");
  ASSERT_TRUE(cleared);
  auto after = handles_->Get(id_, "tap", "tap_name");
  EXPECT_FALSE(after.ok()) << "the cleared handle came back: " << after.value();
  EXPECT_TRUE((*store_->Get(id_))->handles.empty());
}

// The same race left to the scheduler, for the thread sanitizer's eyes: a
// reader that always misses keeps filling while another thread sets and
// clears.
TEST_F(HandleStoreTest, ReadersAndClearsInParallelLeaveNothingCleared) {
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop) (void)handles_->Get(id_, "tap", "never-set");
  });
  int resurrected = 0;
  for (int round = 0; round < 200; ++round) {
    ASSERT_TRUE(handles_->Set(id_, "tap", "tap_name", "bt" + std::to_string(round)).ok());
    ASSERT_TRUE(handles_->Clear(id_, "tap", "tap_name").ok());
    if (handles_->Get(id_, "tap", "tap_name").ok()) ++resurrected;
  }
  stop = true;
  reader.join();
  EXPECT_EQ(resurrected, 0) << "a cleared handle was served again after Clear returned";
}

// A start's reservation: its handles are seen at once, written only into
// the record the caller commits, and forgotten when that commit did not land.
TEST_F(HandleStoreTest, HeldHandlesAreSeenAtOnceAndWrittenOnlyWithTheCallersRecord) {
  const uint64_t before = store_->commits();
  handles_->Hold(id_);
  ASSERT_TRUE(handles_->SetMany(id_, "tap", {{"slot", "3"}, {"tap_name", "bt3"}}).ok());
  ASSERT_TRUE(handles_->Set(id_, "nat", "guest_ip", "10.0.0.14").ok());
  ASSERT_TRUE(handles_->Clear(id_, "nat", "").ok());
  ASSERT_TRUE(handles_->Set(id_, "nat", "tap_name", "bt3").ok());
  EXPECT_EQ(store_->commits(), before) << "a held handle was committed on its own";
  EXPECT_EQ(*handles_->Get(id_, "tap", "tap_name"), "bt3");
  EXPECT_FALSE(handles_->Get(id_, "nat", "guest_ip").ok()) << "a held clear was not seen";
  WriteHeld();
  EXPECT_EQ(store_->commits(), before + 1);
  auto rec = *store_->Get(id_);
  EXPECT_EQ(rec->handles.at("tap").at("slot"), "3");
  EXPECT_EQ(rec->handles.at("nat").size(), 1u);
  EXPECT_EQ(rec->handles.at("nat").at("tap_name"), "bt3");
  // Released: writes commit again.
  ASSERT_TRUE(handles_->Set(id_, "tap", "host_ip", "10.0.0.13").ok());
  EXPECT_EQ(store_->commits(), before + 2);
}

// A stop's cleanup clears handles under a hold; a reader (another thread's
// handle_get, the cache having been dropped) must not bring them back from
// the record, which still has them until "stopped" is written.
TEST_F(HandleStoreTest, AHeldClearIsNotUndoneByAReadOfTheRecord) {
  ASSERT_TRUE(handles_->SetMany(id_, "nat", {{"guest_ip", "10.0.0.2"}, {"tap_name", "bt0"}}).ok());
  handles_->ForgetAll();
  handles_->Hold(id_);
  ASSERT_TRUE(handles_->Clear(id_, "nat", "").ok());
  EXPECT_FALSE(handles_->Get(id_, "nat", "guest_ip").ok()) << "a held clear read back";
  EXPECT_FALSE(handles_->Get(id_, "nat", "tap_name").ok());
  WriteHeld();
  EXPECT_FALSE(handles_->Get(id_, "nat", "guest_ip").ok()) << "the cache kept a cleared handle";
  EXPECT_TRUE((*store_->Get(id_))->handles.empty());
}

TEST_F(HandleStoreTest, HeldHandlesWhoseCommitFailedAreForgotten) {
  ASSERT_TRUE(handles_->Set(id_, "tap", "slot", "1").ok());
  handles_->Hold(id_);
  ASSERT_TRUE(handles_->Set(id_, "tap", "slot", "5").ok());
  EXPECT_EQ(*handles_->Get(id_, "tap", "slot"), "5");
  handles_->Release(id_, /*written=*/false);  // the start's record was never written
  EXPECT_EQ(*handles_->Get(id_, "tap", "slot"), "1") << "the cache kept what was never written";
  EXPECT_EQ((*store_->Get(id_))->handles.at("tap").at("slot"), "1");
}

}  // namespace
}  // namespace banger::core
