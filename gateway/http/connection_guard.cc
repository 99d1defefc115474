#include "gateway/http/connection_guard.h"

#include <event2/buffer.h>
#include <sys/socket.h>

#include "net/log.h"
#include "net/timeval.h"

namespace dynamo::gateway {
namespace {

// bufferevent_free() clears the callbacks before it drops evhttp's reference; a live evhttp
// connection always has its event callback set.
bool finished(bufferevent* bev) {
    bufferevent_event_cb eventCallback = nullptr;
    bufferevent_getcb(bev, nullptr, nullptr, &eventCallback, nullptr);
    return eventCallback == nullptr;
}

}  // namespace

HttpConnectionGuard::HttpConnectionGuard(event_base* base, Limits limits)
    : limits_(limits), sweepTimer_(evtimer_new(base, &HttpConnectionGuard::onSweep, this)) {}

void HttpConnectionGuard::admit(bufferevent* bev) {
    if (bev == nullptr)
        return;
    dropFinished();
    bufferevent_incref(bev);
    Entry entry{net::BufferEventRef(bev), std::chrono::steady_clock::now()};
    if (entries_.size() >= limits_.maxConnections) {
        entry.refuse = true;
        ++refused_;
        if (entry.admitted - lastCapWarning_ >= std::chrono::minutes(1)) {
            lastCapWarning_ = entry.admitted;
            DLOG(Warning) << "http: " << entries_.size()
                          << " connections open, the most allowed; closing new ones";
        }
    }
    const bool refuse = entry.refuse;
    entries_.push_back(std::move(entry));
    if (refuse) {
        // At the loop's next turn, once evhttp has given the bufferevent its socket.
        event_active(sweepTimer_.get(), EV_TIMEOUT, 1);
    } else {
        armSweep();
    }
}

void HttpConnectionGuard::onSweep(evutil_socket_t, short, void* arg) {
    static_cast<HttpConnectionGuard*>(arg)->sweep();
}

void HttpConnectionGuard::sweep() {
    dropFinished();
    const auto now = std::chrono::steady_clock::now();
    for (Entry& entry : entries_) {
        if (entry.shut)
            continue;
        const bool tooOld = now - entry.admitted >= limits_.maxLifetime;
        bufferevent* bev = entry.bev.get();
        // Reading off: a request waits for our answer (see the header). Output pending: an
        // answer is being written (evhttp keeps reading then, to notice a close).
        const bool waiting = (bufferevent_get_enabled(bev) & EV_READ) == 0 ||
                             evbuffer_get_length(bufferevent_get_output(bev)) > 0;
        const bool expire = tooOld && !waiting;
        if (!entry.refuse && !expire)
            continue;
        const evutil_socket_t fd = bufferevent_getfd(bev);
        if (fd < 0)
            continue;
        ::shutdown(fd, SHUT_RDWR);
        entry.shut = true;
        if (!entry.refuse) {
            ++expired_;
            DLOG(Debug) << "http: a connection open for over " << limits_.maxLifetime.count() / 1000
                        << " s closed";
        }
    }
    armSweep();
}

void HttpConnectionGuard::dropFinished() {
    std::erase_if(entries_, [](const Entry& entry) { return finished(entry.bev.get()); });
}

void HttpConnectionGuard::armSweep() {
    if (entries_.empty() || evtimer_pending(sweepTimer_.get(), nullptr))
        return;
    const timeval interval = net::toTimeval(limits_.sweepInterval);
    evtimer_add(sweepTimer_.get(), &interval);
}

}  // namespace dynamo::gateway
