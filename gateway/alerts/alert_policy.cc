#include "gateway/alerts/alert_policy.h"

#include <algorithm>
#include <set>

#include "gateway/status/status_report.h"

namespace dynamo::gateway {

std::chrono::seconds alertRetryDelay(uint32_t attempts) {
    std::chrono::seconds delay = kAlertFirstRetry;
    for (uint32_t i = 1; i < attempts && delay < kAlertMaxRetry; ++i)
        delay *= 2;
    return std::min(delay, kAlertMaxRetry);
}

bool AlertRateLimiter::admit(const AlertEvent& event, Clock::time_point now) {
    if (event.kind == AlertKind::Test)
        return true;
    while (!lastHour_.empty() && now - lastHour_.front() >= std::chrono::hours(1))
        lastHour_.pop_front();
    const auto key = std::make_pair(event.kind, event.account);
    const auto last = lastByKey_.find(key);
    if (last != lastByKey_.end() && now - last->second < quietPeriod_)
        return false;
    if (lastHour_.size() >= perHour_)
        return false;
    lastByKey_[key] = now;
    lastHour_.push_back(now);
    // Keys of a quiet period long past say nothing any more; keep the map small.
    std::erase_if(lastByKey_, [&](const auto& entry) {
        return now - entry.second >= quietPeriod_ && entry.first != key;
    });
    return true;
}

bool DnsDownWatch::observe(uint64_t sent, uint64_t failed, size_t inFlight, Clock::time_point now,
                           std::chrono::seconds after) {
    const uint64_t settled = sent >= inFlight ? sent - inFlight : 0;
    const uint64_t answered = settled >= failed ? settled - failed : 0;
    if (answered > answered_) {
        answered_ = answered;
        failed_ = failed;
        failingSince_.reset();
        down_ = false;
        return false;
    }
    if (failed > failed_) {
        failed_ = failed;
        if (!failingSince_)
            failingSince_ = now;
    }
    if (failingSince_ && !down_ && now - *failingSince_ >= after) {
        down_ = true;
        return true;
    }
    return false;
}

std::vector<AlertEvent> FailingWatch::check(
    const std::vector<UpdateScheduler::AccountStatus>& accounts, TimePoint now,
    std::chrono::seconds after) {
    std::vector<AlertEvent> events;
    std::set<std::string> waiting;
    for (const auto& account : accounts) {
        if (!account.queued)
            continue;
        waiting.insert(account.username);
        const TimePoint accepted = account.queued->acceptedAt;
        if (now - accepted < after)
            continue;
        const auto seen = reported_.find(account.username);
        if (seen != reported_.end() && seen->second == accepted)
            continue;
        reported_[account.username] = accepted;
        AlertEvent event;
        event.kind = AlertKind::Failing;
        event.account = account.username;
        event.time = now;
        event.message = "the update for " + account.username + " has waited " +
                        describeDuration(std::chrono::floor<std::chrono::seconds>(now - accepted)) +
                        " (" + std::to_string(account.queued->attempts) + " failed calls" +
                        (account.lastResult.empty() ? "" : ", last: " + account.lastResult) + ")";
        event.fields.emplace_back("queued_since", formatRfc3339(accepted));
        event.fields.emplace_back("attempts", std::to_string(account.queued->attempts));
        event.fields.emplace_back("last_result", account.lastResult);
        events.push_back(std::move(event));
    }
    std::erase_if(reported_, [&](const auto& entry) { return !waiting.contains(entry.first); });
    return events;
}

}  // namespace dynamo::gateway
