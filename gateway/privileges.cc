#include "gateway/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace dynamo::gateway {
namespace {
bool lookUp(const std::string& user, uid_t* uid, gid_t* gid, std::string* error) {
    const passwd* entry = ::getpwnam(user.c_str());
    if (entry == nullptr) {
        *error = "run_as: no user '" + user + "'";
        return false;
    }
    *uid = entry->pw_uid;
    *gid = entry->pw_gid;
    return true;
}
}  // namespace

bool handOver(const std::string& path, const std::string& user, std::string* error) {
    if (::geteuid() != 0)
        return true;
    uid_t uid;
    gid_t gid;
    if (!lookUp(user, &uid, &gid, error))
        return false;
    if (::chown(path.c_str(), uid, gid) != 0) {
        *error = "state_dir " + path + ": chown to " + user + ": " + std::strerror(errno);
        return false;
    }
    std::error_code code;
    for (const auto& entry : std::filesystem::directory_iterator(path, code)) {
        // lchown: a link planted in the directory must not hand over what it points to.
        ::lchown(entry.path().c_str(), uid, gid);
    }
    return true;
}

bool dropPrivileges(const std::string& user, std::string* error) {
    uid_t uid;
    gid_t gid;
    if (!lookUp(user, &uid, &gid, error))
        return false;
    if (::setgroups(1, &gid) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) {
        *error = "cannot become '" + user + "': " + std::strerror(errno);
        return false;
    }
    if (uid != 0 && (::setuid(0) == 0 || ::seteuid(0) == 0)) {
        *error = "dropped to '" + user + "' but root could be regained; refusing to go on";
        return false;
    }
    return true;
}

}  // namespace dynamo::gateway
