#include "gateway/app/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <vector>

#include "gateway/http/tls_server.h"
#include "gateway/updates/state_store.h"

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

bool isDaemonFile(const std::string& name) {
    const std::string state(StateStore::kFileName);
    for (const std::string& own :
         {state, std::string(kSelfSignedCertFile), std::string(kSelfSignedKeyFile)}) {
        if (name == own || name == own + ".tmp")
            return true;
    }
    // A damaged state file moved aside, or the original of a partly damaged one (StateStore::load).
    return name.starts_with(state + ".corrupt-") || name.starts_with(state + ".damaged-");
}

bool checkStateDirOwner(const std::string& path, const std::string& user, std::string* error) {
    if (::geteuid() != 0)
        return true;
    uid_t uid;
    gid_t gid;
    if (!lookUp(user, &uid, &gid, error))
        return false;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        *error = "state_dir " + path + ": " + std::strerror(errno);
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        *error = "state_dir " + path + ": not a directory";
        return false;
    }
    if (st.st_uid != 0 && st.st_uid != uid) {
        *error = "state_dir " + path + ": owned by uid " + std::to_string(st.st_uid) +
                 ", neither root nor run_as " + user + "; refusing to use it";
        return false;
    }
    return true;
}

bool handOver(const std::string& path, bool created, const std::string& user, std::string* error) {
    if (::geteuid() != 0)
        return true;
    uid_t uid;
    gid_t gid;
    if (!lookUp(user, &uid, &gid, error))
        return false;
    std::error_code code;
    bool onlyOurs = true;
    std::vector<std::filesystem::path> ours;
    for (const auto& entry : std::filesystem::directory_iterator(path, code)) {
        if (isDaemonFile(entry.path().filename().string()))
            ours.push_back(entry.path());
        else
            onlyOurs = false;
    }
    if (code) {
        *error = "state_dir " + path + ": " + code.message();
        return false;
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        *error = "state_dir " + path + ": " + std::strerror(errno);
        return false;
    }
    if (st.st_uid != uid) {
        if (!created && !onlyOurs) {
            *error = "state_dir " + path +
                     " is root's and holds files that are not the "
                     "daemon's: it is not handed to run_as " +
                     user + " (who could not write in it); give the daemon a directory of its own";
            return false;
        }
        if (::chown(path.c_str(), uid, gid) != 0) {
            *error = "state_dir " + path + ": chown to " + user + ": " + std::strerror(errno);
            return false;
        }
    }
    for (const auto& file : ours) {
        // lchown: a link planted in the directory must not hand over what it points to.
        if (::lchown(file.c_str(), uid, gid) != 0) {
            *error = file.string() + ": chown to " + user + ": " + std::strerror(errno);
            return false;
        }
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
