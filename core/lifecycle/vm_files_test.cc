#include "core/lifecycle/vm_files.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace banger::core {
namespace {

class VmFilesTest : public ::testing::Test {
 protected:
  VmFilesTest() {
    char tmpl[] = "/tmp/banger-files-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  ~VmFilesTest() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST_F(VmFilesTest, CopyKeepsContentAndHoles) {
  std::string src = dir_ + "/image", dst = dir_ + "/overlay";
  int fd = ::open(src.c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_EQ(::pwrite(fd, "head", 4, 0), 4);
  ASSERT_EQ(::pwrite(fd, "tail", 4, 64 << 20), 4);  // 64 MiB of hole between
  ::close(fd);
  ASSERT_TRUE(CopyOnWriteFile(src, dst).ok());
  EXPECT_EQ(Read(src), Read(dst));
  struct stat st;
  ASSERT_EQ(::stat(dst.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, (64 << 20) + 4);
  EXPECT_LT(st.st_blocks * 512, 1 << 20) << "the hole was filled in";
}

TEST_F(VmFilesTest, CopyRefusesAnExistingTargetAndAMissingSource) {
  std::string src = dir_ + "/image";
  std::ofstream(src) << "x";
  std::ofstream(dir_ + "/taken") << "y";
  EXPECT_FALSE(CopyOnWriteFile(src, dir_ + "/taken").ok());
  EXPECT_EQ(Read(dir_ + "/taken"), "y");
  Status missing = CopyOnWriteFile(dir_ + "/nope", dir_ + "/out");
  EXPECT_EQ(missing.code(), StatusCode::kInvalid);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/out"));
}

TEST_F(VmFilesTest, LayoutHasASparseWorkDiskAndIsRemovedWhole) {
  std::ofstream(dir_ + "/rootfs") << std::string(4096, 'r');
  VmPaths p = VmPathsFor(dir_, "0123456789abcdef0123456789abcdef");
  ASSERT_TRUE(CreateVmFiles(p, dir_ + "/rootfs", 1ull << 30).ok());
  struct stat st;
  ASSERT_EQ(::stat(p.work_disk_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 1ll << 30);
  EXPECT_EQ(st.st_blocks, 0);
  ASSERT_EQ(::stat(p.dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_TRUE(RemoveVmFiles(p).ok());
  EXPECT_FALSE(std::filesystem::exists(p.dir));
}

TEST_F(VmFilesTest, AStateDirTooDeepForSocketsIsRefused) {
  std::string deep = dir_ + "/" + std::string(100, 'd');
  VmPaths p = VmPathsFor(deep, "0123456789abcdef0123456789abcdef");
  Status s = CreateVmFiles(p, dir_ + "/rootfs", 0);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("the state dir's path is too long"), std::string::npos);
}

}  // namespace
}  // namespace banger::core
