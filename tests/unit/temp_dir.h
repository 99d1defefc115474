#pragma once
// A directory of the test's own under the test temp dir, removed with everything in it (its
// permissions restored first, for tests that take them away) when the test ends.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace dynamo::test {

class TempDir {
  public:
    explicit TempDir(const std::string& prefix) {
        std::string pattern = ::testing::TempDir() + prefix + "_XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr)
            ADD_FAILURE() << "mkdtemp " << pattern;
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::permissions(path_, std::filesystem::perms::owner_all, ignored);
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

}  // namespace dynamo::test
