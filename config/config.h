#pragma once
// The daemon's configuration: one immutable value made by parse(), which rejects unknown keys
// and names the YAML line of every problem. Reload builds a new Config and swaps it in only if
// it is valid (docs/configuration.md#reload).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/cidr.h"
#include "net/log.h"
#include "net/socket_address.h"

namespace dynamo::config {

// How an intercepted name is answered for one address family.
struct InterceptAnswer {
    enum class Mode { Auto, Fixed, None };
    Mode mode = Mode::None;
    net::IpAddress fixed;  // with Mode::Fixed
};

struct InterceptConfig {
    // Lower-case, without trailing dot; "*.example" matches every name below example.
    std::vector<std::string> names{"members.dyndns.org", "members.dyndns.com"};
    InterceptAnswer answerIpv4{InterceptAnswer::Mode::Auto, {}};
    InterceptAnswer answerIpv6{InterceptAnswer::Mode::None, {}};
    uint32_t ttl = 60;
};

// One name of dns.records (docs/configuration.md#local-names): its data by type. Addresses are
// IP literals or an account's IP Address Token ("dd:" + 16 of 0-9A-Z), which stands for the
// newest address the gateway accepted for that account.
struct LocalRecordSet {
    std::string name;               // lower-case, no trailing dot; "*.suffix" for every name below
    std::vector<std::string> a;     // IPv4 literals or tokens
    std::vector<std::string> aaaa;  // IPv6 literals or tokens
    std::optional<std::string> cname;  // the target, lower-case; then no other data
    std::vector<std::string> txt;
    struct Mx {
        uint16_t preference = 0;
        std::string exchange;
        friend bool operator==(const Mx&, const Mx&) = default;
    };
    std::vector<Mx> mx;
    struct Srv {
        uint16_t priority = 0;
        uint16_t weight = 0;
        uint16_t port = 0;
        std::string target;
        friend bool operator==(const Srv&, const Srv&) = default;
    };
    std::vector<Srv> srv;

    friend bool operator==(const LocalRecordSet&, const LocalRecordSet&) = default;
};

// "dd:" followed by exactly 16 of 0-9 and A-Z (case-sensitive): an IP Address Token.
bool isIpToken(std::string_view text);

// Which upstream a question goes to (docs/configuration.md#upstream-selection).
enum class UpstreamPolicy { Ordered, Fastest };

// The probe sent to an upstream while it is marked down; a good answer marks it up again.
struct HealthCheckConfig {
    std::string name = ".";  // presentation form, lower-case; "." is the root
    uint16_t type = 2;       // NS
    std::chrono::milliseconds interval{5000};
};

// RFC 8767 serve-stale (docs/configuration.md#serve-stale).
struct ServeStaleConfig {
    std::chrono::seconds maxStale{86400};  // 0 turns serve-stale off
    std::chrono::milliseconds clientTimeout{1800};
    uint32_t ttl = 30;  // RFC 8767 §4
};

struct DnsConfig {
    std::vector<net::SocketAddress> listen;     // UDP and TCP on each
    std::vector<net::SocketAddress> upstreams;  // never empty after parse()
    net::CidrSet allow;
    InterceptConfig intercept;
    size_t cacheSize = 10000;  // answers; 0 disables the cache
    // How long a client waits before SERVFAIL (docs/configuration.md#dns).
    std::chrono::milliseconds upstreamTimeout{3000};
    // Local names (docs/configuration.md#local-names), answered authoritatively with this TTL.
    std::vector<LocalRecordSet> records;
    uint32_t recordsTtl = 60;

    UpstreamPolicy upstreamPolicy = UpstreamPolicy::Ordered;
    HealthCheckConfig healthCheck;
    ServeStaleConfig serveStale;
    bool prefetch = false;
};

struct TlsConfig {
    std::optional<std::string> cert;
    std::optional<std::string> key;
    std::string minVersion = "1.0";  // "1.0", "1.1", "1.2" or "1.3"
};

struct GatewayConfig {
    std::vector<net::SocketAddress> httpListen;
    std::vector<net::SocketAddress> httpsListen;
    TlsConfig tls;
    // The /setup page's administrator password as a crypt(3) hash ("$y$..." yescrypt or
    // "$6$..." SHA-512), written by `dynamo-gateway --set-admin-password`; unset = no /setup.
    std::optional<std::string> adminPasswordHash;
};

struct DynamoConfig {
    std::string updateUrl = "https://update01-dynamo.kisolabs.net/";  // ends with '/'
    std::optional<std::string> caFile;
    std::chrono::seconds minInterval{300};
    std::chrono::seconds timeout{15};
};

struct Account {
    std::string username;
    std::string password;
    std::string token;                   // exactly 42 characters
    std::vector<std::string> hostnames;  // lower-case; empty = any hostname
    std::string ipToken{};               // "dd:..." or "" (docs/configuration.md#local-names)
    std::vector<std::string> names{};    // lower-case DNS names carrying this account's address
    // The gateway keeps this account current by itself with the network's public address
    // (README "Keeping the address current without a device").
    bool selfUpdate = false;
};

// The event names alerts.channels[].events accepts, in the order docs list them. "cgnat" is
// reserved: accepted here, raised by nothing yet.
inline constexpr std::string_view kAlertEventNames[] = {"changed",  "failing", "missing_record",
                                                        "dns_down", "cgnat",   "unclean_stop"};

// One alerts.channels entry (docs/configuration.md#alerts).
struct AlertChannel {
    enum class Type { Webhook, Ntfy, Exec };
    Type type = Type::Webhook;
    std::string url;  // webhook, ntfy: http:// or https://
    // webhook: extra request header fields; their values are secrets (never logged).
    std::vector<std::pair<std::string, std::string>> headers;
    std::string command;  // exec: an absolute path, run without a shell
    // Event names this channel wants ("changed", "failing", ...); empty = all.
    std::vector<std::string> events;
    int line = 0;  // in the file, for messages naming the channel
};

struct AlertsConfig {
    std::chrono::seconds failingAfter{1800};
    std::chrono::seconds dnsDownAfter{120};
    std::vector<AlertChannel> channels;
};

// One public_address.dns_whoami entry: a name whose answer is the asker's own address, as the
// server sees it (docs/configuration.md#public_address).
struct DnsWhoami {
    net::SocketAddress server;  // port 53 unless written
    std::string name;           // lower-case, no trailing dot
    uint16_t type = 1;          // 1 (A) or 16 (TXT, the address as text)
    uint16_t dnsClass = 1;      // 1 (IN) or 3 (CH: Cloudflare's whoami.cloudflare)
    friend bool operator==(const DnsWhoami&, const DnsWhoami&) = default;
};

// Where the public address is learned (docs/configuration.md#public_address).
enum class AddressSourceKind { Router, Dns, Http };

struct PublicAddressConfig {
    // The section was written. Detection runs only then or when an account has self_update:
    // an appliance asks Google, OpenDNS or dyndns.org nothing unless told to.
    bool configured = false;
    std::vector<AddressSourceKind> sources{AddressSourceKind::Router, AddressSourceKind::Dns,
                                           AddressSourceKind::Http};
    std::optional<net::SocketAddress> router;  // nullopt = auto (the default gateway)
    std::vector<DnsWhoami> dnsWhoami = defaultDnsWhoami();
    std::vector<std::string> httpEcho{"http://checkip.dyndns.org/"};
    std::chrono::seconds interval{300};

    static std::vector<DnsWhoami> defaultDnsWhoami();
    friend bool operator==(const PublicAddressConfig&, const PublicAddressConfig&) = default;
};

struct Config {
    DnsConfig dns;
    GatewayConfig gateway;
    DynamoConfig dynamo;
    std::vector<Account> accounts;
    AlertsConfig alerts;
    PublicAddressConfig publicAddress;
    std::string stateDir = "/var/lib/dynamo-gateway";
    std::optional<std::string> runAs;
    log::Level logLevel = log::Level::Info;
    std::vector<std::string> warnings;  // said once at start: plain-HTTP update_url, and so on
};

// What parse() needs from the machine, injectable so tests do not depend on this host.
struct Environment {
    std::string resolvConfPath = "/etc/resolv.conf";
    // This host's interface addresses, for the forwarding-loop check; empty = ask the kernel.
    std::optional<std::vector<net::IpAddress>> localAddresses;
};

// Whether the daemon detects the public address: public_address written, or an account with
// self_update.
bool publicAddressWanted(const Config& config);

struct ParseResult {
    std::optional<Config> config;     // set when errors is empty
    std::vector<std::string> errors;  // each "file:line: key: problem"
};

ParseResult parse(std::string_view yamlText, std::string_view fileName,
                  const Environment& environment = {});
// A configuration file larger than this is refused (a real one is a few KiB).
inline constexpr size_t kMaxFileBytes = 1024 * 1024;
ParseResult loadFile(const std::string& path, const Environment& environment = {});

// "300", "5m", "1h", "15s", "500ms" → milliseconds; nullopt when malformed.
std::optional<std::chrono::milliseconds> parseDuration(std::string_view text);

}  // namespace dynamo::config
