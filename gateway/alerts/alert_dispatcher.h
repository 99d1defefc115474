#pragma once
// Delivers alerts to the configured channels (docs/configuration.md#alerts) without ever
// holding up the loop: a webhook or ntfy POST goes through HttpPoster (asynchronous, one
// overall timeout), an exec command is started with posix_spawn (no shell) and reaped from a
// SIGCHLD event on the loop, killed past kExecTimeLimit.
//
// Each channel has its own bounded queue (kMaxQueuedAlerts; the oldest waiting alert is dropped
// and counted), sends one alert at a time, and retries a failed one with back-off
// (alertRetryDelay) up to kMaxAlertAttempts. Events pass the channel's filter and the shared
// rate limit (AlertRateLimiter) first.
//
// One thread, one event_base, no locks.

#include <event2/event.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "gateway/alerts/alert_event.h"
#include "gateway/alerts/alert_policy.h"
#include "gateway/alerts/http_poster.h"
#include "net/handles.h"

namespace dynamo::gateway {

struct AlertChannelStats {
    std::string label;  // channelLabel(): no secret in it
    uint64_t sent = 0;
    uint64_t failed = 0;   // alerts given up after kMaxAlertAttempts (or the one --test-notify try)
    uint64_t dropped = 0;  // pushed out of a full queue
    std::string lastResult;  // "delivered (HTTP 200)", "failed: exit status 3", ...
    std::optional<std::chrono::system_clock::time_point> lastTime;
};

class AlertDispatcher {
  public:
    // Per channel, for --test-notify: delivered or not, and what happened.
    using Report = std::function<void(size_t channel, bool delivered, const std::string& detail)>;

    // nullptr with *error when the TLS context or the resolver cannot be made.
    static std::unique_ptr<AlertDispatcher> create(event_base* base, const config::Config& config,
                                                   std::string* error);
    // Kills (SIGKILL) and reaps exec commands still running; drops what waits.
    ~AlertDispatcher();
    AlertDispatcher(const AlertDispatcher&) = delete;
    AlertDispatcher& operator=(const AlertDispatcher&) = delete;

    // Queues the event on every channel that wants it, if the rate limit lets it through.
    void raise(AlertEvent event);
    // One try on every channel, filters and rate limit ignored, no retry; `report` runs once
    // per channel.
    void sendOnce(const AlertEvent& event, Report report);

    const std::vector<config::AlertChannel>& channels() const { return configs_; }
    std::vector<AlertChannelStats> stats() const;
    uint64_t rateLimited() const { return rateLimited_; }
    // Alerts waiting or being sent, over all channels.
    size_t pending() const;

  private:
    struct Pending {
        AlertEvent event;
        uint32_t attempts = 0;
        uint32_t maxAttempts = kMaxAlertAttempts;
        std::function<void(bool, const std::string&)> report;
    };
    struct Channel {
        AlertDispatcher* owner = nullptr;
        size_t index = 0;
        std::deque<Pending> queue;  // front() is the one being sent or waiting for its retry
        bool sending = false;
        net::EventPtr retryTimer;
        AlertChannelStats stats;
    };
    struct Child {
        size_t channel = 0;
        net::EventPtr killTimer;
        bool killed = false;
        AlertDispatcher* owner = nullptr;
        pid_t pid = 0;
    };

    AlertDispatcher(event_base* base, std::vector<config::AlertChannel> configs);

    void enqueue(size_t index, Pending pending);
    void pump(Channel& channel);
    void deliver(Channel& channel, const AlertEvent& event);
    void spawn(Channel& channel, const AlertEvent& event);
    void finished(size_t index, bool delivered, const std::string& detail);

    static void onRetry(evutil_socket_t, short, void* arg);
    static void onSigchld(evutil_socket_t, short, void* arg);
    static void onKill(evutil_socket_t, short, void* arg);

    event_base* base_;
    std::vector<config::AlertChannel> configs_;
    std::vector<std::unique_ptr<Channel>> channels_;
    std::unique_ptr<HttpPoster> poster_;
    std::map<pid_t, std::unique_ptr<Child>> children_;
    net::EventPtr sigchld_;
    AlertRateLimiter limiter_;
    uint64_t rateLimited_ = 0;
};

}  // namespace dynamo::gateway
