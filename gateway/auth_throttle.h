#pragma once
// Slows down repeated wrong credentials from one source (SPEC §6): the first few failures are
// answered at once (a user mistyping), then each answer waits longer, up to a bound, so a
// password cannot be guessed at line speed. Success from the source, or a quiet while, forgets
// it. Pure: time comes from the caller. Bounded: at most kMaxSources are tracked, the stalest
// forgotten first.

#include <chrono>
#include <cstdint>
#include <map>
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

    // Records a failure; returns how long to hold its answer.
    std::chrono::milliseconds failed(const net::IpAddress& source, TimePoint now);
    void succeeded(const net::IpAddress& source) { sources_.erase(source.toString()); }
    size_t tracked() const { return sources_.size(); }

  private:
    struct Source {
        uint32_t failures = 0;
        TimePoint last;
    };
    std::map<std::string, Source> sources_;
};

}  // namespace dynamo::gateway
