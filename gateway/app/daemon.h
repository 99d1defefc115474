#pragma once
// The daemon: one event_base holding the DNS server, the HTTP(S) listeners, the update
// scheduler and the token-API client. SIGHUP reloads (a bad new config is refused and the old
// one keeps serving); SIGTERM and SIGINT stop the loop cleanly.
// One thread, one event_base, no locks.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "gateway/address/public_address_monitor.h"
#include "gateway/alerts/alert_dispatcher.h"
#include "gateway/app/systemd_notify.h"
#include "gateway/devices/device_recorder.h"
#include "gateway/http/http_server.h"
#include "gateway/http/update_endpoint.h"
#include "gateway/setup/setup_service.h"
#include "gateway/status/minute_series.h"
#include "gateway/status/status_report.h"
#include "gateway/updates/address_history.h"
#include "gateway/updates/token_api.h"
#include "gateway/updates/update_scheduler.h"
#include "net/handles.h"
#include "resolver/dns_server.h"

namespace dynamo::gateway {

// Exit statuses: systemd's unit keeps a config error from becoming a restart loop
// (RestartPreventExitStatus=78).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // a port that cannot be bound, a runtime failure
inline constexpr int kExitUsage = 64;   // EX_USAGE: bad command line
inline constexpr int kExitConfig = 78;  // EX_CONFIG: the configuration is invalid

// The token-API client of the current configuration. Every reload makes a new client (from
// dynamo.* and dns.upstreams); the old one finishes the calls it carries and is then dropped.
class SwappableTokenApi final : public TokenApi {
  public:
    void replace(std::unique_ptr<TokenApi> next);
    void update(const std::string& token, const std::optional<net::IpAddress>& ip,
                Done done) override;

  private:
    struct Slot {
        std::unique_ptr<TokenApi> api;
        size_t inFlight = 0;
    };
    // Idle retired clients go here, never inside a callback of theirs.
    void dropIdleRetired();

    std::shared_ptr<Slot> current_;
    std::vector<std::shared_ptr<Slot>> retired_;
};

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
    static void onSchedulerTimer(evutil_socket_t, short, void* arg);
    static void onHeartbeat(evutil_socket_t, short, void* arg);
    bool dropRoot(std::string* error);
    std::string statusLine() const;
    // False when the new file was refused (the old configuration keeps running).
    bool reload();
    bool reloadConfig();
    // Puts the running values of the keys applied at start only into next; names the changed.
    std::vector<std::string_view> keepStartOnlyKeys(config::Config& next) const;
    void route(const std::shared_ptr<HttpExchange>& exchange);
    bool serveStatus(const std::shared_ptr<HttpExchange>& exchange);
    bool serveDevices(const std::shared_ptr<HttpExchange>& exchange);
    StatusReport statusReport() const;
    void armSchedulerTimer();
    void forgetCachedNames(const config::Account& account);
    // Tells the resolver each account's newest accepted address and update sources.
    void refreshLocalNames();
    std::unique_ptr<TokenApi> makeTokenApi(const config::Config& config, std::string* error);
    // Alerts (docs/configuration.md#alerts): the unclean-stop marker, the periodic checks.
    void raiseAlert(AlertEvent event);
    void checkUncleanStop();
    static void onAlertWatch(evutil_socket_t, short, void* arg);
    // Public address detection (README "Keeping the address current without a device"): made,
    // remade or dropped to match the configuration, at start and on every reload.
    void configurePublicAddress(const config::Config* previous);
    // The self-update entry point: every self_update account is sent `address`.
    void selfUpdate(const net::IpAddress& address);
    // The address history and the per-minute series (docs/operations.md#address-history).
    void recordHistory();  // after something was recorded: saved before the loop polls again
    void saveHistory();
    void sampleSeries();
    static void onHistorySave(evutil_socket_t, short, void* arg);
    static void onSeriesTimer(evutil_socket_t, short, void* arg);

    std::string configPath_;
    config::Config config_;
    bool stateDirCreated_ = false;  // by this start: only then is it ours to chmod and chown
    net::EventBasePtr base_;
    // After the loop, before everything that reports to it: destroyed after them.
    std::unique_ptr<DeviceRecorder> devices_;
    std::chrono::system_clock::time_point startedAt_ = std::chrono::system_clock::now();
    std::unique_ptr<resolver::DnsServer> dns_;
    SwappableTokenApi tokenApi_;
    std::unique_ptr<UpdateScheduler> scheduler_;
    std::unique_ptr<UpdateEndpoint> endpoint_;
    std::unique_ptr<HttpServer> http_;
    std::unique_ptr<SetupService> setup_;  // /setup: edits configPath_, then reload()
    net::EventPtr schedulerTimer_;
    SystemdNotifier systemd_;
    net::EventPtr heartbeat_;  // WATCHDOG=1 and a fresh STATUS= line
    net::EventPtr sigterm_, sigint_, sighup_;
    std::unique_ptr<AlertDispatcher> alerts_;
    net::EventPtr alertWatch_;  // failing and dns_down, every few seconds
    // Null while detection is off (no public_address section, no self_update account).
    std::unique_ptr<PublicAddressMonitor> publicAddress_;
    // Between the endpoint and the device list: a device's accepted public myip is also a
    // voice for public address detection.
    std::unique_ptr<UpdateObserver> updateTap_;
    FailingWatch failingWatch_;
    DnsDownWatch dnsDownWatch_;
    AddressHistory history_;
    net::EventPtr historySave_;  // made active by recordHistory()
    MinuteSeries series_;
    net::EventPtr seriesTimer_;  // once a minute: a sample, and a failed history save again
};

}  // namespace dynamo::gateway
