#include "gateway/app/systemd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace dynamo::gateway {

SystemdNotifier::SystemdNotifier() {
    const char* socketPath = std::getenv("NOTIFY_SOCKET");
    if (socketPath != nullptr && (socketPath[0] == '/' || socketPath[0] == '@') &&
        std::strlen(socketPath) < sizeof(sockaddr_un::sun_path)) {
        path_ = socketPath;
        if (path_[0] == '@')
            path_[0] = '\0';  // abstract namespace
        fd_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    }
    const char* usec = std::getenv("WATCHDOG_USEC");
    const char* pid = std::getenv("WATCHDOG_PID");
    // WATCHDOG_PID, when set, names the process systemd watches; a child must not answer for it.
    const bool forUs = pid == nullptr || std::strtol(pid, nullptr, 10) == ::getpid();
    if (usec != nullptr && forUs) {
        const long long micros = std::strtoll(usec, nullptr, 10);
        if (micros > 0)
            watchdog_ = std::chrono::microseconds(micros / 2);
    }
}

bool SystemdNotifier::notify(std::string_view state) const {
    if (!enabled())
        return false;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path_.data(), path_.size());
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_.size());
    return ::sendto(fd_.get(), state.data(), state.size(), MSG_NOSIGNAL,
                    reinterpret_cast<const sockaddr*>(&address),
                    length) == static_cast<ssize_t>(state.size());
}

}  // namespace dynamo::gateway
