#include "gateway/update_endpoint.h"

#include "compat/credentials.h"
#include "compat/hostname.h"
#include "compat/publish_address.h"
#include "compat/update_request.h"
#include "net/log.h"

namespace dynamo::gateway {

HttpResponse toHttpResponse(const compat::DyndnsReply& reply) {
    HttpResponse response{reply.httpStatus, reply.contentType, reply.body, {}};
    if (!reply.wwwAuthenticate.empty()) {
        response.headers.emplace_back("WWW-Authenticate", reply.wwwAuthenticate);
    }
    return response;
}

UpdateEndpoint::UpdateEndpoint(event_base* base, std::vector<config::Account> accounts,
                               UpdateScheduler& scheduler)
    : base_(base), accounts_(std::move(accounts)), scheduler_(scheduler) {}

bool UpdateEndpoint::handle(const std::shared_ptr<HttpExchange>& exchange) {
    const compat::HttpRequest& request = exchange->request();
    const compat::ParsedUpdate parsed = compat::parseUpdate(request);
    if (parsed.status == compat::ParsedUpdate::Status::NotFound)
        return false;
    ++stats_.requests;
    if (parsed.status == compat::ParsedUpdate::Status::MethodNotAllowed) {
        exchange->reply({405, "text/plain", "method not allowed\n", {{"Allow", "GET, POST"}}});
        return true;
    }

    const compat::UpdateRequest& update = parsed.request;
    if (!update.credentials) {
        // The challenge, not a failure: wget-based firmware sends credentials only after it.
        exchange->reply(toHttpResponse(compat::badAuthReply()));
        return true;
    }
    const config::Account* account = compat::findAccount(accounts_, *update.credentials);
    if (account == nullptr) {
        ++stats_.badAuth;
        const auto delay = throttle_.failed(request.client, std::chrono::steady_clock::now());
        DLOG(Info) << "update from " << request.client.toString() << ": bad credentials for user '"
                   << update.credentials->username << "'";
        replyLater(exchange, toHttpResponse(compat::badAuthReply()), delay);
        return true;
    }
    throttle_.succeeded(request.client);

    const compat::HostnameCheck hosts = compat::checkHostnames(update.hostnames, *account);
    if (!hosts.anyAccepted()) {
        exchange->reply(toHttpResponse(compat::replyFor(hosts)));
        return true;
    }
    std::vector<std::string> accepted;
    if (hosts.request == compat::HostnameCheck::Request::Ok) {
        for (size_t i = 0; i < hosts.hosts.size(); ++i) {
            if (hosts.hosts[i] == compat::HostnameVerdict::Ok)
                accepted.push_back(update.hostnames[i]);
        }
    }

    const std::optional<net::IpAddress> publish = compat::addressToPublish(update.myip);
    DLOG(Info) << "update from " << request.client.toString() << " for '" << account->username
               << "': " << (publish ? publish->toString() : "no public myip, service decides");
    recentHostnames_[account->username] = accepted;
    const config::Account accountCopy = *account;  // accounts_ may be replaced by a reload
    scheduler_.submit(*account, publish, accepted,
                      [this, exchange, hosts, publish, accountCopy,
                       myip = update.myip](compat::UpdateOutcome outcome) {
                          count(outcome);
                          const auto shown = compat::replyAddress(
                              publish, scheduler_.confirmedAddress(accountCopy), myip);
                          exchange->reply(toHttpResponse(compat::replyFor(hosts, outcome, shown)));
                      });
    return true;
}

const std::vector<std::string>& UpdateEndpoint::recentHostnames(const std::string& username) const {
    static const std::vector<std::string> kNone;
    const auto it = recentHostnames_.find(username);
    return it == recentHostnames_.end() ? kNone : it->second;
}

void UpdateEndpoint::count(compat::UpdateOutcome outcome) {
    switch (outcome) {
        case compat::UpdateOutcome::Updated:
            ++stats_.good;
            break;
        case compat::UpdateOutcome::NoChange:
            ++stats_.noChange;
            break;
        case compat::UpdateOutcome::Queued:
            ++stats_.queued;
            break;
        case compat::UpdateOutcome::Failed:
            ++stats_.failed;
            break;
    }
}

void UpdateEndpoint::replyLater(const std::shared_ptr<HttpExchange>& exchange,
                                HttpResponse response, std::chrono::milliseconds delay) {
    if (delay.count() == 0) {
        exchange->reply(response);
        return;
    }
    auto& entry = delayed_.emplace_back(DelayedReply{this, {}, exchange, std::move(response), {}});
    entry.position = std::prev(delayed_.end());
    entry.timer.reset(evtimer_new(base_, &UpdateEndpoint::onDelayElapsed, &entry));
    const timeval wait{static_cast<time_t>(delay.count() / 1000),
                       static_cast<suseconds_t>((delay.count() % 1000) * 1000)};
    evtimer_add(entry.timer.get(), &wait);
}

void UpdateEndpoint::onDelayElapsed(evutil_socket_t, short, void* arg) {
    auto* entry = static_cast<DelayedReply*>(arg);
    entry->exchange->reply(entry->response);
    entry->owner->delayed_.erase(entry->position);  // frees this timer: nothing touches it after
}

}  // namespace dynamo::gateway
