#pragma once
// A small file read whole, refused past a bound: the configuration, the state files, PEM
// files. Every caller words its own errors; none reads an unbounded file into memory.

#include <cstddef>
#include <string>

namespace dynamo::net {

struct SmallFile {
    enum class Status { Read, Missing, TooLarge, Failed };
    Status status = Status::Failed;
    int error = 0;     // errno, when Missing (ENOENT) or Failed
    std::string text;  // the whole file, when Read
};

// `path` whole when it holds at most maxBytes. noFollow: a symbolic link is not followed
// (Failed, ELOOP). The text is read in place, never left behind in freed memory: a caller
// reading a secret (a private key) has exactly one copy to wipe, and none is left when the
// read fails.
SmallFile readSmallFile(const std::string& path, size_t maxBytes, bool noFollow = false);

}  // namespace dynamo::net
