#include "gateway/app/daemon.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <utility>

#include "gateway/address/address_sources.h"
#include "gateway/app/privileges.h"
#include "gateway/devices/devices_view.h"
#include "gateway/http/tls_server.h"
#include "gateway/updates/token_api_client.h"
#include "net/atomic_file.h"
#include "net/log.h"
#include "net/timeval.h"
#include "version.h"

namespace dynamo::gateway {

namespace {
// How often the daemon looks for a stuck update and a DNS outage.
constexpr std::chrono::seconds kAlertWatchInterval{5};
constexpr std::string_view kRunningMarker = "running";

// Passes every update to the device list, and a device's public myip in an accepted update to
// public address detection as one more voice.
class UpdateTap final : public UpdateObserver {
  public:
    UpdateTap(UpdateObserver& devices, std::function<PublicAddressMonitor*()> monitor)
        : devices_(devices), monitor_(std::move(monitor)) {}
    void updateSeen(const UpdateSeen& update) override {
        devices_.updateSeen(update);
        PublicAddressMonitor* monitor = monitor_();
        if (monitor == nullptr || update.auth != UpdateAuth::kOk)
            return;
        // "good 1.2.3.4" and "nochg 1.2.3.4" are the accepted updates (RFC-less DynDNS v3).
        if (!update.reply.starts_with("good") && !update.reply.starts_with("nochg"))
            return;
        if (auto address = net::IpAddress::parse(update.myip))
            monitor->deviceReported(update.client.toString(), *address);
    }
    void tlsHandshakeFailed(const net::IpAddress& client, const std::string& reason,
                            bool fromClient) override {
        devices_.tlsHandshakeFailed(client, reason, fromClient);
    }

  private:
    UpdateObserver& devices_;
    std::function<PublicAddressMonitor*()> monitor_;
};

// How often the per-minute series samples the counters (a page view samples too).
constexpr std::chrono::seconds kSeriesInterval{60};
}  // namespace

void SwappableTokenApi::replace(std::unique_ptr<TokenApi> next) {
    if (current_ && current_->inFlight > 0)
        retired_.push_back(std::move(current_));
    current_ = std::make_shared<Slot>(Slot{std::move(next), 0});
    dropIdleRetired();
}

void SwappableTokenApi::update(const std::string& token, const std::optional<net::IpAddress>& ip,
                               Done done) {
    dropIdleRetired();
    std::shared_ptr<Slot> slot = current_;
    ++slot->inFlight;
    slot->api->update(
        token, ip,
        [weak = std::weak_ptr<Slot>(slot), done = std::move(done)](const TokenApiResult& result) {
            if (auto owner = weak.lock())
                --owner->inFlight;
            done(result);
        });
}

void SwappableTokenApi::dropIdleRetired() {
    std::erase_if(retired_, [](const auto& slot) { return slot->inFlight == 0; });
}

Daemon::Daemon(std::string configPath, config::Config config)
    : configPath_(std::move(configPath)), config_(std::move(config)), base_(event_base_new()) {}

Daemon::~Daemon() {
    // Everything registered with the loop goes before it; listeners first, so no new work
    // arrives while the rest is taken down.
    http_.reset();
    setup_.reset();
    endpoint_.reset();
    publicAddress_.reset();  // its hooks call the scheduler
    scheduler_.reset();
    alertWatch_.reset();
    alerts_.reset();
    tokenApi_.replace(nullptr);
    dns_.reset();
}

std::unique_ptr<TokenApi> Daemon::makeTokenApi(const config::Config& config, std::string* error) {
    return TokenApiClient::create(base_.get(), config.dynamo, config.dns.upstreams, error);
}

// Makes state_dir when it is missing (*created then). Only a directory the daemon made is
// narrowed to 0700: state_dir may name a shared directory, whose mode is not ours to change.
static bool ensureStateDir(const std::string& path, bool* created, std::string* error) {
    std::error_code code;
    *created = std::filesystem::create_directories(path, code);
    if (code) {
        *error = "state_dir " + path + ": " + code.message();
        return false;
    }
    // It holds the self-signed key and the queue of updates: the daemon's alone.
    if (*created)
        ::chmod(path.c_str(), 0700);
    return true;
}

// evhttp 2.1 has no connection cap: the more descriptors, the later a flood of clients reaches
// the limit (where the listeners pause, net/accept_backoff.h). The hard limit is what we may
// take; under the packaged unit LimitNOFILE= already sets both, and setrlimit is filtered there.
static void raiseDescriptorLimit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return;
    if (limit.rlim_cur < limit.rlim_max) {
        rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0)
            limit = raised;
    }
    DLOG(Debug) << "descriptor limit: " << limit.rlim_cur;
}

bool Daemon::start(std::string* error) {
    log::setLevel(config_.logLevel);
    std::signal(SIGPIPE, SIG_IGN);  // a client that vanished mid-write is an error code, not death
    raiseDescriptorLimit();
    if (!ensureStateDir(config_.stateDir, &stateDirCreated_, error))
        return false;
    // Before anything is written there as root (the self-signed key, state.yaml).
    if (config_.runAs && !stateDirCreated_ &&
        !checkStateDirOwner(config_.stateDir, *config_.runAs, error))
        return false;

    dns_ = resolver::DnsServer::create(base_.get(), config_.dns, std::chrono::steady_clock::now,
                                       error);
    if (!dns_)
        return false;
    devices_ = std::make_unique<DeviceRecorder>(base_.get(), config_.stateDir);
    dns_->handler().setClientObserver(devices_.get());

    auto api = makeTokenApi(config_, error);
    if (!api)
        return false;
    tokenApi_.replace(std::move(api));

    alerts_ = AlertDispatcher::create(base_.get(), config_, error);
    if (!alerts_)
        return false;

    schedulerTimer_.reset(evtimer_new(base_.get(), &Daemon::onSchedulerTimer, this));
    history_.load(config_.stateDir, std::chrono::system_clock::now());
    historySave_.reset(event_new(base_.get(), -1, 0, &Daemon::onHistorySave, this));
    UpdateScheduler::Hooks hooks;
    hooks.onAnswered = [this](const config::Account& account, const std::string& result,
                              const auto& address, UpdateOrigin origin) {
        history_.recordAnswer(account.username,
                              {std::chrono::system_clock::now(), result, address, origin});
        recordHistory();
    };
    hooks.onChanged = [this](const config::Account& account, const auto& previous,
                             const auto& address, UpdateOrigin origin) {
        history_.recordChange(account.username,
                              {std::chrono::system_clock::now(), address, previous, origin});
        recordHistory();
        AlertEvent event;
        event.kind = AlertKind::Changed;
        event.account = account.username;
        const std::string now = address ? address->toString() : "this network's public address";
        event.message = "the record of " + account.username + " now points to " + now;
        if (address)
            event.fields.emplace_back("address", address->toString());
        if (previous)
            event.fields.emplace_back("previous_address", previous->toString());
        raiseAlert(std::move(event));
    };
    hooks.onMissingRecord = [this](const config::Account& account, const std::string& result) {
        AlertEvent event;
        event.kind = AlertKind::MissingRecord;
        event.account = account.username;
        event.message = "the service answered " + result + " twice in a row for " +
                        account.username +
                        ": it has no record for this token; check the token or contact KisoLabs "
                        "support";
        event.fields.emplace_back("result", result);
        raiseAlert(std::move(event));
    };
    hooks.onConfirmed = [this](const config::Account& account, const auto&, UpdateOrigin) {
        forgetCachedNames(account);
        refreshLocalNames();
    };
    hooks.onAccepted = [this](const config::Account&) { refreshLocalNames(); };
    hooks.onWakeupChanged = [this] { armSchedulerTimer(); };
    scheduler_ =
        std::make_unique<UpdateScheduler>(config_.accounts, config_.dynamo, config_.stateDir,
                                          tokenApi_, std::chrono::system_clock::now, hooks);
    endpoint_ = std::make_unique<UpdateEndpoint>(base_.get(), config_.accounts, *scheduler_);
    updateTap_ = std::make_unique<UpdateTap>(*devices_, [this] { return publicAddress_.get(); });
    endpoint_->setObserver(updateTap_.get());
    refreshLocalNames();  // addresses accepted before a restart

    // Checked now, still as root, by a child process; the TLS context itself is made when the
    // first device connects over HTTPS (OpenSSL 3 costs ~3 MiB resident once initialised).
    std::optional<ServerIdentity> tls;
    if (!config_.gateway.httpsListen.empty()) {
        tls = checkServerIdentity(config_.gateway, config_.dns.intercept, config_.stateDir, error);
        if (!tls)
            return false;
    }
    http_ = HttpServer::create(
        base_.get(), config_.gateway.httpListen, config_.gateway.httpsListen, tls ? &*tls : nullptr,
        [this](std::shared_ptr<HttpExchange> exchange) { route(exchange); }, error);
    if (!http_)
        return false;
    http_->setAllow(config_.dns.allow);
    http_->setObserver(devices_.get());
    setup_ = std::make_unique<SetupService>(
        configPath_, SetupService::Hooks{[this]() -> const config::Config& { return config_; },
                                         [this] { return reload(); }});

    sigterm_.reset(evsignal_new(base_.get(), SIGTERM, &Daemon::onSignal, this));
    sigint_.reset(evsignal_new(base_.get(), SIGINT, &Daemon::onSignal, this));
    sighup_.reset(evsignal_new(base_.get(), SIGHUP, &Daemon::onSignal, this));
    for (auto* event : {sigterm_.get(), sigint_.get(), sighup_.get()})
        event_add(event, nullptr);
    if (!dropRoot(error))
        return false;
    armSchedulerTimer();  // updates queued before a restart
    checkUncleanStop();
    alertWatch_.reset(event_new(base_.get(), -1, EV_PERSIST, &Daemon::onAlertWatch, this));
    const timeval every = net::toTimeval(kAlertWatchInterval);
    event_add(alertWatch_.get(), &every);
    configurePublicAddress(nullptr);

    sampleSeries();  // the baseline: the minute the daemon started
    seriesTimer_.reset(event_new(base_.get(), -1, EV_PERSIST, &Daemon::onSeriesTimer, this));
    const timeval minute = net::toTimeval(kSeriesInterval);
    event_add(seriesTimer_.get(), &minute);
    return true;
}

void Daemon::configurePublicAddress(const config::Config* previous) {
    if (!config::publicAddressWanted(config_)) {
        if (publicAddress_) {
            DLOG(Info) << "public address detection: off";
        }
        publicAddress_.reset();
        return;
    }
    // The sources depend on public_address, and the HTTP echo's client on the resolver and
    // the trusted CAs; anything else leaves the running monitor (and its one-minute bound) be.
    const bool sourcesChanged = previous == nullptr ||
                                previous->publicAddress != config_.publicAddress ||
                                previous->dns.upstreams != config_.dns.upstreams ||
                                previous->dynamo.caFile != config_.dynamo.caFile;
    if (!publicAddress_) {
        PublicAddressMonitor::Hooks hooks;
        hooks.onBelieved = [this](const net::IpAddress& address) { selfUpdate(address); };
        hooks.onCgnat = [this](const std::string& reason) {
            AlertEvent event;
            event.kind = AlertKind::Cgnat;
            event.message =
                "behind carrier-grade NAT: incoming connections will not reach this network (" +
                reason + ")";
            event.fields.emplace_back("reason", reason);
            raiseAlert(std::move(event));
        };
        publicAddress_ = std::make_unique<PublicAddressMonitor>(base_.get(), std::move(hooks));
        DLOG(Info) << "public address detection: on";
    } else if (!sourcesChanged) {
        // A self_update account added by this reload gets the address already believed.
        if (auto believed = publicAddress_->state().believed)
            selfUpdate(*believed);
        return;
    }
    publicAddress_->configure(makeAddressSources(base_.get(), config_),
                              config_.publicAddress.interval);
    if (auto believed = publicAddress_->state().believed)
        selfUpdate(*believed);
}

void Daemon::selfUpdate(const net::IpAddress& address) {
    for (const config::Account& account : config_.accounts) {
        // The scheduler answers NoChange when the service already has this address, and keeps
        // one window per token whoever asks.
        if (account.selfUpdate)
            scheduler_->submitSelfUpdate(account, address);
    }
}

void Daemon::recordHistory() {
    // Active at once: it runs after the callbacks of this loop iteration (several accounts
    // sharing a token are one write) and before the loop waits for the next event, so a reply
    // or a page that shows an entry is sent after the entry is on disk. The token API answers
    // at most once per token and dynamo.min_interval: no hot path.
    event_active(historySave_.get(), EV_TIMEOUT, 0);
}

void Daemon::saveHistory() {
    if (!history_.dirty())
        return;
    std::string error;
    if (!history_.save(config_.stateDir, &error)) {
        DLOG(Warning) << error << " (the address history is kept in memory and stored again "
                      << "within a minute)";
    }
}

void Daemon::sampleSeries() {
    series_.sample(std::chrono::system_clock::now(),
                   seriesTotals(dns_->handler().stats(), endpoint_->stats()));
}

void Daemon::onHistorySave(evutil_socket_t, short, void* arg) {
    static_cast<Daemon*>(arg)->saveHistory();
}

void Daemon::onSeriesTimer(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<Daemon*>(arg);
    self->sampleSeries();
    self->saveHistory();  // after a failed save
}

void Daemon::raiseAlert(AlertEvent event) {
    event.time = std::chrono::system_clock::now();
    alerts_->raise(std::move(event));
}

// state_dir/running exists while the daemon runs: made at start, removed after a clean stop.
// Found at start, it says the last run ended without one (kill -9, a crash, power loss).
void Daemon::checkUncleanStop() {
    const std::string marker = config_.stateDir + "/" + std::string(kRunningMarker);
    std::error_code code;
    if (std::filesystem::exists(marker, code)) {
        std::vector<std::string> waiting;
        for (const auto& account : scheduler_->snapshot()) {
            if (account.queued)
                waiting.push_back(account.username);
        }
        if (!waiting.empty()) {
            std::string names;
            for (const auto& name : waiting)
                names += (names.empty() ? "" : ", ") + name;
            AlertEvent event;
            event.kind = AlertKind::UncleanStop;
            event.message =
                "the gateway was restarted after an unclean stop with updates still "
                "queued for " +
                names + "; they are sent when their window opens";
            event.fields.emplace_back("queued_accounts", names);
            raiseAlert(std::move(event));
        }
    }
    std::string error;
    if (!net::writeFileAtomically(config_.stateDir, kRunningMarker, "dynamo-gateway is running\n",
                                  0600, &error)) {
        DLOG(Warning) << error << " (an unclean stop cannot be told next time)";
    }
}

void Daemon::onAlertWatch(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<Daemon*>(arg);
    const auto now = std::chrono::system_clock::now();
    for (auto& event : self->failingWatch_.check(self->scheduler_->snapshot(), now,
                                                 self->config_.alerts.failingAfter))
        self->raiseAlert(std::move(event));
    const auto& forwarder = self->dns_->handler().forwarder();
    const auto stats = forwarder.stats();
    if (self->dnsDownWatch_.observe(stats.sent, stats.failed, forwarder.inFlight(),
                                    std::chrono::steady_clock::now(),
                                    self->config_.alerts.dnsDownAfter)) {
        AlertEvent event;
        event.kind = AlertKind::DnsDown;
        event.message = "every DNS upstream has failed for " +
                        describeDuration(self->config_.alerts.dnsDownAfter) +
                        " with no answer: clients get SERVFAIL";
        self->raiseAlert(std::move(event));
    }
}

bool Daemon::dropRoot(std::string* error) {
    const bool root = ::geteuid() == 0;
    if (!config_.runAs) {
        if (root) {
            DLOG(Warning) << "running as root: set run_as to a dedicated user";
        }
        return true;
    }
    if (!root)
        return true;  // systemd's User= already did it; nothing left to drop
    if (!handOver(config_.stateDir, stateDirCreated_, *config_.runAs, error))
        return false;
    if (!dropPrivileges(*config_.runAs, error))
        return false;
    DLOG(Info) << "running as " << *config_.runAs;
    return true;
}

std::string Daemon::statusLine() const {
    size_t queued = 0;
    for (const auto& account : scheduler_->snapshot())
        queued += account.queued ? 1 : 0;
    const auto& dns = dns_->handler().stats();
    return "STATUS=" + std::to_string(config_.accounts.size()) + " accounts, " +
           std::to_string(queued) + " updates queued, " +
           std::to_string(dns.udpQueries + dns.tcpQueries) + " DNS queries";
}

void Daemon::run() {
    const auto heartbeat = systemd_.watchdogInterval().value_or(std::chrono::seconds(30));
    heartbeat_.reset(event_new(base_.get(), -1, EV_PERSIST, &Daemon::onHeartbeat, this));
    const timeval every = net::toTimeval(heartbeat);
    event_add(heartbeat_.get(), &every);

    DLOG(Info) << "ready";
    systemd_.notify("READY=1\n" + statusLine());
    event_base_dispatch(base_.get());
    systemd_.notify("STOPPING=1");
    devices_->save();
    saveHistory();
    // A clean stop: the next start raises no unclean_stop.
    std::error_code ignored;
    std::filesystem::remove(config_.stateDir + "/" + std::string(kRunningMarker), ignored);
    DLOG(Info) << "stopped";
}

void Daemon::onHeartbeat(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<Daemon*>(arg);
    // From the loop itself: a wedged loop stops the heartbeat and systemd restarts us.
    std::string state = self->statusLine();
    if (self->systemd_.watchdogInterval())
        state = "WATCHDOG=1\n" + state;
    self->systemd_.notify(state);
}

void Daemon::route(const std::shared_ptr<HttpExchange>& exchange) {
    if (endpoint_->handle(exchange) || serveStatus(exchange) || serveDevices(exchange) ||
        setup_->handle(exchange))
        return;
    exchange->reply({404, "text/plain", "not found\n", {}});
}

bool Daemon::serveStatus(const std::shared_ptr<HttpExchange>& exchange) {
    // Only clients in dns.allow get this far (HttpServer answers 403 to the rest).
    const std::string& path = exchange->request().path;
    std::string (*render)(const StatusReport&) = nullptr;
    std::string_view contentType;
    if (path == "/status" || path == "/status/") {
        render = renderStatusHtml;
        contentType = kStatusHtmlContentType;
    } else if (path == "/status.json") {
        render = renderStatusJson;
        contentType = kStatusJsonContentType;
    } else if (path == "/metrics") {
        render = renderMetrics;
        contentType = kMetricsContentType;
    } else {
        return false;
    }
    sampleSeries();  // the current minute up to this request
    exchange->reply({200, std::string(contentType), render(statusReport()), {}});
    return true;
}

bool Daemon::serveDevices(const std::shared_ptr<HttpExchange>& exchange) {
    // Only clients in dns.allow get this far, as for /status.
    const std::string& path = exchange->request().path;
    const auto now = std::chrono::system_clock::now();
    if (path == "/devices" || path == "/devices/") {
        exchange->reply({200,
                         std::string(kDevicesHtmlContentType),
                         renderDevicesHtml(devices_->table(), now),
                         {}});
    } else if (path == "/devices.json") {
        exchange->reply({200,
                         std::string(kDevicesJsonContentType),
                         renderDevicesJson(devices_->table(), now),
                         {}});
    } else {
        return false;
    }
    return true;
}

StatusReport Daemon::statusReport() const {
    StatusReport report;
    report.version = kVersion;
    report.startedAt = startedAt_;
    report.now = std::chrono::system_clock::now();
    report.accounts = scheduler_->snapshot();
    const auto& handler = dns_->handler();
    report.dns.queries = handler.stats();
    report.dns.cacheEntries = handler.cache().size();
    report.dns.cacheHits = handler.cache().hits();
    report.dns.cacheMisses = handler.cache().misses();
    report.dns.forwarder = handler.forwarder().stats();
    report.dns.forwarderInFlight = handler.forwarder().inFlight();
    report.dns.tcpConnections = dns_->tcpConnections();
    report.dns.upstreamLatency = handler.forwarder().latency();
    // The forwarder keeps monotonic times; the page shows wall-clock ones.
    const auto steadyNow = std::chrono::steady_clock::now();
    for (const auto& upstream : handler.forwarder().upstreams()) {
        report.dns.upstreams.push_back(
            {.address = upstream.address.toString(),
             .up = upstream.up,
             .since = report.now - std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                       steadyNow - upstream.since),
             .answers = upstream.answers,
             .failures = upstream.failures,
             .probes = upstream.probes,
             .latency = upstream.latency});
    }
    for (auto& view : handler.localRecords().describe()) {
        report.localNames.push_back(
            {std::move(view.name), std::move(view.toUpdaters), std::move(view.toOthers)});
    }
    report.updates = endpoint_->stats();
    for (const config::Account& account : config_.accounts) {
        const AccountHistory* history = history_.find(account.username);
        report.history.push_back({account.username, history ? *history : AccountHistory{}});
    }
    report.series = series_.view();
    const HttpConnectionGuard& connections = http_->connections();
    report.http = {connections.tracked(), connections.refused(), connections.expired()};
    report.devices = {devices_->table().size(), devices_->table().tlsFailures()};
    if (publicAddress_)
        report.publicAddress = publicAddress_->state();
    report.alerts.rateLimited = alerts_->rateLimited();
    for (const auto& channel : alerts_->stats()) {
        report.alerts.sent += channel.sent;
        report.alerts.failed += channel.failed;
        report.alerts.dropped += channel.dropped;
        report.alerts.channels.push_back({channel.label, channel.sent, channel.failed,
                                          channel.dropped, channel.lastResult, channel.lastTime});
    }
    return report;
}

void Daemon::forgetCachedNames(const config::Account& account) {
    // Devices such as FRITZ!Box and OpenWrt look their own name up to confirm an update.
    for (const auto& name : account.hostnames)
        dns_->handler().forgetName(name);
    for (const auto& name : endpoint_->recentHostnames(account.username)) {
        dns_->handler().forgetName(name);
    }
}

void Daemon::refreshLocalNames() {
    const auto statuses = scheduler_->snapshot();
    std::vector<resolver::AccountAddresses> accounts;
    for (const config::Account& account : config_.accounts) {
        if (account.names.empty() && account.ipToken.empty())
            continue;
        resolver::AccountAddresses entry;
        entry.username = account.username;
        entry.names = account.names;
        entry.ipToken = account.ipToken;
        const auto status = std::find_if(statuses.begin(), statuses.end(), [&](const auto& s) {
            return s.username == account.username;
        });
        if (status != statuses.end()) {
            entry.address = status->acceptedIp;
            entry.sources = status->sources;
        }
        accounts.push_back(std::move(entry));
    }
    dns_->handler().setAccountAddresses(std::move(accounts));
}

void Daemon::armSchedulerTimer() {
    const auto due = scheduler_->nextDue();
    if (!due) {
        evtimer_del(schedulerTimer_.get());
        return;
    }
    // The due time is on the wall clock, libevent's timer on the monotonic one: a wall clock
    // stepped forward (NTP after boot on a Pi without RTC) would leave a queued update waiting
    // for the old reading. Waking at least once a minute re-reads the wall clock.
    constexpr auto kMaxTimerWait = std::chrono::minutes(1);
    const auto wait = std::clamp<std::chrono::system_clock::duration>(
        *due - std::chrono::system_clock::now(), std::chrono::system_clock::duration::zero(),
        kMaxTimerWait);
    const timeval delay =
        net::toTimeval(std::chrono::duration_cast<std::chrono::microseconds>(wait));
    evtimer_add(schedulerTimer_.get(), &delay);
}

void Daemon::onSchedulerTimer(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<Daemon*>(arg);
    self->scheduler_->runDue();
    self->armSchedulerTimer();
}

void Daemon::onSignal(evutil_socket_t signal, short, void* arg) {
    auto* self = static_cast<Daemon*>(arg);
    if (signal == SIGHUP) {
        self->reload();
        return;
    }
    DLOG(Info) << "stopping on " << (signal == SIGTERM ? "SIGTERM" : "SIGINT");
    event_base_loopexit(self->base_.get(), nullptr);
}

bool Daemon::reload() {
    systemd_.notify("RELOADING=1");
    const bool reloaded = reloadConfig();
    systemd_.notify("READY=1\n" + statusLine());
    return reloaded;
}

std::vector<std::string_view> Daemon::keepStartOnlyKeys(config::Config& next) const {
    // Bound, opened or dropped to at start only: the running values stay, so config_ keeps
    // saying what runs (a self-signed certificate made on a later reload goes to the state_dir
    // in use, not to the one a restart would use).
    std::vector<std::string_view> changed;
    const auto keep = [&](std::string_view key, auto& value, const auto& running) {
        if (value != running) {
            changed.push_back(key);
            value = running;
        }
    };
    keep("dns.listen", next.dns.listen, config_.dns.listen);
    keep("gateway.http_listen", next.gateway.httpListen, config_.gateway.httpListen);
    keep("gateway.https_listen", next.gateway.httpsListen, config_.gateway.httpsListen);
    keep("state_dir", next.stateDir, config_.stateDir);
    keep("run_as", next.runAs, config_.runAs);
    return changed;
}

bool Daemon::reloadConfig() {
    auto loaded = config::loadFile(configPath_);
    const auto refuse = [](const std::string& why) {
        DLOG(Error) << "reload refused: " << why << "; still serving the previous configuration";
        return false;
    };
    if (!loaded.config) {
        for (const auto& problem : loaded.errors)
            DLOG(Error) << problem;
        return refuse(configPath_ + " is invalid");
    }
    config::Config& next = *loaded.config;
    const std::vector<std::string_view> startOnlyChanged = keepStartOnlyKeys(next);
    std::string error;
    // Build everything that can fail first; swap only when all of it worked, and write nothing
    // to disk before that.
    auto api = makeTokenApi(next, &error);
    if (!api)
        return refuse(error);
    // Alerts waiting for a retry on the old channels are dropped with them.
    auto alerts = AlertDispatcher::create(base_.get(), next, &error);
    if (!alerts)
        return refuse(error);
    std::optional<ServerIdentity> tls;
    std::optional<UnwrittenIdentity> newIdentity;
    // Only the listeners bound at start exist: without them there is no context to replace.
    if (!config_.gateway.httpsListen.empty() && !next.gateway.httpsListen.empty()) {
        const config::TlsConfig& now = config_.gateway.tls;
        const config::TlsConfig& then = next.gateway.tls;
        const bool tlsChanged =
            now.cert != then.cert || now.key != then.key || now.minVersion != then.minVersion;
        // Configured PEM files are loaded again (cheap; a renewed certificate is why people
        // reload). A self-signed one is made again only when gateway.tls itself changed: RSA
        // 2048 takes seconds on a Pi Zero, and the loop (DNS included) would stall for them.
        if (tlsChanged || then.cert) {
            tls = checkServerIdentity(next.gateway, next.dns.intercept, next.stateDir, &error,
                                      &newIdentity);
            if (!tls)
                return refuse(error);
        } else if (selfSignedNames(next.dns.intercept) != selfSignedNames(config_.dns.intercept)) {
            DLOG(Warning) << "dns.intercept names changed: the self-signed certificate keeps the "
                          << "previous names until the daemon is restarted, which renews it";
        }
    }
    if (!dns_->reconfigure(next.dns, &error))
        return refuse(error);

    // Past the last step that can refuse.
    if (newIdentity && !writeSelfSigned(*newIdentity, &error)) {
        DLOG(Error) << "the new self-signed certificate is in use but could not be stored ("
                    << error << "); the next start makes another one";
    }
    tokenApi_.replace(std::move(api));
    alerts_ = std::move(alerts);
    if (tls)
        http_->setTls(*tls);
    http_->setAllow(next.dns.allow);
    endpoint_->setAccounts(next.accounts);
    scheduler_->reconfigure(next.accounts, next.dynamo);
    for (const std::string_view key : startOnlyChanged)
        DLOG(Warning) << key << " changed: restart the daemon to apply it";
    const config::Config previous = std::move(config_);
    config_ = std::move(next);
    configurePublicAddress(&previous);
    refreshLocalNames();  // accounts' names and tokens may have changed
    log::setLevel(config_.logLevel);
    for (const auto& warning : config_.warnings)
        DLOG(Warning) << warning;
    armSchedulerTimer();
    DLOG(Info) << "reloaded " << configPath_;
    return true;
}

}  // namespace dynamo::gateway
