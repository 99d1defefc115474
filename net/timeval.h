#pragma once
// libevent takes its timeouts as struct timeval; the daemon keeps std::chrono durations.

#include <sys/time.h>

#include <chrono>

namespace dynamo::net {

// Milliseconds and seconds convert exactly; finer durations are duration_cast first.
constexpr timeval toTimeval(std::chrono::microseconds duration) {
    return {static_cast<time_t>(duration.count() / 1'000'000),
            static_cast<suseconds_t>(duration.count() % 1'000'000)};
}

}  // namespace dynamo::net
