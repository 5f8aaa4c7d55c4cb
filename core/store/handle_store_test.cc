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

}  // namespace
}  // namespace banger::core
