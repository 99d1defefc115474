#include "net/bind_socket.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace dynamo::net {
namespace {

std::string likelyHolder(uint16_t port) {
    switch (port) {
        case 53:
            return " (is systemd-resolved, dnsmasq or another DNS server running? "
                   "`ss -lunp 'sport = :53'` shows it)";
        case 80:
        case 443:
        case 8245:
            return " (is a web server running? `ss -ltnp` shows it)";
        default:
            return "";
    }
}

}  // namespace

UniqueFd bindSocket(const SocketAddress& address, int type, std::string* error) {
    const char* kind = type == SOCK_DGRAM ? "udp" : "tcp";
    UniqueFd fd(::socket(address.family(), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        *error = std::string("cannot create ") + kind + " socket for " + address.toString() + ": " +
                 std::strerror(errno);
        return {};
    }
    const int on = 1;
    if (type == SOCK_STREAM) {
        // TCP only: a restart must not wait for TIME_WAIT connections to expire. On UDP,
        // SO_REUSEADDR would let us bind beside dnsmasq or Pi-hole on port 53 (when both set
        // it) and silently share its queries, instead of saying the port is taken.
        ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    }
    if (address.family() == AF_INET6) {
        // "[::]:53" beside "0.0.0.0:53" must not claim the IPv4 side too.
        ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    }
    if (::bind(fd.get(), address.sockaddr_ptr(), address.length()) != 0) {
        const int bindErrno = errno;
        *error = std::string("cannot bind ") + kind + " " + address.toString() + ": " +
                 std::strerror(bindErrno);
        if (bindErrno == EADDRINUSE)
            *error += likelyHolder(address.port());
        if (bindErrno == EACCES) {
            *error += " (ports below 1024 need root or CAP_NET_BIND_SERVICE)";
        }
        return {};
    }
    return fd;
}

}  // namespace dynamo::net
