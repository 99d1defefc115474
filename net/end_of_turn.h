#pragma once
// Work done once at the end of the current turn of the event loop, however often it is asked
// for during the turn: an event made active now runs after the callbacks already ready (the
// upstream sockets found readable together), so what they queued leaves in one system call.

#include <event2/event.h>

#include <functional>
#include <utility>

#include "net/handles.h"

namespace dynamo::net {

class EndOfTurn {
  public:
    EndOfTurn(event_base* base, std::function<void()> work)
        : work_(std::move(work)), event_(event_new(base, -1, 0, &EndOfTurn::onEvent, this)) {}
    EndOfTurn(const EndOfTurn&) = delete;
    EndOfTurn& operator=(const EndOfTurn&) = delete;

    void schedule() {
        if (!scheduled_) {
            scheduled_ = true;
            event_active(event_.get(), EV_TIMEOUT, 0);
        }
    }

  private:
    static void onEvent(evutil_socket_t, short, void* arg) {
        auto* self = static_cast<EndOfTurn*>(arg);
        self->scheduled_ = false;
        self->work_();
    }
    std::function<void()> work_;
    EventPtr event_;
    bool scheduled_ = false;
};

}  // namespace dynamo::net
