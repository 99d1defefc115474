#include "gateway/address/default_route.h"

#include <netinet/in.h>

#include <charconv>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <vector>

namespace dynamo::gateway {

namespace {

constexpr unsigned kRouteUp = 0x1;       // RTF_UP
constexpr unsigned kRouteGateway = 0x2;  // RTF_GATEWAY

std::vector<std::string_view> fields(std::string_view line) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < line.size() && out.size() < 16) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
            ++i;
        const size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t')
            ++i;
        if (i > start)
            out.push_back(line.substr(start, i - start));
    }
    return out;
}

std::optional<uint32_t> hex32(std::string_view text) {
    uint32_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
    if (ec != std::errc() || end != text.data() + text.size())
        return std::nullopt;
    return value;
}

}  // namespace

std::optional<net::IpAddress> defaultGatewayFromRouteTable(std::string_view table) {
    // Iface Destination Gateway Flags RefCnt Use Metric Mask ...; the addresses are the raw
    // 32-bit words (network byte order in memory) printed in hex, so they go back into s_addr
    // as they are.
    std::optional<net::IpAddress> best;
    uint32_t bestMetric = UINT32_MAX;
    bool header = true;
    while (!table.empty()) {
        const size_t eol = table.find('\n');
        const std::string_view line = table.substr(0, eol);
        table = eol == std::string_view::npos ? std::string_view() : table.substr(eol + 1);
        if (header) {
            header = false;
            continue;
        }
        const auto f = fields(line);
        if (f.size() < 8)
            continue;
        const auto destination = hex32(f[1]);
        const auto gateway = hex32(f[2]);
        const auto flags = hex32(f[3]);
        const auto mask = hex32(f[7]);
        uint32_t metric = 0;
        const auto [end, ec] = std::from_chars(f[6].data(), f[6].data() + f[6].size(), metric);
        if (!destination || !gateway || !flags || !mask || ec != std::errc() || *destination != 0 ||
            *mask != 0 || (*flags & (kRouteUp | kRouteGateway)) != (kRouteUp | kRouteGateway) ||
            *gateway == 0)
            continue;
        if (best && metric >= bestMetric)
            continue;
        in_addr addr{};
        addr.s_addr = *gateway;
        best = net::IpAddress::fromV4(addr);
        bestMetric = metric;
    }
    return best;
}

std::optional<net::IpAddress> defaultGateway() {
    std::ifstream in("/proc/net/route");
    if (!in)
        return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    const std::string table = text.str().substr(0, 64 * 1024);
    return defaultGatewayFromRouteTable(table);
}

}  // namespace dynamo::gateway
