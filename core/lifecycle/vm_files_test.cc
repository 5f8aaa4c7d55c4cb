#include "core/lifecycle/vm_files.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

// The rootfs on another file system than the state dir: FICLONE and
// copy_file_range both refuse (EXDEV); the copy still happens, holes kept.
// The other file system is a tmpfs mounted in a mount namespace of this
// test's own, gone with the process.
TEST_F(VmFilesTest, CopyAcrossFileSystemsKeepsContentAndHoles) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: a mount namespace with a tmpfs";
  ASSERT_EQ(::unshare(CLONE_NEWNS), 0) << std::strerror(errno);
  ASSERT_EQ(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0);
  std::string other = dir_ + "/other-fs";
  std::filesystem::create_directory(other);
  ASSERT_EQ(::mount("banger-test", other.c_str(), "tmpfs", 0, "size=96m"), 0)
      << std::strerror(errno);
  std::string dst_dir = "/var/tmp/banger-files-xdev-" + std::to_string(::getpid());
  std::filesystem::create_directory(dst_dir);
  struct CleanUp {
    std::string mount, dir;
    ~CleanUp() {
      ::umount2(mount.c_str(), MNT_DETACH);
      std::filesystem::remove_all(dir);
    }
  } clean_up{other, dst_dir};
  struct stat a, b;
  ASSERT_EQ(::stat(other.c_str(), &a), 0);
  ASSERT_EQ(::stat(dst_dir.c_str(), &b), 0);
  ASSERT_NE(a.st_dev, b.st_dev) << "source and target must be on different file systems";

  std::string src = other + "/image", dst = dst_dir + "/overlay";
  int fd = ::open(src.c_str(), O_WRONLY | O_CREAT, 0644);
  std::string block(8192, 'x');
  ASSERT_EQ(::pwrite(fd, "head", 4, 0), 4);
  ASSERT_EQ(::pwrite(fd, block.data(), block.size(), 16 << 20), 8192);
  ASSERT_EQ(::pwrite(fd, "tail", 4, 64 << 20), 4);  // holes between
  ::close(fd);
  Status s = CopyOnWriteFile(src, dst);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(Read(src), Read(dst));
  struct stat st;
  ASSERT_EQ(::stat(dst.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, (64 << 20) + 4);
  EXPECT_LT(st.st_blocks * 512, 1 << 20) << "the holes were filled in";
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
