// net/small_file.h: a file read whole, within its bound.

#include "net/small_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>

#include "temp_dir.h"

namespace dynamo::net {
namespace {

class SmallFileTest : public ::testing::Test {
  protected:
    std::string write(const std::string& name, const std::string& text) const {
        const std::string path = dir_ + "/" + name;
        std::ofstream(path, std::ios::binary) << text;
        return path;
    }
    test::TempDir temp_{"small_file"};
    const std::string dir_ = temp_.path();
};

TEST_F(SmallFileTest, ReadsAFileWhole) {
    const std::string text = "line one\nline two\n" + std::string(20000, 'x');
    const SmallFile file = readSmallFile(write("a", text), 1 << 20);
    ASSERT_EQ(file.status, SmallFile::Status::Read);
    EXPECT_EQ(file.text, text);
}

TEST_F(SmallFileTest, ReadsAnEmptyFile) {
    const SmallFile file = readSmallFile(write("empty", ""), 10);
    ASSERT_EQ(file.status, SmallFile::Status::Read);
    EXPECT_EQ(file.text, "");
}

TEST_F(SmallFileTest, TheBoundItselfIsReadOneByteMoreIsRefused) {
    const SmallFile exact = readSmallFile(write("exact", std::string(100, 'a')), 100);
    ASSERT_EQ(exact.status, SmallFile::Status::Read);
    EXPECT_EQ(exact.text.size(), 100u);
    const SmallFile over = readSmallFile(write("over", std::string(101, 'a')), 100);
    EXPECT_EQ(over.status, SmallFile::Status::TooLarge);
    EXPECT_TRUE(over.text.empty());
}

TEST_F(SmallFileTest, AFileThatReportsNoSizeIsReadToItsEnd) {
    // /proc files say 0 in stat(); the buffer grows as they are read.
    const SmallFile status = readSmallFile("/proc/self/status", 1 << 20);
    ASSERT_EQ(status.status, SmallFile::Status::Read);
    EXPECT_NE(status.text.find("VmRSS"), std::string::npos);
    EXPECT_EQ(readSmallFile("/proc/self/status", 100).status, SmallFile::Status::TooLarge);
}

TEST_F(SmallFileTest, MissingAndUnreadableAreToldApart) {
    const SmallFile missing = readSmallFile(dir_ + "/absent", 100);
    EXPECT_EQ(missing.status, SmallFile::Status::Missing);
    EXPECT_EQ(missing.error, ENOENT);
    const SmallFile directory = readSmallFile(dir_, 100);  // open() works, read() fails
    EXPECT_EQ(directory.status, SmallFile::Status::Failed);
    EXPECT_EQ(directory.error, EISDIR);
}

TEST_F(SmallFileTest, NoFollowRefusesASymbolicLink) {
    const std::string target = write("target", "secret");
    const std::string link = dir_ + "/link";
    ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
    EXPECT_EQ(readSmallFile(link, 100).text, "secret");
    const SmallFile refused = readSmallFile(link, 100, /*noFollow=*/true);
    EXPECT_EQ(refused.status, SmallFile::Status::Failed);
    EXPECT_EQ(refused.error, ELOOP);
}

}  // namespace
}  // namespace dynamo::net
