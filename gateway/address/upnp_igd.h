#pragma once
// UPnP IGD as far as the public address needs it: the SSDP search (UPnP Device Architecture
// 1.1 §1.3.2), the LOCATION of a reply, the device description's WAN connection service and
// its controlURL (§2.3), the SOAP action GetExternalIPAddress (WANIPConnection:1/2,
// WANPPPConnection:1) and its answer. Pure and bounded: every input is the LAN's, untrusted; no
// XML library, only what these three documents need.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/socket_address.h"

namespace dynamo::gateway {

inline constexpr uint16_t kSsdpPort = 1900;
inline constexpr std::string_view kSsdpMulticast = "239.255.255.250";
// The services that answer GetExternalIPAddress, in the order they are tried.
inline constexpr std::string_view kWanServiceTypes[] = {
    "urn:schemas-upnp-org:service:WANIPConnection:2",
    "urn:schemas-upnp-org:service:WANIPConnection:1",
    "urn:schemas-upnp-org:service:WANPPPConnection:1",
};
// Bounds on what is read from the device (a description is a few kilobytes).
inline constexpr size_t kMaxUrlLength = 512;
inline constexpr size_t kMaxDescriptionBytes = 64 * 1024;
inline constexpr size_t kMaxSoapBytes = 16 * 1024;
inline constexpr size_t kMaxServices = 8;

// An M-SEARCH for one service type; `host` is the HOST header ("239.255.255.250:1900", or the
// router's address for a unicast search, §1.3.2).
std::string ssdpSearch(std::string_view searchTarget, std::string_view host);

// The LOCATION of a search reply ("HTTP/1.1 200 OK" and headers); nullopt when the datagram is
// not one or has none.
std::optional<std::string> ssdpLocation(std::string_view datagram);

// http://host[:port]/path with an IPv4 literal host (a router's description names itself by
// address); nothing else is fetched. The path is printable ASCII without spaces, so it can go
// into a request line as it is.
struct HttpUrl {
    net::IpAddress host;
    uint16_t port = 80;
    std::string path = "/";

    std::string hostHeader() const;  // "192.168.1.1:5000"
    std::string toString() const;
};
std::optional<HttpUrl> parseHttpUrl(std::string_view text);
// A reference from the description (absolute "http://...", "/ctl/IPConn" or "ctl/IPConn")
// against the URL it came from (§2.3: URLBase when the description has one, else LOCATION).
std::optional<HttpUrl> resolveUrl(const HttpUrl& base, std::string_view reference);

// The WAN connection services of a device description, in kWanServiceTypes order.
struct WanService {
    std::string serviceType;
    HttpUrl control;
};
std::vector<WanService> wanServices(std::string_view description, const HttpUrl& location);

// Whole HTTP/1.1 requests, "Connection: close".
std::string httpGet(const HttpUrl& url);
std::string soapGetExternalIpAddress(const WanService& service);

// The answer to GetExternalIPAddress: the address, or why not ("UPnP error 501: Action
// Failed", "HTTP 404", "no NewExternalIPAddress"). An empty or 0.0.0.0 address (miniupnpd's
// answer when its WAN address is private or reserved) is an error, not an address.
struct SoapAnswer {
    std::optional<net::IpAddress> address;
    std::string error;
};
SoapAnswer parseGetExternalIpAddress(int httpStatus, std::string_view body);

// The text of the first element with this local name (any namespace prefix), entities
// decoded and surrounding whitespace trimmed; nullopt when there is none. Comments,
// processing instructions and CDATA are skipped, never looked into.
std::optional<std::string> xmlElementText(std::string_view xml, std::string_view localName);

}  // namespace dynamo::gateway
