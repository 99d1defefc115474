#pragma once
// Learns the network's public IPv4 address by asking its sources in turn (the router, DNS
// whoami names, HTTP echo pages; README "Keeping the address current without a device"), every
// `interval` and never more than once a minute, and believes an address two of them agree on
// (address_vote.h). A device's public myip is one more voice. Carrier-grade or double NAT is
// logged once and reported through a hook; a private address is never believed.
//
// One thread, one event_base, no locks.

#include <event2/event.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/address/address_source.h"
#include "gateway/address/address_vote.h"
#include "net/handles.h"

namespace dynamo::gateway {

// Rounds start at least this far apart, whatever asks for one: the echo services are free and
// shared, and a flapping link must not turn into a flood of questions.
inline constexpr std::chrono::seconds kMinRoundGap{60};

class PublicAddressMonitor {
  public:
    struct Hooks {
        // The believed address changed (or was found for the first time).
        std::function<void(const net::IpAddress& address)> onBelieved;
        // Carrier-grade or double NAT was detected (again after it had cleared): `reason` says
        // what showed it.
        std::function<void(const std::string& reason)> onCgnat;
    };

    PublicAddressMonitor(event_base* base, Hooks hooks);
    ~PublicAddressMonitor();
    PublicAddressMonitor(const PublicAddressMonitor&) = delete;
    PublicAddressMonitor& operator=(const PublicAddressMonitor&) = delete;

    // The sources and how often to ask them (the first call, and a reload that changed
    // public_address). A round in flight is abandoned; the next starts at once, or a minute
    // after the previous one started, whichever is later. The believed address stays.
    void configure(std::vector<std::unique_ptr<AddressSource>> sources,
                   std::chrono::seconds interval);
    // A round as soon as the one-minute bound allows.
    void askSoon();
    // A device's accepted update carried this myip: one more voice, weighed with the last
    // round's answers at once (only a public address counts).
    void deviceReported(const std::string& device, const net::IpAddress& address);

    PublicAddressState state() const;

  private:
    static void onTimer(evutil_socket_t, short, void* arg);
    void scheduleAt(std::chrono::steady_clock::time_point when);
    void startRound();
    void askNext();
    void finishRound();
    void conclude();

    event_base* base_;
    Hooks hooks_;
    net::EventPtr timer_;
    std::vector<std::unique_ptr<AddressSource>> sources_;
    std::chrono::seconds interval_{300};
    uint64_t generation_ = 0;  // answers of an abandoned round carry an older one
    bool roundInFlight_ = false;
    size_t next_ = 0;
    std::vector<Voice> roundVoices_;
    std::vector<Voice> lastVoices_;  // of the last finished round
    std::optional<std::chrono::steady_clock::time_point> lastRoundStart_;
    struct DeviceVoice {
        Voice voice;
        std::chrono::steady_clock::time_point at;
    };
    std::optional<DeviceVoice> device_;
    PublicAddressState state_;
};

// A source that always fails with `error`: a configured source that could not be built (no
// default route for the router, say) still shows on the status page and counts as configured.
std::unique_ptr<AddressSource> makeFailedSource(event_base* base, std::string kind,
                                                std::string label, std::string error);

}  // namespace dynamo::gateway
