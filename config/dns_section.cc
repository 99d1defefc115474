// The dns section (docs/configuration.md#dns): listeners, upstreams with the resolv.conf default
// and the forwarding-loop check, the access list, interception, the cache.

#include <algorithm>
#include <cctype>

#include "config/config_parser.h"
#include "config/own_address.h"
#include "net/dns_name.h"
#include "net/interfaces.h"

namespace dynamo::config {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr uint64_t kMaxCacheSize = 10'000'000;
constexpr uint32_t kMaxTtl = 86400;

// Why an address text did not parse, in words a user can act on.
std::string addressProblem(std::string_view text) {
    std::string_view host = text;
    std::optional<std::string_view> port;
    if (text.starts_with('[')) {
        const size_t close = text.find(']');
        if (close == std::string_view::npos)
            return inQuotes(text) + " is missing its ']'";
        host = text.substr(1, close - 1);
        std::string_view rest = text.substr(close + 1);
        if (!rest.empty() && rest.front() == ':')
            port = rest.substr(1);
    } else if (std::count(text.begin(), text.end(), ':') == 1) {
        port = text.substr(text.find(':') + 1);
        host = text.substr(0, text.find(':'));
    }
    const bool hostName = std::any_of(host.begin(), host.end(), [](char c) {
        return !std::isxdigit(static_cast<unsigned char>(c)) && c != '.' && c != ':';
    });
    if (hostName && !host.empty()) {
        return inQuotes(text) +
               " is not an IP address: host names are not accepted here, write an IP literal "
               "(192.0.2.1, 192.0.2.1:53, \"[2001:db8::1]:53\")";
    }
    if (net::IpAddress::parse(host) && port) {
        return "bad port in " + inQuotes(text) + ": expected 1 to 65535";
    }
    return inQuotes(text) +
           " is not an address: expected IP, IP:port or [IPv6]:port (IPv6 with a port needs "
           "brackets)";
}

// The record types a health check may ask for (RFC 1035 §3.2.2, RFC 3596, RFC 4034).
std::optional<uint16_t> recordTypeCode(std::string_view text) {
    static constexpr std::pair<std::string_view, uint16_t> kTypes[] = {
        {"A", 1},   {"NS", 2},   {"CNAME", 5}, {"SOA", 6},     {"PTR", 12},
        {"MX", 15}, {"TXT", 16}, {"AAAA", 28}, {"DNSKEY", 48}, {"DS", 43},
    };
    for (const auto& [name, code] : kTypes) {
        if (text.size() == name.size() &&
            std::equal(text.begin(), text.end(), name.begin(), [](char a, char b) {
                return std::toupper(static_cast<unsigned char>(a)) == b;
            })) {
            return code;
        }
    }
    return std::nullopt;
}

}  // namespace

// The default of dns.allow (docs/configuration.md#dns): loopback, RFC 1918, CGNAT (RFC 6598),
// link-local, IPv6 loopback, ULA, link-local.
net::CidrSet defaultAllow() {
    std::vector<net::Cidr> ranges;
    for (auto text : {"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                      "100.64.0.0/10", "169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10"}) {
        ranges.push_back(*net::Cidr::parse(text));
    }
    return net::CidrSet(std::move(ranges));
}

void ConfigParser::readDns(const Item& dns) {
    dnsLine_ = dns.line;
    reader_.readMap(
        dns,
        {
            {"listen",
             [&](const Item& item) {
                 if (auto list = readAddresses(item, kDnsPort, false)) {
                     if (list->empty()) {
                         reader_.error(item, "must list at least one address");
                     } else {
                         config_.dns.listen.clear();
                         for (auto& entry : *list)
                             config_.dns.listen.push_back(entry.address);
                         dnsListen_ = std::move(*list);
                     }
                 }
             }},
            {"upstreams",
             [&](const Item& item) {
                 upstreamsLine_ = item.line;
                 if (auto list = readAddresses(item, kDnsPort, true))
                     upstreams_ = std::move(*list);
             }},
            {"upstream_timeout",
             [&](const Item& item) {
                 if (auto value = reader_.readDuration(item, milliseconds(100), seconds(60))) {
                     config_.dns.upstreamTimeout = *value;
                 }
             }},
            {"upstream_policy",
             [&](const Item& item) {
                 auto text = reader_.readString(item, "expected ordered or fastest");
                 if (!text)
                     return;
                 if (*text == "ordered") {
                     config_.dns.upstreamPolicy = UpstreamPolicy::Ordered;
                 } else if (*text == "fastest") {
                     config_.dns.upstreamPolicy = UpstreamPolicy::Fastest;
                 } else {
                     reader_.error(item, "expected ordered or fastest, got " + inQuotes(*text));
                 }
             }},
            {"health_check", [&](const Item& item) { readHealthCheck(item); }},
            {"serve_stale", [&](const Item& item) { readServeStale(item); }},
            {"prefetch",
             [&](const Item& item) {
                 if (auto value = reader_.readBool(item))
                     config_.dns.prefetch = *value;
             }},
            {"allow", [&](const Item& item) { readAllow(item); }},
            {"intercept", [&](const Item& item) { readIntercept(item); }},
            {"records", [&](const Item& item) { readRecords(item); }},
            {"records_ttl", [&](const Item& item) { readRecordsTtl(item); }},
            {"cache",
             [&](const Item& item) {
                 reader_.readMap(
                     item, {{"size", [&](const Item& size) {
                                 if (auto value = reader_.readUnsigned(size, 0, kMaxCacheSize)) {
                                     config_.dns.cacheSize = *value;
                                 }
                             }}});
             }},
        });
}

void ConfigParser::readHealthCheck(const Item& item) {
    HealthCheckConfig& target = config_.dns.healthCheck;
    reader_.readMap(
        item,
        {
            {"name",
             [&](const Item& name) {
                 auto text = reader_.readString(name, "expected a DNS name such as \".\"");
                 if (!text)
                     return;
                 if (*text == ".") {
                     target.name = ".";
                     return;
                 }
                 auto canonical = net::canonicalHostname(*text);
                 if (!canonical) {
                     reader_.error(name, inQuotes(*text) +
                                             " is not a DNS name (\".\" is the root, whose NS "
                                             "every recursive resolver can answer)");
                     return;
                 }
                 target.name = *canonical;
             }},
            {"type",
             [&](const Item& type) {
                 auto text = reader_.readString(type, "expected a record type such as NS or A");
                 if (!text)
                     return;
                 if (auto code = recordTypeCode(*text)) {
                     target.type = *code;
                 } else {
                     reader_.error(type,
                                   "expected one of A, AAAA, NS, SOA, MX, TXT, PTR, CNAME, "
                                   "DNSKEY, DS, got " +
                                       inQuotes(*text));
                 }
             }},
            {"interval",
             [&](const Item& interval) {
                 if (auto value = reader_.readDuration(interval, milliseconds(500), seconds(3600)))
                     target.interval = *value;
             }},
        });
}

void ConfigParser::readServeStale(const Item& item) {
    ServeStaleConfig& target = config_.dns.serveStale;
    reader_.readMap(
        item,
        {
            {"max_stale",
             [&](const Item& value) {
                 // RFC 8767 §5 suggests 1 to 3 days; a week at most.
                 if (auto parsed = readSeconds(value, seconds(0), seconds(7 * 86400)))
                     target.maxStale = *parsed;
             }},
            {"client_timeout",
             [&](const Item& value) {
                 // RFC 8767 §5 suggests 1.8 s.
                 if (auto parsed = reader_.readDuration(value, milliseconds(100), seconds(60))) {
                     target.clientTimeout = *parsed;
                 }
             }},
            {"ttl",
             [&](const Item& value) {
                 if (auto parsed = readSeconds(value, seconds(1), seconds(3600)))
                     target.ttl = static_cast<uint32_t>(parsed->count());
             }},
        });
}

void ConfigParser::readAllow(const Item& item) {
    auto list = reader_.readList(item);
    if (!list)
        return;
    std::vector<net::Cidr> ranges;
    bool ok = true;
    for (const auto& entry : *list) {
        auto text = reader_.readString(entry, "expected an address range such as 10.0.0.0/8");
        if (!text) {
            ok = false;
            continue;
        }
        auto cidr = net::Cidr::parse(*text);
        if (!cidr) {
            reader_.error(entry, inQuotes(*text) +
                                     " is not an address range: expected 10.0.0.0/8, "
                                     "\"fc00::/7\" or a single address");
            ok = false;
            continue;
        }
        ranges.push_back(*cidr);
    }
    if (ok && ranges.empty()) {
        // Refusing everyone is never what was meant; an open resolver must be asked for.
        reader_.error(item,
                      "must not be empty: every client would be refused (to allow any "
                      "client, write [0.0.0.0/0, \"::/0\"])");
        return;
    }
    if (ok)
        config_.dns.allow = net::CidrSet(std::move(ranges));
}

void ConfigParser::readIntercept(const Item& intercept) {
    InterceptConfig& target = config_.dns.intercept;
    reader_.readMap(
        intercept,
        {
            {"names", [&](const Item& item) { readInterceptNames(item); }},
            {"answer_ipv4",
             [&](const Item& item) {
                 auto text = reader_.readString(item, "expected auto or an IPv4 address");
                 if (!text)
                     return;
                 auto ip = net::IpAddress::parse(*text);
                 if (*text == "auto") {
                     target.answerIpv4 = {InterceptAnswer::Mode::Auto, {}};
                 } else if (ip && ip->isV4()) {
                     target.answerIpv4 = {InterceptAnswer::Mode::Fixed, *ip};
                 } else {
                     reader_.error(item,
                                   "expected auto or an IPv4 address, got " + inQuotes(*text));
                 }
             }},
            {"answer_ipv6",
             [&](const Item& item) {
                 auto text = reader_.readString(item, "expected none, auto or an IPv6 address");
                 if (!text)
                     return;
                 auto ip = net::IpAddress::parse(*text);
                 if (*text == "none") {
                     target.answerIpv6 = {InterceptAnswer::Mode::None, {}};
                 } else if (*text == "auto") {
                     target.answerIpv6 = {InterceptAnswer::Mode::Auto, {}};
                 } else if (ip && ip->isV6()) {
                     target.answerIpv6 = {InterceptAnswer::Mode::Fixed, *ip};
                 } else {
                     reader_.error(
                         item, "expected none, auto or an IPv6 address, got " + inQuotes(*text));
                 }
             }},
            {"ttl",
             [&](const Item& item) {
                 if (auto value = readSeconds(item, seconds(0), seconds(kMaxTtl))) {
                     target.ttl = static_cast<uint32_t>(value->count());
                 }
             }},
        });
}

void ConfigParser::readInterceptNames(const Item& item) {
    auto list = reader_.readList(item);
    if (!list)
        return;
    std::vector<std::string> names;
    for (const auto& entry : *list) {
        auto text = reader_.readString(entry, "expected a DNS name");
        if (!text)
            continue;
        auto name = net::canonicalHostname(*text, true);
        if (!name) {
            reader_.error(entry, inQuotes(*text) +
                                     " is not a DNS name (labels of 1 to 63 letters, digits, "
                                     "'-' or '_'; 253 characters at most; \"*.\" in front for "
                                     "every name below)");
            continue;
        }
        if (*name == "checkip.dyndns.org" || *name == "checkip.dyndns.com") {
            reader_.warn(entry, "devices ask " + *name +
                                    " for their public address: intercepting it breaks that");
        }
        if (std::find(names.begin(), names.end(), *name) == names.end()) {
            names.push_back(std::move(*name));
        }
    }
    if (names.empty() && !reader_.failed()) {
        reader_.warn(item, "empty: no device is sent to this gateway; DNS is only forwarded");
    }
    config_.dns.intercept.names = std::move(names);
}

// ---- addresses ----

std::optional<std::vector<Located>> ConfigParser::readAddresses(const Item& item,
                                                                uint16_t defaultPort,
                                                                bool upstream) {
    auto list = reader_.readList(item);
    if (!list)
        return std::nullopt;
    std::vector<Located> result;
    bool ok = true;
    for (const auto& entry : *list) {
        auto address = readAddress(entry, defaultPort, upstream);
        if (!address) {
            ok = false;
            continue;
        }
        const auto twin = std::find_if(result.begin(), result.end(),
                                       [&](const Located& l) { return l.address == *address; });
        if (twin != result.end()) {
            reader_.error(entry, address->toString() + " is already listed as " + twin->item.path);
            ok = false;
            continue;
        }
        result.push_back(Located{*address, entry});
    }
    if (!ok)
        return std::nullopt;
    return result;
}

std::optional<net::SocketAddress> ConfigParser::readAddress(const Item& item, uint16_t defaultPort,
                                                            bool upstream) {
    if (item.node.IsSequence()) {
        // `- [::1]:53` without quotes is YAML for a list.
        reader_.error(item,
                      "expected an address, got a list: write bracketed IPv6 addresses in "
                      "quotes, e.g. \"[::1]:53\"");
        return std::nullopt;
    }
    auto text = reader_.readString(item, "expected an address such as 192.0.2.1:53");
    if (!text)
        return std::nullopt;
    auto address = net::SocketAddress::parse(*text, defaultPort);
    if (!address) {
        reader_.error(item, addressProblem(*text));
        return std::nullopt;
    }
    if (upstream && address->ip().unmapped().isUnspecified()) {
        reader_.error(item, inQuotes(*text) + " means 'any address' and cannot be an upstream");
        return std::nullopt;
    }
    return address;
}

const std::vector<net::IpAddress>& ConfigParser::localAddresses() {
    if (!localAddresses_) {
        localAddresses_ =
            environment_.localAddresses ? *environment_.localAddresses : net::interfaceAddresses();
    }
    return *localAddresses_;
}

// docs/configuration.md#checks-across-keys: refuse an upstream that is our own listen address;
// without explicit upstreams, take resolv.conf's nameservers minus our own.
void ConfigParser::checkUpstreams() {
    const auto& listen = config_.dns.listen;
    const std::vector<net::IpAddress> none;
    for (const auto& upstream : upstreams_) {
        const auto& local = hasWildcard(listen) ? localAddresses() : none;
        if (reachesListener(upstream.address, listen, local)) {
            reader_.error(upstream.item, "forwarding loop: " + upstream.address.toString() +
                                             " is this daemon's own listen address");
        } else {
            config_.dns.upstreams.push_back(upstream.address);
        }
    }
    if (!upstreams_.empty())
        return;

    const std::string& path = environment_.resolvConfPath;
    const ResolvConf resolvConf = readResolvConf(path);
    std::vector<std::string> dropped;
    for (const auto& nameserver : resolvConf.nameservers) {
        const auto& local = hasWildcard(listen) ? localAddresses() : none;
        if (mayReachListener(nameserver, listen, local)) {
            dropped.push_back(nameserver.toString());
        } else if (std::find(config_.dns.upstreams.begin(), config_.dns.upstreams.end(),
                             nameserver) == config_.dns.upstreams.end()) {
            config_.dns.upstreams.push_back(nameserver);
        }
    }
    if (!config_.dns.upstreams.empty())
        return;
    std::string problem = "none configured and none usable in " + path;
    if (resolvConf.error) {
        problem += " (cannot read it: " + *resolvConf.error + ")";
    } else if (!dropped.empty()) {
        std::string list;
        for (const auto& text : dropped)
            list += (list.empty() ? "" : ", ") + text;
        problem += " (" + list + ": this daemon's own address)";
    } else {
        problem += " (no nameserver lines)";
    }
    reader_.error(upstreamsLine_ ? *upstreamsLine_ : dnsLine_, "dns.upstreams", problem);
}

// DNS listens on TCP too, so it cannot share an ip:port with the HTTP(S) listeners.
void ConfigParser::checkListenConflicts() {
    auto withDefaults = [](const std::vector<Located>& written,
                           const std::vector<net::SocketAddress>& effective, std::string_view key,
                           int line) {
        if (!written.empty())
            return written;
        std::vector<Located> result;
        for (const auto& address : effective) {
            result.push_back(Located{address, Item{{}, std::string(key), line}, false});
        }
        return result;
    };
    const auto dns = withDefaults(dnsListen_, config_.dns.listen, "dns.listen", 1);
    const auto http =
        withDefaults(httpListen_, config_.gateway.httpListen, "gateway.http_listen", 1);
    const auto https =
        withDefaults(httpsListen_, config_.gateway.httpsListen, "gateway.https_listen", 1);
    auto check = [&](const std::vector<Located>& first, const std::vector<Located>& second) {
        for (const auto& a : first) {
            for (const auto& b : second) {
                if (!(a.address == b.address))
                    continue;
                const Located& blamed = b.explicit_ ? b : a;
                const Located& other = b.explicit_ ? a : b;
                reader_.error(blamed.item,
                              a.address.toString() + " is also used by " + other.item.path);
            }
        }
    };
    check(dns, http);
    check(dns, https);
    check(http, https);
    if (config_.gateway.httpListen.empty() && config_.gateway.httpsListen.empty()) {
        reader_.error(gatewayLine_, "gateway",
                      "http_listen and https_listen are both empty: devices could not send "
                      "updates");
    }
}

}  // namespace dynamo::config
