#pragma once
// The sd_notify(3) protocol, written directly: one datagram of "KEY=VALUE" lines to the
// AF_UNIX socket named by $NOTIFY_SOCKET. Twenty lines instead of a dependency on libsystemd,
// and the daemon runs the same outside systemd (no socket: every call does nothing).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "net/handles.h"

namespace dynamo::gateway {

class SystemdNotifier {
  public:
    // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID. Without NOTIFY_SOCKET, disabled.
    SystemdNotifier();

    bool enabled() const { return fd_.get() >= 0; }
    // "READY=1", "STATUS=…", "WATCHDOG=1", "RELOADING=1", "STOPPING=1"; several joined by '\n'.
    bool notify(std::string_view state) const;
    // How often to send WATCHDOG=1: half of WATCHDOG_USEC, as sd_watchdog_enabled(3) advises;
    // nullopt when systemd does not watch this process.
    std::optional<std::chrono::microseconds> watchdogInterval() const { return watchdog_; }

  private:
    net::UniqueFd fd_;
    std::string path_;  // '@' already turned into the abstract namespace's leading NUL
    std::optional<std::chrono::microseconds> watchdog_;
};

}  // namespace dynamo::gateway
