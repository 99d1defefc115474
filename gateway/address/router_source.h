#pragma once
// The router as a source of the public address: it knows its own external (WAN) address and
// says it when asked by NAT-PMP (RFC 6886 §3.2), PCP (RFC 6887) or UPnP IGD
// (WANIPConnection:GetExternalIPAddress). Tried in that order; the first that answers wins.
// NAT-PMP and PCP get a quarter of the timeout each, UPnP the rest; an error answer lists what
// each protocol said ("NAT-PMP result 3: network failure; PCP: no answer; UPnP: ...").

#include <event2/event.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "gateway/address/address_source.h"
#include "net/socket_address.h"

namespace dynamo::gateway {

struct RouterSourceOptions {
    // The router: nullopt = the default gateway of the IPv4 routing table (auto). A port, when
    // given, replaces NAT-PMP/PCP's 5351 (tests run a responder on loopback).
    std::optional<net::SocketAddress> router;
    std::chrono::milliseconds timeout{3000};  // for one ask(), all three protocols together
    // Where the router's SSDP (UPnP discovery) listens; tests run a device on another port.
    uint16_t ssdpPort = 1900;
};

// nullptr and *error when the options cannot work (no default route for auto, say).
std::unique_ptr<AddressSource> makeRouterSource(event_base* base,
                                                const RouterSourceOptions& options,
                                                std::string* error);

}  // namespace dynamo::gateway
