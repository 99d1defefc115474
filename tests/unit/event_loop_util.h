#pragma once
// Runs a test's event loop until a condition holds or a deadline passes: tests wait for what
// they expect, never for a fixed time.

#include <event2/event.h>

#include <chrono>
#include <functional>

namespace dynamo::test {

inline bool runUntil(event_base* base, const std::function<bool()>& done,
                     std::chrono::milliseconds deadline = std::chrono::milliseconds(5000)) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= end)
            return false;
        // A short timer bounds each turn so the deadline is checked even when nothing happens.
        event* tick = evtimer_new(
            base, [](evutil_socket_t, short, void*) {}, nullptr);
        const timeval tenMs{0, 10000};
        evtimer_add(tick, &tenMs);
        event_base_loop(base, EVLOOP_ONCE);
        event_free(tick);
    }
    return true;
}

}  // namespace dynamo::test
