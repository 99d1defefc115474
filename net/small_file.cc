#include "net/small_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "net/handles.h"

namespace dynamo::net {
namespace {

void wipe(std::string& text) {
    ::explicit_bzero(text.data(), text.size());
    text.clear();
}

// A larger buffer with `used` bytes copied over, the old one wiped.
void grow(std::string& text, size_t used, size_t size) {
    std::string larger(size, '\0');
    std::memcpy(larger.data(), text.data(), used);
    wipe(text);
    text.swap(larger);
}

}  // namespace

SmallFile readSmallFile(const std::string& path, size_t maxBytes, bool noFollow) {
    SmallFile file;
    const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | (noFollow ? O_NOFOLLOW : 0)));
    if (!fd) {
        file.error = errno;
        file.status = errno == ENOENT ? SmallFile::Status::Missing : SmallFile::Status::Failed;
        return file;
    }
    // Room for the whole file as it is now and one byte more, to see it end (or pass the
    // bound): read once into place. A file that grows meanwhile, or reports no size (/proc),
    // gets a larger buffer.
    struct stat status {};
    const size_t reported = ::fstat(fd.get(), &status) == 0 && status.st_size > 0
                                ? static_cast<size_t>(status.st_size)
                                : 0;
    file.text.resize(std::min(reported, maxBytes) + 1);
    size_t used = 0;
    for (;;) {
        if (used == file.text.size()) {
            if (used > maxBytes)
                break;
            grow(file.text, used, std::min(std::max<size_t>(used * 2, 4096), maxBytes + 1));
        }
        const ssize_t n = ::read(fd.get(), file.text.data() + used, file.text.size() - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            file.error = errno;
            wipe(file.text);
            return file;
        }
        if (n == 0)
            break;
        used += static_cast<size_t>(n);
    }
    if (used > maxBytes) {
        wipe(file.text);
        file.status = SmallFile::Status::TooLarge;
        return file;
    }
    file.text.resize(used);
    file.status = SmallFile::Status::Read;
    return file;
}

}  // namespace dynamo::net
