// The public_address section: where the gateway learns the network's public IPv4 address
// (docs/configuration.md#public_address). Detection runs only when this section is written or
// an account has self_update: an appliance asks outside services nothing on its own.

#include <algorithm>

#include "config/config_parser.h"
#include "net/ascii.h"
#include "net/dns_name.h"

namespace dynamo::config {
namespace {

constexpr uint16_t kNatPmpPort = 5351;  // RFC 6886 §3
constexpr uint16_t kTypeA = 1;
constexpr uint16_t kTypeTxt = 16;
constexpr uint16_t kClassIn = 1;
constexpr uint16_t kClassCh = 3;  // RFC 1035 §3.2.4: CHAOS

DnsWhoami whoami(std::string_view server, std::string name, uint16_t type, uint16_t dnsClass) {
    return {*net::SocketAddress::parse(server, kDnsPort), std::move(name), type, dnsClass};
}

std::string_view sourceName(AddressSourceKind kind) {
    switch (kind) {
        case AddressSourceKind::Router:
            return "router";
        case AddressSourceKind::Dns:
            return "dns";
        case AddressSourceKind::Http:
            return "http";
    }
    return "";
}

}  // namespace

std::vector<DnsWhoami> PublicAddressConfig::defaultDnsWhoami() {
    // Each answers with the address the question came from: OpenDNS's resolvers an A record,
    // Google's authoritative servers a TXT string, Cloudflare's resolver a TXT string in class
    // CH.
    return {
        whoami("208.67.222.222", "myip.opendns.com", kTypeA, kClassIn),
        whoami("216.239.32.10", "o-o.myaddr.l.google.com", kTypeTxt, kClassIn),
        whoami("1.1.1.1", "whoami.cloudflare", kTypeTxt, kClassCh),
    };
}

bool publicAddressWanted(const Config& config) {
    return config.publicAddress.configured ||
           std::any_of(config.accounts.begin(), config.accounts.end(),
                       [](const Account& account) { return account.selfUpdate; });
}

void ConfigParser::readPublicAddress(const Item& section) {
    PublicAddressConfig& target = config_.publicAddress;
    target.configured = true;
    std::optional<Item> sourcesItem;
    reader_.readMap(
        section,
        {
            {"sources",
             [&](const Item& item) {
                 sourcesItem = item;
                 auto list = reader_.readList(item);
                 if (!list)
                     return;
                 std::vector<AddressSourceKind> sources;
                 for (const Item& entry : *list) {
                     auto text = reader_.readString(entry, "expected router, dns or http");
                     if (!text)
                         return;
                     AddressSourceKind kind;
                     if (*text == "router") {
                         kind = AddressSourceKind::Router;
                     } else if (*text == "dns") {
                         kind = AddressSourceKind::Dns;
                     } else if (*text == "http") {
                         kind = AddressSourceKind::Http;
                     } else {
                         reader_.error(entry, "expected router, dns or http, got " +
                                                  inQuotes(*text) +
                                                  " (devices' myip counts without being named)");
                         return;
                     }
                     if (std::find(sources.begin(), sources.end(), kind) != sources.end()) {
                         reader_.error(entry, "names " + std::string(sourceName(kind)) + " twice");
                         return;
                     }
                     sources.push_back(kind);
                 }
                 if (sources.empty()) {
                     reader_.error(item,
                                   "must name at least one of router, dns, http (leave "
                                   "public_address out to turn detection off)");
                     return;
                 }
                 target.sources = std::move(sources);
             }},
            {"router",
             [&](const Item& item) {
                 auto text = reader_.readString(item, "expected auto or the router's IPv4 address");
                 if (!text)
                     return;
                 if (*text == "auto") {
                     target.router.reset();
                     return;
                 }
                 auto address = net::SocketAddress::parse(*text, kNatPmpPort);
                 if (!address || !address->ip().isV4()) {
                     reader_.error(item, "expected auto, \"a.b.c.d\" or \"a.b.c.d:port\", got " +
                                             inQuotes(*text) +
                                             " (NAT-PMP and PCP ask the router over IPv4)");
                     return;
                 }
                 target.router = *address;
             }},
            {"dns_whoami", [&](const Item& item) { readDnsWhoami(item); }},
            {"http_echo", [&](const Item& item) { readHttpEcho(item); }},
            {"interval",
             [&](const Item& item) {
                 // Never more often than once a minute: the services are free and shared.
                 if (auto value =
                         readSeconds(item, std::chrono::seconds(60), std::chrono::seconds(86400)))
                     target.interval = *value;
             }},
        });
    const auto uses = [&](AddressSourceKind kind) {
        return std::find(target.sources.begin(), target.sources.end(), kind) !=
               target.sources.end();
    };
    const Item& where = sourcesItem ? *sourcesItem : section;
    if (uses(AddressSourceKind::Dns) && target.dnsWhoami.empty())
        reader_.error(where, "names dns, but dns_whoami is empty");
    if (uses(AddressSourceKind::Http) && target.httpEcho.empty())
        reader_.error(where, "names http, but http_echo is empty");
}

void ConfigParser::readDnsWhoami(const Item& item) {
    auto list = reader_.readList(item);
    if (!list)
        return;
    std::vector<DnsWhoami> entries;
    for (const Item& entry : *list) {
        if (!entry.node.IsMap()) {
            reader_.error(entry, "expected a mapping with server, name and type, got " +
                                     std::string(describe(entry.node)));
            continue;
        }
        DnsWhoami whoami;
        bool ok = true;
        bool haveServer = false;
        bool haveName = false;
        reader_.readMap(
            entry, {
                       {"server",
                        [&](const Item& field) {
                            auto text = reader_.readString(field, "expected an IP address");
                            if (!text) {
                                ok = false;
                                return;
                            }
                            auto address = net::SocketAddress::parse(*text, kDnsPort);
                            if (!address) {
                                reader_.error(field,
                                              "expected an IP address, \"a.b.c.d:port\" or "
                                              "\"[v6]:port\", got " +
                                                  inQuotes(*text));
                                ok = false;
                                return;
                            }
                            whoami.server = *address;
                            haveServer = true;
                        }},
                       {"name",
                        [&](const Item& field) {
                            auto text = reader_.readString(field, "expected a DNS name");
                            if (!text) {
                                ok = false;
                                return;
                            }
                            auto name = net::canonicalHostname(*text);
                            if (!name) {
                                reader_.error(field, "not a valid DNS name: " + inQuotes(*text));
                                ok = false;
                                return;
                            }
                            whoami.name = *name;
                            haveName = true;
                        }},
                       {"type",
                        [&](const Item& field) {
                            auto text = reader_.readString(field, "expected A or TXT");
                            if (!text) {
                                ok = false;
                                return;
                            }
                            const std::string lower = net::lowerAscii(*text);
                            if (lower == "a") {
                                whoami.type = kTypeA;
                            } else if (lower == "txt") {
                                whoami.type = kTypeTxt;
                            } else {
                                reader_.error(field, "expected A or TXT, got " + inQuotes(*text));
                                ok = false;
                            }
                        }},
                       {"class",
                        [&](const Item& field) {
                            auto text = reader_.readString(field, "expected IN or CH");
                            if (!text) {
                                ok = false;
                                return;
                            }
                            const std::string lower = net::lowerAscii(*text);
                            if (lower == "in") {
                                whoami.dnsClass = kClassIn;
                            } else if (lower == "ch") {
                                whoami.dnsClass = kClassCh;
                            } else {
                                reader_.error(field, "expected IN or CH, got " + inQuotes(*text));
                                ok = false;
                            }
                        }},
                   });
        if (!haveServer) {
            reader_.error(entry, "server is required");
            ok = false;
        }
        if (!haveName) {
            reader_.error(entry, "name is required");
            ok = false;
        }
        if (ok)
            entries.push_back(std::move(whoami));
    }
    config_.publicAddress.dnsWhoami = std::move(entries);
}

void ConfigParser::readHttpEcho(const Item& item) {
    auto list = reader_.readList(item);
    if (!list)
        return;
    std::vector<std::string> urls;
    for (const Item& entry : *list) {
        auto text = reader_.readString(entry, "expected a URL");
        if (!text)
            continue;
        const std::string lower = net::lowerAscii(*text);
        size_t hostStart = 0;
        if (lower.starts_with("http://")) {
            hostStart = 7;
        } else if (lower.starts_with("https://")) {
            hostStart = 8;
        } else {
            reader_.error(entry, "must start with http:// or https://, got " + inQuotes(*text));
            continue;
        }
        const std::string_view host =
            std::string_view(*text).substr(hostStart, text->find('/', hostStart) - hostStart);
        if (host.empty() || host.find('@') != std::string_view::npos) {
            reader_.error(entry, "needs a host and no user:password: " + inQuotes(*text));
            continue;
        }
        if (text->find_first_of("#\r\n \t") != std::string::npos) {
            reader_.error(entry, "must not contain '#' or white space");
            continue;
        }
        urls.push_back(*text);
    }
    config_.publicAddress.httpEcho = std::move(urls);
}

}  // namespace dynamo::config
