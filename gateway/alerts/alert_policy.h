#pragma once
// How often alerts may go out, and when a failed delivery is tried again. Pure: time comes in
// as an argument, so tests move it instead of sleeping.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "gateway/alerts/alert_event.h"
#include "gateway/updates/update_scheduler.h"

namespace dynamo::gateway {

// A flapping link must not send hundreds of messages: one event of a kind per account per
// kAlertQuietPeriod, and at most kAlertsPerHour events in any hour, over all kinds.
inline constexpr std::chrono::minutes kAlertQuietPeriod{10};
inline constexpr size_t kAlertsPerHour = 20;

// Delivery: kMaxAlertAttempts tries per channel, kAlertFirstRetry after the first failure and
// doubling up to kAlertMaxRetry; at most kMaxQueuedAlerts waiting per channel (the oldest go).
inline constexpr uint32_t kMaxAlertAttempts = 5;
inline constexpr std::chrono::seconds kAlertFirstRetry{5};
inline constexpr std::chrono::seconds kAlertMaxRetry{300};
inline constexpr size_t kMaxQueuedAlerts = 32;
// An exec command still running after this is killed (SIGKILL) and counts as failed.
inline constexpr std::chrono::seconds kExecTimeLimit{30};

// Delay before try number attempts+1, after `attempts` (>= 1) failed ones.
std::chrono::seconds alertRetryDelay(uint32_t attempts);

class AlertRateLimiter {
  public:
    using Clock = std::chrono::steady_clock;

    AlertRateLimiter(std::chrono::seconds quietPeriod = kAlertQuietPeriod,
                     size_t perHour = kAlertsPerHour)
        : quietPeriod_(quietPeriod), perHour_(perHour) {}

    // True when the event may go out now (and counts it); "test" events always may and are
    // not counted.
    bool admit(const AlertEvent& event, Clock::time_point now);

  private:
    std::chrono::seconds quietPeriod_;
    size_t perHour_;
    std::map<std::pair<AlertKind, std::string>, Clock::time_point> lastByKey_;
    std::deque<Clock::time_point> lastHour_;
};

// "dns_down": every upstream failing for alerts.dns_down_after. Fed the forwarder's counters
// (resolver/dns_stats.h) now and then: a query that went upstream and neither failed nor is
// still in flight was answered. Failures with no answer since the first of them, for `after`,
// raise it once; an answer ends it.
class DnsDownWatch {
  public:
    using Clock = std::chrono::steady_clock;
    // True once when the outage has lasted `after`.
    bool observe(uint64_t sent, uint64_t failed, size_t inFlight, Clock::time_point now,
                 std::chrono::seconds after);
    bool down() const { return down_; }
    // Failing since (nullopt while upstreams answer).
    std::optional<Clock::time_point> failingSince() const { return failingSince_; }

  private:
    uint64_t answered_ = 0;
    uint64_t failed_ = 0;
    std::optional<Clock::time_point> failingSince_;
    bool down_ = false;
};

// "failing": an update still queued alerts.failing_after after the device sent it. Raised once
// per queued update (a newer update for the account starts a new one).
class FailingWatch {
  public:
    std::vector<AlertEvent> check(const std::vector<UpdateScheduler::AccountStatus>& accounts,
                                  TimePoint now, std::chrono::seconds after);

  private:
    std::map<std::string, TimePoint> reported_;  // account → acceptedAt of the update reported
};

}  // namespace dynamo::gateway
