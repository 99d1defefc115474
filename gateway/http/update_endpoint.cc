#include "gateway/http/update_endpoint.h"

#include <algorithm>

#include "compat/credentials.h"
#include "compat/hostname.h"
#include "compat/publish_address.h"
#include "compat/update_request.h"
#include "net/log.h"
#include "net/timeval.h"

namespace dynamo::gateway {

namespace {

std::string myipText(const compat::MyIp& myip) {
    switch (myip.form) {
        case compat::MyIp::Form::Absent:
            return "";
        case compat::MyIp::Form::Empty:
            return "(empty)";
        case compat::MyIp::Form::Invalid:
            return "(invalid)";
        case compat::MyIp::Form::Address:
            break;
    }
    std::string text = myip.v4 ? myip.v4->toString() : "";
    if (myip.v6)
        text += (text.empty() ? "" : ",") + myip.v6->toString();
    return text;
}

// What the device list keeps of a request: never the password.
UpdateSeen seenFrom(const compat::HttpRequest& request, const compat::UpdateRequest& update,
                    UpdateAuth auth) {
    UpdateSeen seen;
    seen.client = request.client;
    seen.auth = auth;
    seen.username = update.credentials ? update.credentials->username : "";
    seen.userAgent = request.userAgent;
    seen.hostnames = update.hostnames;
    seen.myip = myipText(update.myip);
    return seen;
}

}  // namespace

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
        observe(seenFrom(request, update, UpdateAuth::kNone),
                toHttpResponse(compat::badAuthReply()));
        return true;
    }
    const auto now = std::chrono::steady_clock::now();
    if (const auto hold = throttle_.holding(request.client, now)) {
        // On hold after repeated failures: not even a right password is checked, or parallel
        // connections would each get a guess per hold.
        ++stats_.badAuth;
        throttle_.failed(request.client, now);
        DLOG(Debug) << "update from " << request.client.toString() << ": on hold after "
                    << throttle_.failures(request.client)
                    << " bad credentials; answered badauth unchecked";
        observe(seenFrom(request, update, UpdateAuth::kOnHold),
                toHttpResponse(compat::badAuthReply()));
        replyLater(exchange, toHttpResponse(compat::badAuthReply()), *hold);
        return true;
    }
    const config::Account* account = compat::findAccount(accounts_, *update.credentials);
    if (account == nullptr) {
        ++stats_.badAuth;
        const auto delay = throttle_.failed(request.client, now);
        // The first failure of a source is worth a line; a flood of them is not worth the SD
        // card's writes. The name is the client's: printable() keeps it to one honest line.
        const uint32_t failures = throttle_.failures(request.client);
        if (failures <= 1) {
            DLOG(Info) << "update from " << request.client.toString()
                       << ": bad credentials for user '"
                       << log::printable(update.credentials->username) << "'";
        } else {
            DLOG(Debug) << "update from " << request.client.toString()
                        << ": bad credentials for user '"
                        << log::printable(update.credentials->username) << "' (" << failures
                        << " failures)";
        }
        const bool knownUser =
            std::any_of(accounts_.begin(), accounts_.end(), [&](const config::Account& known) {
                return known.username == update.credentials->username;
            });
        observe(seenFrom(request, update,
                         knownUser ? UpdateAuth::kBadPassword : UpdateAuth::kUnknownUser),
                toHttpResponse(compat::badAuthReply()));
        replyLater(exchange, toHttpResponse(compat::badAuthReply()), delay);
        return true;
    }
    throttle_.succeeded(request.client, now);

    const compat::HostnameCheck hosts = compat::checkHostnames(update.hostnames, *account);
    UpdateSeen seen = seenFrom(request, update, UpdateAuth::kOk);
    if (!hosts.anyAccepted()) {
        exchange->reply(toHttpResponse(compat::replyFor(hosts)));
        observe(std::move(seen), toHttpResponse(compat::replyFor(hosts)));
        return true;
    }
    std::vector<std::string> accepted;
    for (size_t i = 0; i < hosts.hosts.size(); ++i) {
        if (hosts.hosts[i] == compat::HostnameVerdict::Ok)
            accepted.push_back(update.hostnames[i]);
    }

    const std::optional<net::IpAddress> publish = compat::addressToPublish(update.myip);
    DLOG(Info) << "update from " << request.client.toString() << " for '" << account->username
               << "': " << (publish ? publish->toString() : "no public myip, service decides");
    recentHostnames_[account->username] = accepted;
    const config::Account accountCopy = *account;  // accounts_ may be replaced by a reload
    scheduler_.submit(
        *account, publish, accepted,
        [this, exchange, hosts, publish, accountCopy, myip = update.myip,
         seen = std::move(seen)](compat::UpdateOutcome outcome) {
            count(outcome);
            const auto shown =
                compat::replyAddress(publish, scheduler_.confirmedAddress(accountCopy), myip);
            const HttpResponse response = toHttpResponse(compat::replyFor(hosts, outcome, shown));
            exchange->reply(response);
            observe(seen, response);
        },
        request.client);
    return true;
}

const std::vector<std::string>& UpdateEndpoint::recentHostnames(const std::string& username) const {
    static const std::vector<std::string> kNone;
    const auto it = recentHostnames_.find(username);
    return it == recentHostnames_.end() ? kNone : it->second;
}

void UpdateEndpoint::observe(UpdateSeen seen, const HttpResponse& response) const {
    if (observer_ == nullptr)
        return;
    seen.reply = response.body;
    observer_->updateSeen(seen);
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
    // Bounded: past kMaxDelayed held answers (a flood from many sources) the answer goes at
    // once. Nothing is learnt from it: a source is on hold from its failure on, and requests
    // during the hold are answered unchecked.
    if (delay.count() <= 0 || delayed_.size() >= kMaxDelayed) {
        exchange->reply(response);
        return;
    }
    auto& entry = delayed_.emplace_back(DelayedReply{this, {}, exchange, std::move(response), {}});
    entry.position = std::prev(delayed_.end());
    entry.timer.reset(evtimer_new(base_, &UpdateEndpoint::onDelayElapsed, &entry));
    const timeval wait = net::toTimeval(delay);
    evtimer_add(entry.timer.get(), &wait);
}

void UpdateEndpoint::onDelayElapsed(evutil_socket_t, short, void* arg) {
    auto* entry = static_cast<DelayedReply*>(arg);
    entry->owner->throttle_.holdAnswered(entry->exchange->request().client,
                                         std::chrono::steady_clock::now());
    entry->exchange->reply(entry->response);
    entry->owner->delayed_.erase(entry->position);  // frees this timer: nothing touches it after
}

}  // namespace dynamo::gateway
