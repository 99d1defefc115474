#pragma once
// Decides when an accepted update reaches the DNS Dynamo token API (docs/updates.md#rate-window):
// the per-token rate window, the durable one-entry-per-token queue, retries with back-off, and the
// NR/ND warning.
//
// Everything is per token, not per account: several device accounts may share one token, and
// the service's window is the token's. The window: never two calls for one token closer than
// dynamo.min_interval, measured from the last call (every answer, TF included, restarts it at
// the service). A call this process made is timed by the steady clock, so a step of the wall
// clock either way (NTP after boot on a Raspberry Pi without RTC) neither opens the window early
// (a TF) nor keeps it shut. A call from an earlier run is known only by its wall-clock time,
// persisted by StateStore: a last call up to a day in the wall clock's future is believed (the
// clock is behind: wait until it passes last_call + min_interval); further ahead it is taken
// as now (a bogus clock must not stall the token for years).
//
// Pure of libevent so tests drive it with a fake clock and a fake TokenApi. The daemon owns the
// timer: after construction and whenever Hooks::onWakeupChanged runs it re-arms one timer for
// nextDue(), and calls runDue() when it fires.
//
// One thread, one event_base, no locks.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "compat/dyndns_reply.h"
#include "config/config.h"
#include "gateway/updates/state_store.h"
#include "gateway/updates/token_api.h"
#include "net/socket_address.h"

namespace dynamo::gateway {

// The longest wait between retries of a failed update (unless min_interval is longer).
inline constexpr std::chrono::seconds kMaxRetryDelay = std::chrono::hours(1);

// After a save of the state failed (a full or failing disk): the next try is 1 s later,
// doubling up to this, so the file is rewritten within seconds of space returning.
inline constexpr std::chrono::seconds kMaxSaveRetryDelay{15};

// Delay before retry number `attempts` (1 = after the first failure): min_interval, doubling
// each time, at most kMaxRetryDelay, never less than min_interval (the window).
std::chrono::seconds retryDelay(uint32_t attempts, std::chrono::seconds minInterval);

// "UP,OK", "TF", "unknown" (another body), "http-503", "timeout", "dns-failed",
// "connect-failed", "tls-failed": what StateStore keeps as last_result.
std::string resultCode(const TokenApiResult& result);
// The same in words, for the status page ("" for "").
std::string describeResult(std::string_view code);

class UpdateScheduler {
  public:
    using Done = std::function<void(compat::UpdateOutcome)>;

    struct Hooks {
        // The service confirmed an update (UP,OK, UP,ER or NC). Runs once for every configured
        // account with that token (they publish the same record), with the address sent; nullopt
        // when none was sent and the service took our source address. `origin`: who asked for
        // the update (a device, or the gateway's self-update). The daemon drops the resolver's
        // cached answers for the accounts' hostnames here.
        std::function<void(const config::Account& account,
                           const std::optional<net::IpAddress>& address, UpdateOrigin origin)>
            onConfirmed;
        // The service said UP,OK or UP,ER for an address other than the one it confirmed last
        // (an alert "changed", a line of the address history). Runs after onConfirmed, for each
        // account with that token; address is nullopt when none was sent (the service took our
        // source address); origin as for onConfirmed.
        std::function<void(const config::Account& account,
                           const std::optional<net::IpAddress>& previous,
                           const std::optional<net::IpAddress>& address, UpdateOrigin origin)>
            onChanged;
        // The service answered NR/ND for the second time in a row (once per such run; an alert
        // "missing_record"), for each account with that token.
        std::function<void(const config::Account& account, const std::string& result)>
            onMissingRecord;
        // An update was accepted (stored, or already published): the newest accepted address or
        // the update sources may have changed. The daemon tells the resolver (local names).
        std::function<void(const config::Account& account)> onAccepted;
        // nextDue() may have moved: re-arm the timer.
        std::function<void()> onWakeupChanged;
    };

    // What the status page shows for one account.
    struct AccountStatus {
        std::string username;
        std::string maskedToken;  // log::maskSecret()
        std::optional<net::IpAddress> confirmedIp;
        UpdateOrigin confirmedOrigin = UpdateOrigin::Device;  // who asked for confirmedIp
        std::optional<TimePoint> changedAt;
        std::optional<TimePoint> lastCall;
        std::string lastResult;      // resultCode(); "" before the first call
        std::string lastResultText;  // describeResult()
        // The waiting update (with its origin), with nextAttempt as it will really happen
        // (window included).
        std::optional<QueuedUpdate> queued;
        // The newest address the gateway accepted: queued, else in flight, else confirmed.
        std::optional<net::IpAddress> acceptedIp;
        std::vector<net::IpAddress> sources;  // of accepted updates, newest first
        bool callInFlight = false;
        bool selfUpdate = false;  // accounts[].self_update
        uint32_t consecutiveMissing = 0;
        // Two NR/ND in a row: the token is probably wrong or unprovisioned; the status page
        // says to contact KisoLabs support.
        bool missingRecord = false;
    };

    // Loads state_dir/state.yaml (a damaged one is moved aside; never fails). `api` must
    // outlive the scheduler or cancel its calls when destroyed (TokenApi's contract); calls
    // still in flight when the scheduler is destroyed are ignored when they finish, and their
    // devices' `done` is dropped without being called: at shutdown the HTTP layer closes its
    // own requests.
    using SteadyTimePoint = std::chrono::steady_clock::time_point;
    using SteadyClock = std::function<SteadyTimePoint()>;

    UpdateScheduler(std::vector<config::Account> accounts, config::DynamoConfig dynamo,
                    const std::string& stateDir, TokenApi& api, WallClock clock, Hooks hooks = {},
                    SteadyClock steadyClock = std::chrono::steady_clock::now);
    ~UpdateScheduler();
    UpdateScheduler(const UpdateScheduler&) = delete;
    UpdateScheduler& operator=(const UpdateScheduler&) = delete;

    // One device update for `account`. `publish` is compat::addressToPublish(): nullopt means
    // "send no ip, the service uses our public source address". `hostnames` are the accepted
    // names, for the log. `done` runs exactly once: before submit() returns when the answer is
    // decided locally (NoChange from the last confirmed address, Queued, or Failed because the
    // update could not be stored), otherwise when the call finishes (at most dynamo.timeout
    // later, the client's own bound). `source`: the device's address, remembered with the
    // token's state once the update is accepted (StateStore::kMaxSources of them).
    void submit(const config::Account& account, std::optional<net::IpAddress> publish,
                const std::vector<std::string>& hostnames, Done done,
                std::optional<net::IpAddress> source = std::nullopt);

    // The gateway's own update for a self_update account: `publicAddress` is the network's
    // public IPv4 address as the gateway detected it. It goes through the same window, queue
    // and retries as a device's update for the token (one entry per token, the newest address
    // wins whoever sent it; one call in flight), with UpdateOrigin::SelfUpdate. `done`, when
    // given, runs exactly once as for submit():
    // - Failed, with a warning in the log and nothing queued, when the address is not a public
    //   IPv4 address (net::isPublicUnicast(): a private or carrier-grade NAT address would
    //   make the name unreachable; IPv6: the token API takes IPv4 only) or the account is not
    //   self_update;
    // - NoChange when the service already confirmed that address and nothing waits;
    // - otherwise as submit(): Queued, Failed (not stored), or the call's outcome.
    void submitSelfUpdate(const config::Account& account, net::IpAddress publicAddress,
                          Done done = nullptr);

    // When runDue() next has something to do: a queued update to send, or the state to store
    // again after a failed save; nullopt when nothing is waiting. May be in the past (overdue):
    // fire at once.
    std::optional<TimePoint> nextDue() const;
    // Sends every queued update whose window and retry time have come, once the state saying
    // so is on disk: an update whose last_call cannot be stored first is not sent (after a
    // crash the next start would send it again inside the window and earn a TF); it stays
    // queued. Retries a failed save.
    void runDue();

    // SIGHUP: new accounts and limits. State of tokens no longer configured is kept (their
    // window still matters if they come back) but their queued updates are not sent (a
    // warning names the accounts).
    void reconfigure(std::vector<config::Account> accounts, config::DynamoConfig dynamo);

    // The address the service last confirmed for the account's token: the best known public
    // address for "good <ip>" when no ip was sent (compat::replyAddress()).
    std::optional<net::IpAddress> confirmedAddress(const config::Account& account) const;

    std::vector<AccountStatus> snapshot() const;

  private:
    struct Call {
        std::optional<net::IpAddress> ip;
        UpdateOrigin origin = UpdateOrigin::Device;
        Done waiter;  // the device that triggered it; empty for a retry from the queue
    };

    // submit() and submitSelfUpdate(): `what` names the update in the log.
    void accept(const config::Account& account, std::optional<net::IpAddress> publish,
                UpdateOrigin origin, const std::string& what, Done done,
                std::optional<net::IpAddress> source);

    std::optional<TimePoint> windowOpensAt(const std::string& key, const TokenState& state,
                                           TimePoint now) const;
    TimePoint dueAt(const std::string& key, const TokenState& state, TimePoint now) const;
    void boundLastCall(TokenState& state, TimePoint now) const;
    void markCalled(const std::string& key, TokenState& state, TimePoint now);
    const std::string* tokenFor(const std::string& key) const;
    std::string usernamesFor(const std::string& key) const;
    void startCall(const std::string& key, const std::string& token, Done waiter);
    void finishCall(const std::string& key, const TokenApiResult& result);
    bool saveState(std::string* error);
    void saveOrLog(std::string_view when);
    void logSaveFailure(std::string_view what, const std::string& error);
    void reportDamage(const std::vector<StateProblem>& problems) const;
    void wakeupChanged();

    std::vector<config::Account> accounts_;
    config::DynamoConfig dynamo_;
    StateStore store_;
    TokenApi& api_;
    WallClock clock_;
    SteadyClock steadyClock_;
    Hooks hooks_;
    TokenStates states_;
    // By token key: the steady time of this process's last call (not persisted: a steady clock
    // means nothing across a reboot).
    std::map<std::string, SteadyTimePoint> lastCallSteady_;
    std::map<std::string, Call> inFlight_;  // by token key; at most one call per token
    // Saves that failed in a row (0: the file holds states_), and when to try again. While one
    // is failing nothing is sent (see runDue()).
    uint32_t saveFailures_ = 0;
    SteadyTimePoint saveRetryAt_{};
    std::optional<SteadyTimePoint> saveErrorLoggedAt_;
    // Callbacks from the TokenApi check this is still alive (see the destructor note above).
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace dynamo::gateway
