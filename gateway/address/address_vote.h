#pragma once
// Which public address to believe, from what the sources said (README "Keeping the address
// current without a device"): an address two voices agree on, or the one configured source's
// when there is only one. Devices' public myip is one more voice. Only a public IPv4 address is
// ever believed; a router whose external address is private or carrier-grade NAT (RFC 6598), or
// differs from what the Internet sees, means incoming connections cannot reach this network.
//
// Pure: no clock, no I/O, so the rules are tested on their own.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/socket_address.h"

namespace dynamo::gateway {

// What kind of address a source reported, for the log and the status page.
enum class AddressClass {
    Public,
    Private,    // RFC 1918: 10/8, 172.16/12, 192.168/16
    Shared,     // RFC 6598: 100.64.0.0/10, carrier-grade NAT
    LinkLocal,  // RFC 3927: 169.254/16
    Loopback,   // 127/8
    Other,      // anything else that is not public (documentation ranges, IPv6, multicast...)
};

AddressClass classifyAddress(const net::IpAddress& address);
// "public", "private (RFC 1918)", "carrier-grade NAT (RFC 6598)", ...
std::string_view describeClass(AddressClass kind);

// One source's say in one round.
struct Voice {
    std::string kind;    // "router", "dns", "http", "device"
    std::string source;  // "dns myip.opendns.com@208.67.222.222", "device 192.168.1.20"
    std::optional<net::IpAddress> address;  // nullopt: it failed
};

struct Verdict {
    std::optional<net::IpAddress> believed;  // public IPv4 only
    std::vector<std::string> agreeing;       // sources of the believed address
    std::string disagreement;  // "" or "1.2.3.4 (dns a, http b) against 5.6.7.8 (router)"
    std::string cgnat;         // "" or why incoming connections will not reach this network
};

// `configuredSources`: how many sources the configuration asks (devices not counted); with
// exactly one, its public answer is believed alone.
Verdict decide(const std::vector<Voice>& voices, size_t configuredSources);

// One source's last answer, for /status and /status.json.
struct SourceState {
    std::string kind;
    std::string source;
    std::optional<net::IpAddress> address;
    std::string error;  // "" when address is set
    std::optional<std::chrono::system_clock::time_point> at;
};

// What the monitor knows, as the status page shows it.
struct PublicAddressState {
    bool enabled = false;  // public_address configured or a self_update account
    std::vector<SourceState> sources;
    std::optional<net::IpAddress> believed;
    std::vector<std::string> agreeing;
    std::optional<std::chrono::system_clock::time_point> believedSince;
    std::string disagreement;
    std::string cgnat;
    std::optional<std::chrono::system_clock::time_point> lastRound;
    uint64_t rounds = 0;         // finished
    uint64_t disagreements = 0;  // rounds that ended with sources disagreeing
};

}  // namespace dynamo::gateway
