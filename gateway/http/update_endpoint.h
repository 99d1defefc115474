#pragma once
// One DynDNS update, from HTTP request to the device's answer (docs/updates.md#dyndns-updates):
//
//   http_server → compat::parseUpdate() → credentials (compat::findAccount, AuthThrottle)
//     → compat::checkHostnames() → UpdateScheduler::submit() → compat::replyFor()
//
// One thread, one event_base, no locks.

#include <event2/event.h>

#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "compat/dyndns_reply.h"
#include "config/config.h"
#include "gateway/http/auth_throttle.h"
#include "gateway/http/http_server.h"
#include "gateway/http/update_stats.h"
#include "gateway/updates/update_scheduler.h"
#include "net/handles.h"

namespace dynamo::gateway {

class UpdateEndpoint {
  public:
    UpdateEndpoint(event_base* base, std::vector<config::Account> accounts,
                   UpdateScheduler& scheduler);

    // True when the path is an update path and the exchange was taken (answered now or later).
    bool handle(const std::shared_ptr<HttpExchange>& exchange);
    void setAccounts(std::vector<config::Account> accounts) { accounts_ = std::move(accounts); }
    // The names the account's devices last updated: for an account without an allow-list,
    // the names whose cached answers an accepted update makes stale.
    const std::vector<std::string>& recentHostnames(const std::string& username) const;

    using Stats = UpdateStats;  // gateway/http/update_stats.h
    const Stats& stats() const { return stats_; }

    // At most this many answers are held back by the throttle at a time.
    static constexpr size_t kMaxDelayed = 256;
    size_t delayedReplies() const { return delayed_.size(); }

  private:
    // An answer held back by the throttle; the list owns it and its timer (address-stable).
    struct DelayedReply {
        UpdateEndpoint* owner;
        std::list<DelayedReply>::iterator position;
        std::shared_ptr<HttpExchange> exchange;
        HttpResponse response;
        net::EventPtr timer;
    };
    static void onDelayElapsed(evutil_socket_t, short, void* arg);
    void replyLater(const std::shared_ptr<HttpExchange>& exchange, HttpResponse response,
                    std::chrono::milliseconds delay);
    void count(compat::UpdateOutcome outcome);

    event_base* base_;
    std::vector<config::Account> accounts_;
    UpdateScheduler& scheduler_;
    AuthThrottle throttle_;
    std::list<DelayedReply> delayed_;
    std::map<std::string, std::vector<std::string>> recentHostnames_;  // by user name
    Stats stats_;
};

HttpResponse toHttpResponse(const compat::DyndnsReply& reply);

}  // namespace dynamo::gateway
