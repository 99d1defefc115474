#include "net/accept_backoff.h"

#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "net/log.h"

namespace dynamo::net {
namespace {
// libevent hands the error callback the listener's accept argument (ours or evhttp's), not a
// separate one: find the backoff by its listener. One thread: no lock.
std::unordered_map<evconnlistener*, AcceptBackoff*>& registry() {
    static std::unordered_map<evconnlistener*, AcceptBackoff*> backoffs;
    return backoffs;
}
constexpr timeval kPause{1, 0};
}  // namespace

AcceptBackoff::AcceptBackoff(evconnlistener* listener)
    : listener_(listener),
      resume_(evtimer_new(evconnlistener_get_base(listener), &AcceptBackoff::onResume, this)) {
    registry()[listener_] = this;
    evconnlistener_set_error_cb(listener_, &AcceptBackoff::onError);
}

AcceptBackoff::~AcceptBackoff() {
    registry().erase(listener_);
}

void AcceptBackoff::onError(evconnlistener* listener, void*) {
    const int error = EVUTIL_SOCKET_ERROR();
    const auto found = registry().find(listener);
    if (found == registry().end())
        return;
    AcceptBackoff* self = found->second;
    if (error != EMFILE && error != ENFILE && error != ENOBUFS && error != ENOMEM)
        return;
    if (self->pauses_++ == 0 || self->pauses_ % 60 == 0) {
        DLOG(Warning) << "cannot accept connections: " << std::strerror(error)
                      << "; pausing the listener for a second";
    }
    evconnlistener_disable(listener);
    evtimer_add(self->resume_.get(), &kPause);
}

void AcceptBackoff::onResume(evutil_socket_t, short, void* arg) {
    evconnlistener_enable(static_cast<AcceptBackoff*>(arg)->listener_);
}

}  // namespace dynamo::net
