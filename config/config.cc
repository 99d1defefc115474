// parse(): YAML text → one immutable Config, or every problem found, each "file:line: key:
// problem" (STYLE.md "Errors in three kinds"). Keys and defaults are SPEC §4; the walk over the
// tree, unknown-key suggestions and line numbers are yaml_reader.cc; which addresses are our own
// (the forwarding-loop check) is own_address.cc.

#include "config/config.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <initializer_list>

#include "config/own_address.h"
#include "config/yaml_reader.h"

namespace dynamo::config {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr uint16_t kDnsPort = 53;
constexpr uint16_t kHttpPort = 80;
constexpr uint16_t kHttpsPort = 443;
constexpr size_t kTokenLength = 42;
constexpr uint64_t kMaxCacheSize = 10'000'000;
constexpr uint32_t kMaxTtl = 86400;
// The service answers TF to a second call within 5 minutes and restarts its window (SPEC §1).
constexpr seconds kServiceWindow{300};
// The token SPEC §4 and example.yaml show: a config still holding it was never filled in.
constexpr std::string_view kPlaceholderToken = "1234567890ABCDEFGHIJKLMNOPQRSTUVWXYZ123456";

std::vector<net::SocketAddress> addresses(std::initializer_list<std::string_view> texts,
                                          uint16_t defaultPort) {
    std::vector<net::SocketAddress> result;
    for (auto text : texts)
        result.push_back(*net::SocketAddress::parse(text, defaultPort));
    return result;
}

// SPEC §4: loopback, RFC 1918, CGNAT (RFC 6598), link-local, IPv6 loopback, ULA, link-local.
net::CidrSet defaultAllow() {
    std::vector<net::Cidr> ranges;
    for (auto text : {"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                      "100.64.0.0/10", "169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10"}) {
        ranges.push_back(*net::Cidr::parse(text));
    }
    return net::CidrSet(std::move(ranges));
}

std::string inQuotes(std::string_view text) {
    return "'" + std::string(text) + "'";
}

std::string lowerCase(std::string_view text) {
    std::string lower(text);
    for (char& c : lower)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return lower;
}

bool isLabelCharacter(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// A DNS name as the resolver and the gateway compare it: lower-case, no trailing dot
// (RFC 1035 §2.3.4: labels of 63 octets, 255 on the wire, so 253 characters written out).
std::optional<std::string> normalizeName(std::string_view text, bool allowWildcard) {
    std::string name = lowerCase(text);
    if (!name.empty() && name.back() == '.')
        name.pop_back();
    std::string_view rest = name;
    if (allowWildcard && rest.starts_with("*."))
        rest.remove_prefix(2);
    if (rest.empty() || name.size() > 253)
        return std::nullopt;
    size_t labelLength = 0;
    for (char c : rest) {
        if (c == '.') {
            if (labelLength == 0)
                return std::nullopt;
            labelLength = 0;
        } else if (!isLabelCharacter(c) || ++labelLength > 63) {
            return std::nullopt;
        }
    }
    if (labelLength == 0)
        return std::nullopt;
    return name;
}

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

std::string errnoText(int error) {
    return std::strerror(error);
}

class ConfigParser {
  public:
    ConfigParser(std::string_view fileName, const Environment& environment)
        : reader_(std::string(fileName)), environment_(environment) {
        std::error_code ignored;
        baseDir_ =
            std::filesystem::absolute(std::filesystem::path(fileName), ignored).parent_path();
        config_.dns.listen = addresses({"0.0.0.0:53", "[::]:53"}, kDnsPort);
        config_.dns.allow = defaultAllow();
        config_.gateway.httpListen = addresses({"0.0.0.0:80", "0.0.0.0:8245"}, kHttpPort);
        config_.gateway.httpsListen = addresses({"0.0.0.0:443"}, kHttpsPort);
    }

    ParseResult run(const YAML::Node& root) {
        const Item top{root, "", 1};
        if (!root.IsNull() && !root.IsMap()) {
            reader_.error(top, "expected a mapping of keys at the top level, got " +
                                   std::string(describe(root)));
            return finish();
        }
        int accountsLine = 1;
        reader_.readMap(top, {
                                 {"dns", [&](const Item& item) { readDns(item); }},
                                 {"gateway", [&](const Item& item) { readGateway(item); }},
                                 {"dynamo", [&](const Item& item) { readDynamo(item); }},
                                 {"accounts",
                                  [&](const Item& item) {
                                      accountsLine = item.line;
                                      readAccounts(item);
                                  }},
                                 {"state_dir", [&](const Item& item) { readStateDir(item); }},
                                 {"run_as", [&](const Item& item) { readRunAs(item); }},
                                 {"log_level", [&](const Item& item) { readLogLevel(item); }},
                             });
        checkUpstreams();
        checkListenConflicts();
        if (config_.accounts.empty()) {
            reader_.warn(Item{{}, "accounts", accountsLine},
                         "no accounts: updates will be refused");
        }
        return finish();
    }

  private:
    // An address with the entry it came from, for messages that point at it.
    struct Located {
        net::SocketAddress address;
        Item item;
        bool explicit_ = true;  // false for a default nobody wrote
    };

    ParseResult finish() {
        ParseResult result;
        result.errors = reader_.takeErrors();
        config_.warnings = reader_.takeWarnings();
        if (result.errors.empty())
            result.config = std::move(config_);
        return result;
    }

    // ---- dns ----

    void readDns(const Item& dns) {
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
                {"allow", [&](const Item& item) { readAllow(item); }},
                {"intercept", [&](const Item& item) { readIntercept(item); }},
                {"cache",
                 [&](const Item& item) {
                     reader_.readMap(item, {{"size", [&](const Item& size) {
                                                 if (auto value = reader_.readUnsigned(
                                                         size, 0, kMaxCacheSize)) {
                                                     config_.dns.cacheSize = *value;
                                                 }
                                             }}});
                 }},
            });
    }

    void readAllow(const Item& item) {
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

    void readIntercept(const Item& intercept) {
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
                         reader_.error(item, "expected none, auto or an IPv6 address, got " +
                                                 inQuotes(*text));
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

    void readInterceptNames(const Item& item) {
        auto list = reader_.readList(item);
        if (!list)
            return;
        std::vector<std::string> names;
        for (const auto& entry : *list) {
            auto text = reader_.readString(entry, "expected a DNS name");
            if (!text)
                continue;
            auto name = normalizeName(*text, true);
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

    std::optional<std::vector<Located>> readAddresses(const Item& item, uint16_t defaultPort,
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
                reader_.error(entry,
                              address->toString() + " is already listed as " + twin->item.path);
                ok = false;
                continue;
            }
            result.push_back(Located{*address, entry});
        }
        if (!ok)
            return std::nullopt;
        return result;
    }

    std::optional<net::SocketAddress> readAddress(const Item& item, uint16_t defaultPort,
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

    const std::vector<net::IpAddress>& localAddresses() {
        if (!localAddresses_) {
            localAddresses_ =
                environment_.localAddresses ? *environment_.localAddresses : interfaceAddresses();
        }
        return *localAddresses_;
    }

    // SPEC §5: refuse an upstream that is our own listen address; without explicit upstreams,
    // take resolv.conf's nameservers minus our own.
    void checkUpstreams() {
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
    void checkListenConflicts() {
        auto withDefaults = [](const std::vector<Located>& written,
                               const std::vector<net::SocketAddress>& effective,
                               std::string_view key, int line) {
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

    // ---- gateway ----

    void readGateway(const Item& gateway) {
        gatewayLine_ = gateway.line;
        auto listenField = [&](std::string_view name, uint16_t port,
                               std::vector<net::SocketAddress>& target,
                               std::vector<Located>& located) {
            auto* targetList = &target;
            auto* locatedList = &located;
            return YamlReader::Field{name, [this, port, targetList, locatedList](const Item& item) {
                                         auto list = readAddresses(item, port, false);
                                         if (!list)
                                             return;
                                         targetList->clear();
                                         for (auto& e : *list)
                                             targetList->push_back(e.address);
                                         *locatedList = std::move(*list);
                                     }};
        };
        reader_.readMap(
            gateway,
            {
                listenField("http_listen", kHttpPort, config_.gateway.httpListen, httpListen_),
                listenField("https_listen", kHttpsPort, config_.gateway.httpsListen, httpsListen_),
                {"tls", [&](const Item& item) { readTls(item); }},
            });
    }

    void readTls(const Item& tls) {
        TlsConfig& target = config_.gateway.tls;
        std::optional<Item> certItem;
        std::optional<Item> keyItem;
        reader_.readMap(
            tls,
            {
                {"cert",
                 [&](const Item& item) {
                     certItem = item;
                     target.cert = readOptionalPath(item, F_OK);
                 }},
                {"key",
                 [&](const Item& item) {
                     keyItem = item;
                     target.key = readOptionalPath(item, F_OK);
                 }},
                {"min_version",
                 [&](const Item& item) {
                     // The scalar's text, not a float: YAML reads 1.0 as a number.
                     auto text = reader_.readString(item, "expected 1.0, 1.1, 1.2 or 1.3");
                     if (!text)
                         return;
                     if (*text == "1.0" || *text == "1.1" || *text == "1.2" || *text == "1.3") {
                         target.minVersion = *text;
                     } else {
                         reader_.error(item,
                                       "expected 1.0, 1.1, 1.2 or 1.3, got " + inQuotes(*text));
                     }
                 }},
            });
        const bool certSet = certItem && !certItem->node.IsNull();
        const bool keySet = keyItem && !keyItem->node.IsNull();
        if (certSet != keySet) {
            reader_.error(certSet ? *certItem : *keyItem,
                          "cert and key go together: set both, or neither for a self-signed "
                          "certificate made in state_dir");
        }
    }

    // ---- dynamo ----

    void readDynamo(const Item& dynamo) {
        DynamoConfig& target = config_.dynamo;
        reader_.readMap(
            dynamo, {
                        {"update_url", [&](const Item& item) { readUpdateUrl(item); }},
                        {"ca_file",
                         [&](const Item& item) { target.caFile = readOptionalPath(item, R_OK); }},
                        {"min_interval",
                         [&](const Item& item) {
                             auto value = readSeconds(item, seconds(1), seconds(7 * 86400));
                             if (!value)
                                 return;
                             target.minInterval = *value;
                             if (*value < kServiceWindow) {
                                 reader_.warn(item,
                                              "shorter than the service's 5-minute window: calls "
                                              "closer than that are answered TF and restart it");
                             }
                         }},
                        {"timeout",
                         [&](const Item& item) {
                             if (auto value = readSeconds(item, seconds(1), seconds(300))) {
                                 target.timeout = *value;
                             }
                         }},
                    });
    }

    void readUpdateUrl(const Item& item) {
        auto text = reader_.readString(item, "expected a URL");
        if (!text)
            return;
        std::string url = *text;
        const std::string lower = lowerCase(url);
        size_t hostStart = 0;
        if (lower.starts_with("https://")) {
            hostStart = 8;
        } else if (lower.starts_with("http://")) {
            hostStart = 7;
            reader_.warn(item, "plain http:// sends tokens unencrypted; use https://");
        } else {
            reader_.error(item, "must start with https:// (or http://), got " + inQuotes(url));
            return;
        }
        const size_t hostEnd = url.find('/', hostStart);
        if (url.substr(hostStart, hostEnd - hostStart).empty()) {
            reader_.error(item, "has no host: " + inQuotes(url));
            return;
        }
        if (url.find_first_of("?# ") != std::string::npos) {
            reader_.error(item, "must not contain '?', '#' or spaces: the token is appended to it");
            return;
        }
        if (url.back() != '/')
            url.push_back('/');
        config_.dynamo.updateUrl = std::move(url);
    }

    // ---- accounts ----

    void readAccounts(const Item& item) {
        auto list = reader_.readList(item);
        if (!list)
            return;
        std::vector<Item> owners;  // for "already used by accounts[0]"
        for (const auto& entry : *list) {
            Account account;
            if (!readAccount(entry, account))
                continue;
            const auto twin = std::find_if(
                config_.accounts.begin(), config_.accounts.end(),
                [&](const Account& other) { return other.username == account.username; });
            if (twin != config_.accounts.end()) {
                const Item& owner = owners[static_cast<size_t>(twin - config_.accounts.begin())];
                reader_.error(entry.line, entry.path + ".username",
                              inQuotes(account.username) + " is already used by " + owner.path);
                continue;
            }
            owners.push_back(entry);
            config_.accounts.push_back(std::move(account));
        }
    }

    bool readAccount(const Item& entry, Account& account) {
        if (!entry.node.IsMap()) {
            reader_.error(entry, "expected a mapping with username, password, token, got " +
                                     std::string(describe(entry.node)));
            return false;
        }
        bool ok = true;
        bool seenUsername = false;
        bool seenPassword = false;
        bool seenToken = false;
        auto nonEmpty = [&](const Item& item) -> std::optional<std::string> {
            if (item.node.IsNull()) {
                reader_.error(item, "must not be empty");
                return std::nullopt;
            }
            auto text = reader_.readString(item, "expected a string");
            if (text && text->empty()) {
                reader_.error(item, "must not be empty");
                return std::nullopt;
            }
            return text;
        };
        reader_.readMap(
            entry,
            {
                {"username",
                 [&](const Item& item) {
                     seenUsername = true;
                     auto text = nonEmpty(item);
                     if (text && text->find(':') != std::string::npos) {
                         // RFC 7617 §2: the user-id of Basic authentication cannot contain
                         // ':'.
                         reader_.error(item, "must not contain ':' (HTTP Basic authentication)");
                         text.reset();
                     }
                     if (text)
                         account.username = *text;
                     ok = ok && text.has_value();
                 }},
                {"password",
                 [&](const Item& item) {
                     seenPassword = true;
                     auto text = nonEmpty(item);  // never shown: it is a secret
                     if (text)
                         account.password = *text;
                     ok = ok && text.has_value();
                 }},
                {"token",
                 [&](const Item& item) {
                     seenToken = true;
                     auto token = readToken(item);
                     if (token)
                         account.token = *token;
                     ok = ok && token.has_value();
                 }},
                {"hostnames",
                 [&](const Item& item) {
                     auto list = reader_.readList(item);
                     if (!list) {
                         ok = false;
                         return;
                     }
                     for (const auto& hostItem : *list) {
                         auto text = reader_.readString(hostItem, "expected a host name");
                         auto name = text ? normalizeName(*text, false) : std::nullopt;
                         if (text && !name) {
                             reader_.error(hostItem, inQuotes(*text) + " is not a host name");
                         }
                         if (!name) {
                             ok = false;
                             continue;
                         }
                         account.hostnames.push_back(std::move(*name));
                     }
                 }},
            });
        for (auto [seen, key] : {std::pair{seenUsername, "username"},
                                 {seenPassword, "password"},
                                 {seenToken, "token"}}) {
            if (!seen) {
                reader_.error(entry.line, entry.path + "." + key, "missing");
                ok = false;
            }
        }
        return ok;
    }

    // Never puts the token in a message: only its length, or where a bad character sits.
    std::optional<std::string> readToken(const Item& item) {
        if (item.node.IsNull()) {
            reader_.error(item, "must be " + std::to_string(kTokenLength) + " characters, got 0");
            return std::nullopt;
        }
        auto token = reader_.readString(item, "expected the 42-character update token");
        if (!token)
            return std::nullopt;
        if (token->size() != kTokenLength) {
            reader_.error(item, "must be " + std::to_string(kTokenLength) + " characters, got " +
                                    std::to_string(token->size()));
            return std::nullopt;
        }
        const auto bad = std::find_if(token->begin(), token->end(), [](char c) {
            return !std::isalnum(static_cast<unsigned char>(c));
        });
        if (bad != token->end()) {
            reader_.error(item, "must be letters and digits only (A-Z, a-z, 0-9); character " +
                                    std::to_string(bad - token->begin() + 1) + " is not");
            return std::nullopt;
        }
        if (*token == kPlaceholderToken) {
            reader_.warn(item, "is the example token " + log::maskSecret(*token) +
                                   ": put the account's own token here");
        }
        return token;
    }

    // ---- top-level scalars ----

    void readStateDir(const Item& item) {
        auto text = reader_.readString(item, "expected a directory");
        if (!text)
            return;
        if (text->empty()) {
            reader_.error(item, "must not be empty");
            return;
        }
        config_.stateDir = resolve(*text);
    }

    void readRunAs(const Item& item) {
        if (item.node.IsNull()) {
            config_.runAs.reset();
            return;
        }
        auto text = reader_.readString(item, "expected a user name or null");
        if (!text)
            return;
        if (text->empty()) {
            reader_.error(item, "must be a user name or null");
            return;
        }
        if (getpwnam(text->c_str()) == nullptr) {
            reader_.error(item, "no such user " + inQuotes(*text));
            return;
        }
        config_.runAs = *text;
    }

    void readLogLevel(const Item& item) {
        auto text = reader_.readString(item, "expected debug, info, warning or error");
        if (!text)
            return;
        if (auto level = log::parseLevel(*text)) {
            config_.logLevel = *level;
        } else {
            reader_.error(item, "expected debug, info, warning or error, got " + inQuotes(*text));
        }
    }

    // ---- helpers ----

    // A duration in whole seconds: the fields it fills count seconds.
    std::optional<seconds> readSeconds(const Item& item, seconds min, seconds max) {
        auto value = reader_.readDuration(item, min, max);
        if (!value)
            return std::nullopt;
        if (value->count() % 1000 != 0) {
            reader_.error(item, "must be a whole number of seconds, got " + formatDuration(*value));
            return std::nullopt;
        }
        return std::chrono::duration_cast<seconds>(*value);
    }

    // Relative paths are relative to the configuration file, so a config works the same from
    // any working directory (make run; systemd starts us in /) and on reload.
    std::string resolve(const std::string& text) const {
        const std::filesystem::path path(text);
        if (path.is_absolute())
            return path.lexically_normal().string();
        return (baseDir_ / path).lexically_normal().string();
    }

    // null → nullopt; otherwise a path that must pass access(mode).
    std::optional<std::string> readOptionalPath(const Item& item, int mode) {
        if (item.node.IsNull())
            return std::nullopt;
        auto text = reader_.readString(item, "expected a file name or null");
        if (!text)
            return std::nullopt;
        if (text->empty()) {
            reader_.error(item, "must be a file name or null");
            return std::nullopt;
        }
        std::string path = resolve(*text);
        if (access(path.c_str(), mode) != 0) {
            reader_.error(item, "cannot " + std::string(mode == R_OK ? "read " : "find ") + path +
                                    ": " + errnoText(errno));
            return std::nullopt;
        }
        return path;
    }

    YamlReader reader_;
    const Environment& environment_;
    std::filesystem::path baseDir_;
    Config config_;
    std::vector<Located> upstreams_;
    std::vector<Located> dnsListen_;
    std::vector<Located> httpListen_;
    std::vector<Located> httpsListen_;
    std::optional<int> upstreamsLine_;
    int dnsLine_ = 1;
    int gatewayLine_ = 1;
    std::optional<std::vector<net::IpAddress>> localAddresses_;
};

// yaml-cpp says "end of sequence not found" for `- [::1]:53`; say what to do about it.
std::string syntaxHint(std::string_view yamlText, int line) {
    size_t start = 0;
    for (int i = 1; i < line && start != std::string_view::npos; ++i) {
        start = yamlText.find('\n', start);
        if (start != std::string_view::npos)
            ++start;
    }
    if (start == std::string_view::npos)
        return "";
    const std::string_view text = yamlText.substr(start, yamlText.find('\n', start) - start);
    if (text.find("]:") != std::string_view::npos &&
        text.find_first_of("\"'") == std::string_view::npos) {
        return " (write bracketed IPv6 addresses in quotes: \"[::1]:53\")";
    }
    return "";
}

}  // namespace

ParseResult parse(std::string_view yamlText, std::string_view fileName,
                  const Environment& environment) {
    YAML::Node root;
    try {
        root = YAML::Load(std::string(yamlText));
    } catch (const YAML::Exception& e) {
        const int line = e.mark.line >= 0 ? e.mark.line + 1 : 1;
        ParseResult result;
        result.errors.push_back(std::string(fileName) + ":" + std::to_string(line) + ": " + e.msg +
                                syntaxHint(yamlText, line));
        return result;
    }
    return ConfigParser(fileName, environment).run(root);
}

ParseResult loadFile(const std::string& path, const Environment& environment) {
    ParseResult failure;
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        failure.errors.push_back(path + ": cannot read: " + errnoText(errno));
        return failure;
    }
    std::string text;
    struct stat status {};
    const bool statOk = fstat(fd, &status) == 0;
    char buffer[8192];
    for (;;) {
        const ssize_t n = read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            const int error = errno;
            close(fd);
            failure.errors.push_back(path + ": cannot read: " + errnoText(error));
            return failure;
        }
        if (n == 0)
            break;
        text.append(buffer, static_cast<size_t>(n));
    }
    close(fd);
    ParseResult result = parse(text, path, environment);
    // SPEC §4: the file holds passwords and tokens.
    if (result.config && statOk && (status.st_mode & S_IROTH) != 0) {
        result.config->warnings.push_back(
            path +
            ": readable by every user of this machine, and it holds passwords and "
            "tokens (chmod o-r " +
            path + ")");
    }
    return result;
}

}  // namespace dynamo::config
