#include "gateway/updates/update_scheduler.h"

#include <algorithm>
#include <utility>

#include "compat/publish_address.h"
#include "compat/token_api.h"
#include "net/log.h"

namespace dynamo::gateway {
namespace {

using compat::TokenApiCode;
using compat::UpdateOutcome;

// Two NR/ND in a row is past the "first minutes after set-up" the service documents.
constexpr uint32_t kMissingRecordThreshold = 2;

// A full disk stays full for a while: its error is logged once a minute, the retries between
// at debug level.
constexpr auto kSaveErrorLogInterval = std::chrono::minutes(1);

std::chrono::seconds saveRetryDelay(uint32_t failures) {
    std::chrono::seconds delay{1};
    for (uint32_t i = 1; i < failures && delay < kMaxSaveRetryDelay; ++i)
        delay *= 2;
    return std::min(delay, kMaxSaveRetryDelay);
}

std::string ipText(const std::optional<net::IpAddress>& ip) {
    return ip ? ip->toString() : std::string("no ip (the service uses our source address)");
}

// Host names come from the device (checked, but an account without an allow-list takes any
// syntactically valid name): printable() before they reach the log.
std::string joined(const std::vector<std::string>& items) {
    std::string text;
    for (const std::string& item : items) {
        if (!text.empty())
            text += ",";
        text += log::printable(item, 253);
    }
    return text;
}

bool isMissingRecord(const TokenApiResult& result) {
    return result.answered() &&
           (result.code == TokenApiCode::Nr || result.code == TokenApiCode::Nd);
}

}  // namespace

std::chrono::seconds retryDelay(uint32_t attempts, std::chrono::seconds minInterval) {
    std::chrono::seconds delay = minInterval;
    for (uint32_t i = 1; i < attempts && delay < kMaxRetryDelay; ++i)
        delay *= 2;
    return std::max(std::min(delay, kMaxRetryDelay), minInterval);
}

std::string resultCode(const TokenApiResult& result) {
    switch (result.transport) {
        case TokenApiResult::Transport::DnsFailed:
            return "dns-failed";
        case TokenApiResult::Transport::ConnectFailed:
            return "connect-failed";
        case TokenApiResult::Transport::TlsFailed:
            return "tls-failed";
        case TokenApiResult::Transport::Timeout:
            return "timeout";
        case TokenApiResult::Transport::Ok:
            break;
    }
    if (result.httpStatus != 200)
        return "http-" + std::to_string(result.httpStatus);
    return std::string(compat::toString(result.code));
}

std::string describeResult(std::string_view code) {
    if (code.empty())
        return "";
    if (code == "dns-failed")
        return "the update host did not resolve";
    if (code == "connect-failed")
        return "could not connect to the update host";
    if (code == "tls-failed")
        return "TLS handshake or certificate verification with the update host failed";
    if (code == "timeout")
        return "no answer within dynamo.timeout";
    if (code.starts_with("http-"))
        return "the service answered HTTP " + std::string(code.substr(5)) + " (a service problem)";
    return std::string(
        compat::describe(compat::codeFromString(code).value_or(TokenApiCode::Unknown)));
}

UpdateScheduler::UpdateScheduler(std::vector<config::Account> accounts, config::DynamoConfig dynamo,
                                 const std::string& stateDir, TokenApi& api, WallClock clock,
                                 Hooks hooks, SteadyClock steadyClock)
    : accounts_(std::move(accounts)),
      dynamo_(std::move(dynamo)),
      store_(stateDir, clock),
      api_(api),
      clock_(std::move(clock)),
      steadyClock_(std::move(steadyClock)),
      hooks_(std::move(hooks)) {
    std::vector<StateProblem> problems;
    states_ = store_.load(&problems);
    reportDamage(problems);
    size_t queued = 0;
    for (const auto& [key, state] : states_) {
        if (state.queued && tokenFor(key))
            ++queued;
    }
    if (queued > 0) {
        DLOG(Info) << queued << " update(s) queued before the last stop will be sent when their "
                   << "rate window opens";
    }
}

UpdateScheduler::~UpdateScheduler() = default;

void UpdateScheduler::submit(const config::Account& account, std::optional<net::IpAddress> publish,
                             const std::vector<std::string>& hostnames, Done done,
                             std::optional<net::IpAddress> source) {
    accept(account, publish, UpdateOrigin::Device,
           "update for " + account.username + " (" + joined(hostnames) + ")", std::move(done),
           source);
}

void UpdateScheduler::submitSelfUpdate(const config::Account& account, net::IpAddress publicAddress,
                                       Done done) {
    if (!done)
        done = [](UpdateOutcome) {};
    const net::IpAddress address = publicAddress.unmapped();
    if (!account.selfUpdate) {
        DLOG(Warning) << "self-update for " << account.username << " ignored: the account does "
                      << "not have self_update: true";
        done(UpdateOutcome::Failed);
        return;
    }
    // Never published: a router behind another router or behind carrier-grade NAT reports its
    // WAN side (10.x, 100.64.x.x), which nobody outside can reach.
    if (!compat::isPublicIpv4(address)) {
        DLOG(Warning) << "self-update for " << account.username
                      << " refused: " << address.toString()
                      << (address.isV4() ? " is not a public address (private or carrier-grade "
                                           "NAT); it is never published"
                                         : " is not an IPv4 address (the token API takes IPv4 "
                                           "only)");
        done(UpdateOutcome::Failed);
        return;
    }
    accept(account, address, UpdateOrigin::SelfUpdate, "self-update for " + account.username,
           std::move(done), std::nullopt);
}

void UpdateScheduler::accept(const config::Account& account, std::optional<net::IpAddress> publish,
                             UpdateOrigin origin, const std::string& what, Done done,
                             std::optional<net::IpAddress> source) {
    const TimePoint now = clock_();
    const std::string key = tokenKey(account.token);
    const auto existing = states_.find(key);
    const std::optional<TokenState> before =
        existing == states_.end() ? std::nullopt : std::optional<TokenState>(existing->second);
    TokenState& state = states_[key];
    boundLastCall(state, now);
    // Newest first, each once, bounded.
    bool newSource = false;
    if (source) {
        const net::IpAddress ip = source->unmapped();
        newSource = state.sources.empty() || state.sources.front() != ip;
        std::erase(state.sources, ip);
        state.sources.insert(state.sources.begin(), ip);
        if (state.sources.size() > StateStore::kMaxSources)
            state.sources.resize(StateStore::kMaxSources);
    }

    // Answered locally only when we know what the service publishes: the address was sent
    // and confirmed, and nothing is queued or in flight (a queued or unanswered call may have
    // changed the record since). Without an ip we cannot tell whether our public address
    // changed, so such an update always goes to the service.
    if (publish && state.confirmedIp == publish && !state.queued) {
        DLOG(Debug) << what << ": " << publish->toString() << " is already published";
        std::string error;
        if (newSource && !saveState(&error)) {
            // The answer stands (nothing changed at the service); the source is kept in memory
            // and stored with the next save.
            DLOG(Warning) << "update source for " << account.username << " not stored: " << error;
        }
        if (hooks_.onAccepted)
            hooks_.onAccepted(account);
        done(UpdateOutcome::NoChange);
        return;
    }

    // One entry per token, the latest address wins. The same address again (a no-ip update
    // while a no-ip update waits, or a device repeating itself) keeps the waiting entry, so its
    // retry count and back-off are not reset by an impatient device.
    // Such a kept entry also keeps its retry time: the repeat is answered "good" (Queued) and
    // waits for its back-off like the entry does, or a device repeating every min_interval
    // would turn the back-off (5, 10, 20… minutes) into a call every window.
    // The kept entry keeps its origin too: whoever asked for the address first.
    if (!state.queued || state.queued->ip != publish)
        state.queued = QueuedUpdate{publish, now, 0, now, origin};

    // A new entry is due when the window opens; a kept one when its retry time has come too.
    const bool callNow = !inFlight_.contains(key) && dueAt(key, state, now) <= now;
    // Persisted before the call: a crash while it is in flight must not let the next start
    // call again inside the window.
    std::optional<SteadyTimePoint> steadyBefore;
    if (callNow) {
        if (const auto it = lastCallSteady_.find(key); it != lastCallSteady_.end())
            steadyBefore = it->second;
        markCalled(key, state, now);
    }

    std::string error;
    if (!saveState(&error)) {
        if (before)
            states_[key] = *before;
        else
            states_.erase(key);
        if (steadyBefore)
            lastCallSteady_[key] = *steadyBefore;
        else if (callNow)
            lastCallSteady_.erase(key);
        DLOG(Error) << what << " not accepted, it could not be stored: " << error;
        wakeupChanged();  // the save is retried from the timer
        done(UpdateOutcome::Failed);
        return;
    }

    if (!callNow) {
        DLOG(Info) << what << " to " << ipText(publish) << " queued: the rate window for token "
                   << log::maskSecret(account.token) << " is shut";
        wakeupChanged();
        if (hooks_.onAccepted)
            hooks_.onAccepted(account);
        done(UpdateOutcome::Queued);
        return;
    }
    DLOG(Info) << what << ": calling the token API for " << log::maskSecret(account.token)
               << " with " << ipText(publish);
    startCall(key, account.token, std::move(done));
    wakeupChanged();
    if (hooks_.onAccepted)
        hooks_.onAccepted(account);
}

std::optional<TimePoint> UpdateScheduler::nextDue() const {
    const TimePoint now = clock_();
    std::optional<TimePoint> next;
    for (const auto& [key, state] : states_) {
        if (!state.queued || inFlight_.contains(key) || !tokenFor(key))
            continue;
        const TimePoint due = dueAt(key, state, now);
        if (!next || due < *next)
            next = due;
    }
    // While saves fail nothing is sent: the next thing to do is the next try to save.
    if (saveFailures_ > 0) {
        const auto left =
            std::max(saveRetryAt_ - steadyClock_(), SteadyTimePoint::duration::zero());
        return now + std::chrono::duration_cast<TimePoint::duration>(left);
    }
    return next;
}

void UpdateScheduler::runDue() {
    if (saveFailures_ > 0 && steadyClock_() < saveRetryAt_)
        return;
    const TimePoint now = clock_();
    struct Due {
        std::string key;
        std::string token;
        std::optional<TimePoint> lastCallBefore;
        std::optional<SteadyTimePoint> steadyBefore;
    };
    std::vector<Due> due;
    for (auto& [key, state] : states_) {
        if (!state.queued || inFlight_.contains(key))
            continue;
        const std::string* token = tokenFor(key);
        if (!token)
            continue;
        boundLastCall(state, now);
        if (dueAt(key, state, now) > now)
            continue;
        Due entry{key, *token, state.lastCall, std::nullopt};
        if (const auto it = lastCallSteady_.find(key); it != lastCallSteady_.end())
            entry.steadyBefore = it->second;
        markCalled(key, state, now);
        due.push_back(std::move(entry));
    }
    if (due.empty()) {
        if (saveFailures_ > 0) {
            saveOrLog("again");
            wakeupChanged();
        }
        return;
    }
    // The new last_call goes to disk before the calls: if it cannot, the calls wait. Sent
    // anyway, a crash before the state is stored would make the next start send the same
    // update again inside the service's window (a TF); kept queued, it is sent once the state
    // can be stored.
    std::string error;
    if (!saveState(&error)) {
        std::string names;
        for (const Due& entry : due) {
            TokenState& state = states_[entry.key];
            state.lastCall = entry.lastCallBefore;
            if (entry.steadyBefore)
                lastCallSteady_[entry.key] = *entry.steadyBefore;
            else
                lastCallSteady_.erase(entry.key);
            names += (names.empty() ? "" : ", ") + usernamesFor(entry.key);
        }
        logSaveFailure("the queued update(s) for " + names +
                           " stay queued, not sent until the update state can be stored",
                       error);
        wakeupChanged();
        return;
    }
    for (const Due& entry : due) {
        DLOG(Info) << "sending the queued update for " << usernamesFor(entry.key) << " (token "
                   << log::maskSecret(entry.token) << ") with "
                   << ipText(states_[entry.key].queued->ip);
        startCall(entry.key, entry.token, nullptr);
    }
    wakeupChanged();
}

void UpdateScheduler::reconfigure(std::vector<config::Account> accounts,
                                  config::DynamoConfig dynamo) {
    // A queued update whose token is gone is never sent, though its device heard "good": say so
    // once, naming the accounts that had the token.
    for (const auto& [key, state] : states_) {
        if (!state.queued || !tokenFor(key))
            continue;
        // Not captured by the lambda itself: clang 14 cannot capture a structured binding.
        const std::string& queuedKey = key;
        const bool kept = std::any_of(accounts.begin(), accounts.end(), [&](const auto& account) {
            return tokenKey(account.token) == queuedKey;
        });
        if (!kept) {
            DLOG(Warning) << "the update queued for " << usernamesFor(key) << " ("
                          << ipText(state.queued->ip)
                          << ") will not be sent: the reload removed its token";
        }
    }
    accounts_ = std::move(accounts);
    dynamo_ = std::move(dynamo);
    wakeupChanged();
}

std::optional<net::IpAddress> UpdateScheduler::confirmedAddress(
    const config::Account& account) const {
    const auto it = states_.find(tokenKey(account.token));
    if (it == states_.end())
        return std::nullopt;
    return it->second.confirmedIp;
}

std::vector<UpdateScheduler::AccountStatus> UpdateScheduler::snapshot() const {
    const TimePoint now = clock_();
    std::vector<AccountStatus> statuses;
    statuses.reserve(accounts_.size());
    for (const config::Account& account : accounts_) {
        AccountStatus status;
        status.username = account.username;
        status.maskedToken = log::maskSecret(account.token);
        const std::string key = tokenKey(account.token);
        status.callInFlight = inFlight_.contains(key);
        status.selfUpdate = account.selfUpdate;
        if (const auto it = states_.find(key); it != states_.end()) {
            const TokenState& state = it->second;
            status.confirmedIp = state.confirmedIp;
            status.confirmedOrigin = state.confirmedOrigin;
            status.changedAt = state.changedAt;
            status.lastCall = state.lastCall;
            status.lastResult = state.lastResult;
            status.lastResultText = describeResult(state.lastResult);
            status.consecutiveMissing = state.consecutiveMissing;
            status.missingRecord = state.consecutiveMissing >= kMissingRecordThreshold;
            status.queued = state.queued;
            if (status.queued)
                status.queued->nextAttempt = dueAt(key, state, now);
            status.sources = state.sources;
            status.acceptedIp = state.confirmedIp;
            if (const auto call = inFlight_.find(key); call != inFlight_.end() && call->second.ip)
                status.acceptedIp = call->second.ip;
            if (state.queued && state.queued->ip)
                status.acceptedIp = state.queued->ip;
        }
        statuses.push_back(std::move(status));
    }
    return statuses;
}

void UpdateScheduler::boundLastCall(TokenState& state, TimePoint now) const {
    // A last call up to a day ahead is believed (the clock is behind, e.g. fake-hwclock
    // restored an older time; the service's window is real time): wait for it. Further ahead,
    // the clock went back by more than any window: waiting for it would stall the token.
    if (state.lastCall && *state.lastCall > now + StateStore::kMaxAhead)
        state.lastCall = now;
}

void UpdateScheduler::markCalled(const std::string& key, TokenState& state, TimePoint now) {
    state.lastCall = now;
    lastCallSteady_[key] = steadyClock_();
}

std::optional<TimePoint> UpdateScheduler::windowOpensAt(const std::string& key,
                                                        const TokenState& state,
                                                        TimePoint now) const {
    // A call this process made is timed by the steady clock alone: the wall clock can be
    // stepped either way after it (NTP after boot on a Pi without RTC), forward to open the
    // window seconds after the call and earn a TF, or back to keep it shut for the step's length.
    if (const auto it = lastCallSteady_.find(key); it != lastCallSteady_.end()) {
        const auto left = it->second + dynamo_.minInterval - steadyClock_();
        if (left <= SteadyTimePoint::duration::zero())
            return std::nullopt;
        return now + std::chrono::duration_cast<TimePoint::duration>(left);
    }
    // A call from before this process started: only the persisted wall-clock time is known.
    if (state.lastCall)
        return std::min(*state.lastCall, now + StateStore::kMaxAhead) + dynamo_.minInterval;
    return std::nullopt;
}

TimePoint UpdateScheduler::dueAt(const std::string& key, const TokenState& state,
                                 TimePoint now) const {
    TimePoint due = state.queued ? state.queued->nextAttempt : now;
    // A retry time from a clock that has since gone backwards is bounded like last_call.
    due = std::min(due, now + std::max<std::chrono::seconds>(kMaxRetryDelay, dynamo_.minInterval));
    if (const std::optional<TimePoint> opens = windowOpensAt(key, state, now))
        due = std::max(due, *opens);
    return due;
}

const std::string* UpdateScheduler::tokenFor(const std::string& key) const {
    for (const config::Account& account : accounts_) {
        if (tokenKey(account.token) == key)
            return &account.token;
    }
    return nullptr;
}

std::string UpdateScheduler::usernamesFor(const std::string& key) const {
    std::vector<std::string> names;
    for (const config::Account& account : accounts_) {
        if (tokenKey(account.token) == key)
            names.push_back(account.username);
    }
    return joined(names);
}

void UpdateScheduler::startCall(const std::string& key, const std::string& token, Done waiter) {
    const QueuedUpdate& queued = *states_[key].queued;
    const std::optional<net::IpAddress> ip = queued.ip;
    inFlight_[key] = Call{ip, queued.origin, std::move(waiter)};
    std::weak_ptr<bool> alive = alive_;
    api_.update(token, ip, [this, alive, key](const TokenApiResult& result) {
        if (alive.expired())
            return;
        finishCall(key, result);
    });
}

void UpdateScheduler::finishCall(const std::string& key, const TokenApiResult& result) {
    const auto flight = inFlight_.find(key);
    if (flight == inFlight_.end())
        return;
    Call call = std::move(flight->second);
    inFlight_.erase(flight);

    const TimePoint now = clock_();
    TokenState& state = states_[key];
    // The service restarted its window when the call reached it, somewhere between our send
    // and this answer; the answer's time is the safe end. For a call that never reached it
    // (DNS, connect) this only delays the retry, which the back-off does anyway.
    markCalled(key, state, now);
    state.lastResult = resultCode(result);
    const UpdateOutcome outcome =
        result.answered() ? compat::outcomeFor(result.code) : UpdateOutcome::Failed;
    const bool confirmed = outcome != UpdateOutcome::Failed;
    // A newer submit may have replaced the entry while this call was out; that one still waits.
    const bool sentEntryWaiting = state.queued && state.queued->ip == call.ip;

    const std::optional<net::IpAddress> previousIp = state.confirmedIp;
    const bool changed = outcome == UpdateOutcome::Updated && (!call.ip || previousIp != call.ip);
    if (confirmed) {
        // With no ip sent the service published our source address, which we do not know.
        state.confirmedIp = call.ip;
        state.confirmedOrigin = call.origin;
        if (outcome == UpdateOutcome::Updated)
            state.changedAt = now;
        state.consecutiveMissing = 0;
        if (sentEntryWaiting)
            state.queued.reset();
    } else {
        // "In a row" counts NR/ND answers only: a TF or a timeout in between says nothing
        // about the record, so it neither counts nor resets; only a confirmation resets.
        if (isMissingRecord(result))
            state.consecutiveMissing =
                std::min(state.consecutiveMissing + 1, StateStore::kMaxCounter);
        if (sentEntryWaiting) {
            QueuedUpdate& queued = *state.queued;
            queued.attempts = std::min(queued.attempts + 1, StateStore::kMaxCounter);
            // TF: the service only wants the window respected, no back-off beyond it.
            const bool tooFrequent = result.answered() && result.code == TokenApiCode::Tf;
            queued.nextAttempt =
                now + (tooFrequent ? dynamo_.minInterval
                                   : retryDelay(queued.attempts, dynamo_.minInterval));
        }
    }
    saveOrLog("after a token-API answer");

    const std::string names = usernamesFor(key);
    const std::string* token = tokenFor(key);
    const std::string masked = token ? log::maskSecret(*token) : std::string("(removed)");
    if (confirmed) {
        DLOG(Info) << "token API for " << names << " (" << masked << "): " << state.lastResult
                   << " with " << ipText(call.ip);
    } else {
        DLOG(Info)
            << "token API for " << names << " (" << masked << "): " << state.lastResult
            << (result.detail.empty() ? "" : " (" + result.detail + ")")
            << "; retrying at the earliest in "
            << (state.queued
                    ? std::chrono::ceil<std::chrono::seconds>(dueAt(key, state, now) - now).count()
                    : 0)
            << "s";
    }
    if (isMissingRecord(result) && state.consecutiveMissing >= kMissingRecordThreshold) {
        DLOG(Error) << "the DNS Dynamo service answered " << state.lastResult << " "
                    << state.consecutiveMissing << " times in a row for account(s) " << names
                    << " (token " << masked << "): it has no record for this token. Check the "
                    << "token, and if it is right, contact KisoLabs support";
    }

    // Callbacks last: they may submit again or read the snapshot.
    const bool missingNow =
        isMissingRecord(result) && state.consecutiveMissing == kMissingRecordThreshold;
    std::vector<config::Account> confirmedAccounts;
    if (confirmed || missingNow) {
        for (const config::Account& account : accounts_) {
            if (tokenKey(account.token) == key)
                confirmedAccounts.push_back(account);
        }
    }
    const std::string lastResult = state.lastResult;
    wakeupChanged();
    const std::weak_ptr<bool> alive = alive_;
    if (call.waiter)
        call.waiter(outcome);
    // The device's callback may have shut the daemon down.
    if (alive.expired())
        return;
    if (confirmed && hooks_.onConfirmed) {
        for (const config::Account& account : confirmedAccounts)
            hooks_.onConfirmed(account, call.ip, call.origin);
    }
    if (changed && hooks_.onChanged) {
        for (const config::Account& account : confirmedAccounts)
            hooks_.onChanged(account, previousIp, call.ip, call.origin);
    }
    if (missingNow && hooks_.onMissingRecord) {
        for (const config::Account& account : confirmedAccounts)
            hooks_.onMissingRecord(account, lastResult);
    }
}

bool UpdateScheduler::saveState(std::string* error) {
    if (store_.save(states_, error)) {
        if (saveFailures_ > 0) {
            DLOG(Info) << "the update state is stored again (after " << saveFailures_
                       << " failed attempt(s))";
        }
        saveFailures_ = 0;
        saveErrorLoggedAt_.reset();
        return true;
    }
    ++saveFailures_;
    saveRetryAt_ = steadyClock_() + saveRetryDelay(saveFailures_);
    return false;
}

void UpdateScheduler::saveOrLog(std::string_view when) {
    std::string error;
    if (!saveState(&error))
        logSaveFailure("cannot store the update state " + std::string(when), error);
}

void UpdateScheduler::logSaveFailure(std::string_view what, const std::string& error) {
    const SteadyTimePoint now = steadyClock_();
    const auto retry = std::chrono::ceil<std::chrono::seconds>(saveRetryAt_ - now).count();
    if (!saveErrorLoggedAt_ || now - *saveErrorLoggedAt_ >= kSaveErrorLogInterval) {
        saveErrorLoggedAt_ = now;
        DLOG(Error) << what << ": " << error << "; trying again in " << retry << "s";
    } else {
        DLOG(Debug) << what << ": " << error << " (attempt " << saveFailures_
                    << "); trying again in " << retry << "s";
    }
}

void UpdateScheduler::reportDamage(const std::vector<StateProblem>& problems) const {
    for (const StateProblem& problem : problems) {
        std::string entry;
        if (problem.key.empty()) {
            entry = "";
        } else if (const std::string* token = tokenFor(problem.key)) {
            entry = "the entry of account(s) " + usernamesFor(problem.key) + " (token " +
                    log::maskSecret(*token) + "): ";
        } else {
            entry = "the entry of a token no account has (key " + problem.key.substr(0, 8) + "…): ";
        }
        DLOG(Error) << "state file " << store_.path() << ": " << entry << problem.what;
    }
}

void UpdateScheduler::wakeupChanged() {
    if (hooks_.onWakeupChanged)
        hooks_.onWakeupChanged();
}

}  // namespace dynamo::gateway
