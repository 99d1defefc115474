#include "net/socket_address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace dynamo::net {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    if (text.empty() || text.size() >= INET6_ADDRSTRLEN)
        return std::nullopt;
    if (text.find('\0') != std::string_view::npos)
        return std::nullopt;  // inet_pton stops there
    std::string buffer(text);
    IpAddress ip;
    if (inet_pton(AF_INET, buffer.c_str(), ip.bytes_.data()) == 1) {
        ip.family_ = AF_INET;
        return ip;
    }
    if (inet_pton(AF_INET6, buffer.c_str(), ip.bytes_.data()) == 1) {
        ip.family_ = AF_INET6;
        return ip;
    }
    return std::nullopt;
}

IpAddress IpAddress::fromV4(const in_addr& addr) {
    IpAddress ip;
    ip.family_ = AF_INET;
    std::memcpy(ip.bytes_.data(), &addr, 4);
    return ip;
}

IpAddress IpAddress::fromV6(const in6_addr& addr) {
    IpAddress ip;
    ip.family_ = AF_INET6;
    std::memcpy(ip.bytes_.data(), &addr, 16);
    return ip;
}

bool IpAddress::isUnspecified() const {
    for (size_t i = 0; i < size(); ++i) {
        if (bytes_[i] != 0)
            return false;
    }
    return family_ != AF_UNSPEC;
}

bool IpAddress::isLoopback() const {
    if (isV4())
        return bytes_[0] == 127;
    if (!isV6())
        return false;
    for (size_t i = 0; i < 15; ++i) {
        if (bytes_[i] != 0)
            return false;
    }
    return bytes_[15] == 1;
}

IpAddress IpAddress::unmapped() const {
    static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!isV6() || std::memcmp(bytes_.data(), kMappedPrefix, sizeof kMappedPrefix) != 0) {
        return *this;
    }
    IpAddress v4;
    v4.family_ = AF_INET;
    std::memcpy(v4.bytes_.data(), bytes_.data() + 12, 4);
    return v4;
}

std::string IpAddress::toString() const {
    if (family_ == AF_UNSPEC)
        return "";
    if (isV4()) {
        // By hand: glibc's inet_ntop formats IPv4 with sprintf, and the device list names the
        // client of every intercepted query (issue 8's profile: most of that path's cost).
        std::string text;
        text.reserve(15);
        for (size_t i = 0; i < 4; ++i) {
            if (i > 0)
                text += '.';
            const unsigned octet = bytes_[i];
            if (octet >= 100)
                text += static_cast<char>('0' + octet / 100);
            if (octet >= 10)
                text += static_cast<char>('0' + octet / 10 % 10);
            text += static_cast<char>('0' + octet % 10);
        }
        return text;
    }
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(family_, bytes_.data(), text, sizeof text);
    return text;
}

SocketAddress::SocketAddress(const IpAddress& ip, uint16_t port) {
    if (ip.isV4()) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&storage_);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        std::memcpy(&sin->sin_addr, ip.bytes(), 4);
    } else if (ip.isV6()) {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&storage_);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        std::memcpy(&sin6->sin6_addr, ip.bytes(), 16);
    }
}

static std::optional<uint16_t> parsePort(std::string_view text) {
    unsigned value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535) {
        return std::nullopt;
    }
    return static_cast<uint16_t>(value);
}

std::optional<SocketAddress> SocketAddress::parse(std::string_view text, uint16_t defaultPort) {
    std::string_view host = text;
    std::optional<uint16_t> port = defaultPort;
    if (!text.empty() && text.front() == '[') {
        const size_t close = text.find(']');
        if (close == std::string_view::npos)
            return std::nullopt;
        host = text.substr(1, close - 1);
        std::string_view rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':')
                return std::nullopt;
            port = parsePort(rest.substr(1));
        }
    } else if (std::count(text.begin(), text.end(), ':') == 1) {
        const size_t colon = text.find(':');
        host = text.substr(0, colon);
        port = parsePort(text.substr(colon + 1));
    }
    if (!port)
        return std::nullopt;
    auto ip = IpAddress::parse(host);
    if (!ip)
        return std::nullopt;
    return SocketAddress(*ip, *port);
}

std::optional<SocketAddress> SocketAddress::fromSockaddr(const sockaddr* sa, socklen_t len) {
    if (sa == nullptr)
        return std::nullopt;
    if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
        const auto* sin = reinterpret_cast<const sockaddr_in*>(sa);
        return SocketAddress(IpAddress::fromV4(sin->sin_addr), ntohs(sin->sin_port));
    }
    if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
        // Copied whole: a link-local client (fe80::/10) is only reachable through the
        // interface its sin6_scope_id names.
        SocketAddress address;
        std::memcpy(&address.storage_, sa, sizeof(sockaddr_in6));
        return address;
    }
    return std::nullopt;
}

IpAddress SocketAddress::ip() const {
    if (storage_.ss_family == AF_INET) {
        return IpAddress::fromV4(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr);
    }
    if (storage_.ss_family == AF_INET6) {
        return IpAddress::fromV6(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr);
    }
    return {};
}

uint16_t SocketAddress::port() const {
    if (storage_.ss_family == AF_INET) {
        return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    }
    if (storage_.ss_family == AF_INET6) {
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    }
    return 0;
}

socklen_t SocketAddress::length() const {
    if (storage_.ss_family == AF_INET)
        return sizeof(sockaddr_in);
    if (storage_.ss_family == AF_INET6)
        return sizeof(sockaddr_in6);
    return 0;
}

std::string SocketAddress::toString() const {
    const std::string host = ip().toString();
    const std::string portText = std::to_string(port());
    return family() == AF_INET6 ? "[" + host + "]:" + portText : host + ":" + portText;
}

}  // namespace dynamo::net
