#pragma once
// The daemon: one event_base, the DNS server, the signals. SIGHUP reloads (a bad new config is
// refused and the old one keeps serving); SIGTERM and SIGINT stop the loop cleanly.
// One thread, one event_base, no locks.

#include <memory>
#include <string>

#include "config/config.h"
#include "net/handles.h"
#include "resolver/dns_server.h"

namespace dynamo::gateway {

// Exit statuses: systemd's unit keeps a config error from becoming a restart loop
// (RestartPreventExitStatus=78).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;     // a port that cannot be bound, a runtime failure
inline constexpr int kExitUsage = 64;      // EX_USAGE: bad command line
inline constexpr int kExitConfig = 78;     // EX_CONFIG: the configuration is invalid

class Daemon {
public:
    Daemon(std::string configPath, config::Config config);
    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    // Binds every listener. False with *error (one line, naming the port) when one fails.
    bool start(std::string* error);
    // Runs until SIGTERM or SIGINT.
    void run();

private:
    static void onSignal(evutil_socket_t signal, short what, void* arg);
    void reload();

    std::string configPath_;
    config::Config config_;
    net::EventBasePtr base_;
    std::unique_ptr<resolver::DnsServer> dns_;
    net::EventPtr sigterm_, sigint_, sighup_;
};

}  // namespace dynamo::gateway
