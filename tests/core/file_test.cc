#include "core/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

namespace autoseal {
namespace {

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("autoseal-file-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    ASSERT_TRUE(MakeDirectories(dir_.string()).has_value());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(FileTest, AtomicWriteCreatesFileWithMode) {
  auto path = (dir_ / "key.pem").string();
  ASSERT_TRUE(WriteFileAtomic(path, "secret", 0600, Overwrite::kNo).has_value());
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(*ReadFile(path), "secret");
}

TEST_F(FileTest, ATargetThatIsNotARegularFileIsWrittenInPlaceNotReplaced) {
  // What `-o /dev/null` or `-o /dev/stdout` meets: renaming over it would replace the node.
  auto fifo = (dir_ / "pipe").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);  // so the writer's open succeeds
  ASSERT_GE(reader, 0);
  ASSERT_TRUE(WriteFileAtomic(fifo, "through the pipe").has_value());
  char buf[64] = {};
  ssize_t n = ::read(reader, buf, sizeof buf);
  ::close(reader);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0), "through the pipe");
  struct stat st;
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO was replaced by a file";
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_), {}), 1);  // no temporaries
  EXPECT_FALSE(WriteFileAtomic(dir_.string(), "x").has_value());  // a directory is an error
}

TEST_F(FileTest, NoOverwriteKeepsExistingFileAndLeavesNoTemporaries) {
  auto path = (dir_ / "key.pem").string();
  ASSERT_TRUE(WriteFileAtomic(path, "first", 0600, Overwrite::kNo).has_value());
  auto second = WriteFileAtomic(path, "second", 0600, Overwrite::kNo);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(*ReadFile(path), "first");
  int files = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir_)) ++files;
  EXPECT_EQ(files, 1);
}

TEST_F(FileTest, OverwriteReplaces) {
  auto path = (dir_ / "a").string();
  ASSERT_TRUE(WriteFileAtomic(path, "1").has_value());
  ASSERT_TRUE(WriteFileAtomic(path, "2").has_value());
  EXPECT_EQ(*ReadFile(path), "2");
}

TEST_F(FileTest, ReadRefusesOversizedAndMissingFiles) {
  auto path = (dir_ / "big").string();
  ASSERT_TRUE(WriteFileAtomic(path, std::string(100, 'x')).has_value());
  EXPECT_FALSE(ReadFile(path, 99).has_value());
  auto missing = ReadFile((dir_ / "nope").string());
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

TEST_F(FileTest, UnwritableDirectoryIsAnError) {
  if (::geteuid() == 0) GTEST_SKIP() << "root can write anywhere";
  auto ro = (dir_ / "ro").string();
  ASSERT_TRUE(MakeDirectories(ro).has_value());
  ::chmod(ro.c_str(), 0500);
  EXPECT_FALSE(WriteFileAtomic(ro + "/x", "data").has_value());
}

}  // namespace
}  // namespace autoseal
