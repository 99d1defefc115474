#include "net/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "net/error_text.h"
#include "net/handles.h"

namespace dynamo::net {
namespace {

bool writeAll(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

struct Owner {
    uid_t uid;
    gid_t gid;
};

bool writeAtomically(const std::string& dir, std::string_view name, std::string_view content,
                     mode_t mode, const Owner* owner, std::string* error) {
    const std::string path =
        (!dir.empty() && dir.back() == '/' ? dir : dir + "/") + std::string(name);
    const std::string temp = path + ".tmp";
    ::unlink(temp.c_str());  // a leftover of a crash, possibly with other permissions
    {
        UniqueFd fd(
            ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
        if (!fd) {
            *error = fileErrorText("cannot create", temp);
            return false;
        }
        // fchmod: the umask may have narrowed `mode`; it must be exactly what was asked.
        struct stat created {};
        if (owner != nullptr && (::fstat(fd.get(), &created) != 0 ||
                                 ((created.st_uid != owner->uid || created.st_gid != owner->gid) &&
                                  ::fchown(fd.get(), owner->uid, owner->gid) != 0))) {
            *error = fileErrorText("cannot give the owner " + std::to_string(owner->uid) + ":" +
                                       std::to_string(owner->gid) + " to",
                                   temp);
            ::unlink(temp.c_str());
            return false;
        }
        if (::fchmod(fd.get(), mode) != 0 || !writeAll(fd.get(), content) ||
            ::fsync(fd.get()) != 0 || ::close(fd.release()) != 0) {
            *error = fileErrorText("cannot write", temp);
            ::unlink(temp.c_str());
            return false;
        }
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        *error = fileErrorText("cannot rename onto", path);
        ::unlink(temp.c_str());
        return false;
    }
    UniqueFd directory(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!directory || ::fsync(directory.get()) != 0) {
        *error = fileErrorText("cannot sync directory", dir);
        return false;
    }
    return true;
}

}  // namespace

bool writeFileAtomically(const std::string& dir, std::string_view name, std::string_view content,
                         mode_t mode, std::string* error) {
    return writeAtomically(dir, name, content, mode, nullptr, error);
}

bool writeFileAtomically(const std::string& dir, std::string_view name, std::string_view content,
                         mode_t mode, uid_t owner, gid_t group, std::string* error) {
    const Owner wanted{owner, group};
    return writeAtomically(dir, name, content, mode, &wanted, error);
}

}  // namespace dynamo::net
