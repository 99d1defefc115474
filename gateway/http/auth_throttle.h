#pragma once
// Slows down repeated wrong credentials from one source (docs/updates.md#throttle): the first few
// failures are answered at once (a user mistyping), then each failure puts the source on hold,
// longer each time up to a bound. While a source is on hold, its requests are not checked at all:
// each is answered badauth when the hold ends and counts as another failure, so N parallel
// connections still get one guess per hold, not N. A success outside a hold, or a quiet
// while, forgets the source. Pure: time comes from the caller. Bounded: at most kMaxSources
// are tracked, the stalest forgotten first.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "net/socket_address.h"

namespace dynamo::gateway {

class AuthThrottle {
  public:
    using TimePoint = std::chrono::steady_clock::time_point;

    static constexpr uint32_t kFreeFailures = 3;
    static constexpr std::chrono::seconds kMaxDelay{8};
    static constexpr std::chrono::minutes kForgetAfter{10};
    static constexpr size_t kMaxSources = 4096;

    // What is left of the source's hold; nullopt when it is not on hold. A request from a
    // source on hold is answered badauth after this, unchecked, and recorded with failed().
    std::optional<std::chrono::milliseconds> holding(const net::IpAddress& source,
                                                     TimePoint now) const;
    // Records a failure; returns how long to hold its answer. Outside a hold that starts one
    // (none for the first kFreeFailures); inside one it is the rest of it (not extended).
    std::chrono::milliseconds failed(const net::IpAddress& source, TimePoint now);
    // A held answer went out: its hold is over, even if the timer that sent it ran a little
    // ahead of this clock (libevent's cached, coarse time), so the source's next request is
    // checked, and a failure starts the next, longer hold.
    void holdAnswered(const net::IpAddress& source, TimePoint now);
    // Right credentials: forgets the source, unless it is on hold (then nothing changes).
    void succeeded(const net::IpAddress& source, TimePoint now);
    // Failures counted for the source (0 when it is not tracked).
    uint32_t failures(const net::IpAddress& source) const;
    size_t tracked() const { return sources_.size(); }

  private:
    struct Source {
        uint32_t failures = 0;
        TimePoint last;
        TimePoint holdUntil;
    };
    std::map<std::string, Source> sources_;
};

}  // namespace dynamo::gateway
