#pragma once
// When accept() fails for want of descriptors (EMFILE, ENFILE) or memory, a libevent 2.1
// listener has no error callback, logs, and stays armed: the pending connection makes it fire
// again at once and the loop spins. This pauses the listener for a second instead, so the
// rest of the daemon (UDP DNS, open connections, timers) keeps running while descriptors free.
// Owned beside its listener (the listener keeps a pointer to it); one thread.

#include <event2/listener.h>

#include <cstdint>

#include "net/handles.h"

namespace dynamo::net {

class AcceptBackoff {
  public:
    explicit AcceptBackoff(evconnlistener* listener);
    ~AcceptBackoff();
    AcceptBackoff(const AcceptBackoff&) = delete;
    AcceptBackoff& operator=(const AcceptBackoff&) = delete;

    uint64_t pauses() const { return pauses_; }

  private:
    static void onError(evconnlistener* listener, void* arg);
    static void onResume(evutil_socket_t, short, void* arg);

    evconnlistener* listener_;
    EventPtr resume_;
    uint64_t pauses_ = 0;
};

}  // namespace dynamo::net
