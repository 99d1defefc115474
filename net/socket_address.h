#pragma once
// IPv4/IPv6 addresses and address:port pairs as the config writes them ("0.0.0.0:53",
// "[::1]:5353", "192.0.2.1") and as the kernel wants them (sockaddr_storage).

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dynamo::net {

class IpAddress {
  public:
    IpAddress() = default;
    static std::optional<IpAddress> parse(std::string_view text);  // no brackets, no port
    static IpAddress fromV4(const in_addr& addr);
    static IpAddress fromV6(const in6_addr& addr);

    bool isV4() const { return family_ == AF_INET; }
    bool isV6() const { return family_ == AF_INET6; }
    int family() const { return family_; }
    // Network byte order: 4 bytes for IPv4, 16 for IPv6.
    const uint8_t* bytes() const { return bytes_.data(); }
    size_t size() const { return isV4() ? 4 : 16; }
    bool isUnspecified() const;  // 0.0.0.0 or ::
    bool isLoopback() const;     // 127.0.0.0/8 or ::1
    // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it carries.
    IpAddress unmapped() const;
    std::string toString() const;

    friend bool operator==(const IpAddress& a, const IpAddress& b) {
        return a.family_ == b.family_ && a.bytes_ == b.bytes_;
    }

  private:
    int family_ = AF_UNSPEC;
    std::array<uint8_t, 16> bytes_{};
};

class SocketAddress {
  public:
    SocketAddress() = default;
    SocketAddress(const IpAddress& ip, uint16_t port);
    // "1.2.3.4", "1.2.3.4:53", "::1", "[::1]", "[::1]:53"; defaultPort when none is written.
    static std::optional<SocketAddress> parse(std::string_view text, uint16_t defaultPort);
    static std::optional<SocketAddress> fromSockaddr(const sockaddr* sa, socklen_t len);

    IpAddress ip() const;
    uint16_t port() const;
    int family() const { return storage_.ss_family; }
    const sockaddr* sockaddr_ptr() const { return reinterpret_cast<const sockaddr*>(&storage_); }
    socklen_t length() const;
    std::string toString() const;  // "1.2.3.4:53" or "[::1]:53"

    friend bool operator==(const SocketAddress& a, const SocketAddress& b) {
        return a.ip() == b.ip() && a.port() == b.port();
    }

  private:
    sockaddr_storage storage_{};
};

}  // namespace dynamo::net
