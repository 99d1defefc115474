#include "compat/publish_address.h"

#include "net/ip_ranges.h"

namespace dynamo::compat {

bool isPublicIpv4(const net::IpAddress& ip) {
    return ip.isV4() && net::isPublicUnicast(ip);
}

std::optional<net::IpAddress> addressToPublish(const MyIp& myip) {
    if (myip.v4 && isPublicIpv4(*myip.v4))
        return myip.v4;
    return std::nullopt;
}

}  // namespace dynamo::compat
