// config::parse(): defaults, every key of docs/configuration.md#keys, and the exact "file:line:
// key: problem" lines users see from --check. Tables: YAML in, value or error out.

#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>

namespace dynamo::config {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr const char* kToken = "abcdefghijABCDEFGHIJ0123456789klmnopqrstuv";  // 42
constexpr const char* kAccount =
    "accounts:\n"
    "  - username: cam\n"
    "    password: hunter2secret\n"
    "    token: abcdefghijABCDEFGHIJ0123456789klmnopqrstuv\n";

std::string joined(const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& line : lines)
        text += line + "\n";
    return text;
}

net::SocketAddress address(const char* text) {
    return *net::SocketAddress::parse(text, 53);
}
net::IpAddress ip(const char* text) {
    return *net::IpAddress::parse(text);
}

class ConfigTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char pattern[] = "/tmp/config_test.XXXXXX";
        ASSERT_NE(mkdtemp(pattern), nullptr);
        dir_ = pattern;
        environment_.resolvConfPath = (dir_ / "resolv.conf").string();
        writeFile("resolv.conf", "# generated\nsearch lan\nnameserver 192.0.2.53\n");
        environment_.localAddresses = std::vector<net::IpAddress>{ip("192.0.2.10")};
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::string writeFile(const std::string& name, const std::string& text) {
        const auto path = dir_ / name;
        std::ofstream(path) << text;
        return path.string();
    }

    ParseResult parseText(const std::string& yaml) {
        return parse(yaml, "config.yaml", environment_);
    }

    // The config of a text that must parse; fails the test with every error otherwise.
    Config valid(const std::string& yaml) {
        auto result = parseText(yaml);
        EXPECT_TRUE(result.config.has_value()) << joined(result.errors);
        EXPECT_TRUE(result.errors.empty()) << joined(result.errors);
        return result.config.value_or(Config{});
    }

    std::string errorsOf(const std::string& yaml) {
        auto result = parseText(yaml);
        EXPECT_FALSE(result.config.has_value()) << yaml;
        return joined(result.errors);
    }

    std::filesystem::path dir_;
    Environment environment_;
};

// ---- durations ----

TEST(ParseDuration, AcceptsSecondsAndSuffixes) {
    const std::pair<const char*, milliseconds> cases[] = {
        {"0", milliseconds(0)},       {"300", seconds(300)},        {"15s", seconds(15)},
        {"5m", seconds(300)},         {"1h", seconds(3600)},        {"2d", seconds(172800)},
        {"500ms", milliseconds(500)}, {"1.5s", milliseconds(1500)}, {"0.5", milliseconds(500)},
        {"1.5m", seconds(90)},        {"0.001s", milliseconds(1)},
    };
    for (const auto& [text, expected] : cases) {
        SCOPED_TRACE(text);
        auto parsed = parseDuration(text);
        ASSERT_TRUE(parsed.has_value());
        EXPECT_EQ(*parsed, expected);
    }
}

TEST(ParseDuration, RefusesMalformed) {
    for (const char* text : {"", "s", "-1", "5 m", "5min", "1.s", ".5", "1e3", "0.0001s",
                             "99999999999999999999", "5M", "+5", "1.5ms"}) {
        SCOPED_TRACE(text);
        EXPECT_FALSE(parseDuration(text).has_value());
    }
}

// ---- defaults ----

TEST_F(ConfigTest, EmptyFileGivesApplianceDefaults) {
    for (const char* text : {"", "# nothing\n", "{}\n"}) {
        SCOPED_TRACE(text);
        const Config config = valid(text);
        EXPECT_EQ(config.dns.listen,
                  (std::vector<net::SocketAddress>{address("0.0.0.0:53"), address("[::]:53")}));
        EXPECT_EQ(config.dns.upstreams, std::vector<net::SocketAddress>{address("192.0.2.53")});
        EXPECT_TRUE(config.dns.allow.contains(ip("192.168.1.20")));
        EXPECT_TRUE(config.dns.allow.contains(ip("100.64.0.1")));
        EXPECT_TRUE(config.dns.allow.contains(ip("fd00::1")));
        EXPECT_TRUE(config.dns.allow.contains(ip("::ffff:10.1.2.3")));
        EXPECT_FALSE(config.dns.allow.contains(ip("8.8.8.8")));
        EXPECT_FALSE(config.dns.allow.contains(ip("2001:db8::1")));
        EXPECT_EQ(config.dns.allow.ranges().size(), 9u);
        EXPECT_EQ(config.dns.intercept.names,
                  (std::vector<std::string>{"members.dyndns.org", "members.dyndns.com"}));
        EXPECT_EQ(config.dns.intercept.answerIpv4.mode, InterceptAnswer::Mode::Auto);
        EXPECT_EQ(config.dns.intercept.answerIpv6.mode, InterceptAnswer::Mode::None);
        EXPECT_EQ(config.dns.intercept.ttl, 60u);
        EXPECT_EQ(config.dns.cacheSize, 10000u);
        EXPECT_EQ(config.dns.upstreamTimeout, seconds(3));
        EXPECT_EQ(config.gateway.httpListen, (std::vector<net::SocketAddress>{
                                                 address("0.0.0.0:80"), address("0.0.0.0:8245")}));
        EXPECT_EQ(config.gateway.httpsListen,
                  std::vector<net::SocketAddress>{address("0.0.0.0:443")});
        EXPECT_FALSE(config.gateway.tls.cert);
        EXPECT_FALSE(config.gateway.tls.key);
        EXPECT_EQ(config.gateway.tls.minVersion, "1.0");
        EXPECT_EQ(config.dynamo.updateUrl, "https://update01-dynamo.kisolabs.net/");
        EXPECT_FALSE(config.dynamo.caFile);
        EXPECT_EQ(config.dynamo.minInterval, seconds(300));
        EXPECT_EQ(config.dynamo.timeout, seconds(15));
        EXPECT_TRUE(config.accounts.empty());
        EXPECT_EQ(config.stateDir, "/var/lib/dynamo-gateway");
        EXPECT_FALSE(config.runAs);
        EXPECT_EQ(config.logLevel, log::Level::Info);
        EXPECT_EQ(config.alerts.failingAfter, seconds(1800));
        EXPECT_EQ(config.alerts.dnsDownAfter, seconds(120));
        EXPECT_TRUE(config.alerts.channels.empty());
        // Off unless asked for: no public_address section and no self_update account.
        EXPECT_FALSE(config.publicAddress.configured);
        EXPECT_FALSE(publicAddressWanted(config));
        EXPECT_EQ(config.publicAddress.sources,
                  (std::vector<AddressSourceKind>{AddressSourceKind::Router, AddressSourceKind::Dns,
                                                  AddressSourceKind::Http}));
        EXPECT_FALSE(config.publicAddress.router);
        ASSERT_EQ(config.publicAddress.dnsWhoami.size(), 3u);
        EXPECT_EQ(config.publicAddress.dnsWhoami[0].server.toString(), "208.67.222.222:53");
        EXPECT_EQ(config.publicAddress.dnsWhoami[0].name, "myip.opendns.com");
        EXPECT_EQ(config.publicAddress.dnsWhoami[0].type, 1);
        EXPECT_EQ(config.publicAddress.dnsWhoami[1].name, "o-o.myaddr.l.google.com");
        EXPECT_EQ(config.publicAddress.dnsWhoami[1].type, 16);
        EXPECT_EQ(config.publicAddress.dnsWhoami[1].server.toString(), "216.239.32.10:53");
        EXPECT_EQ(config.publicAddress.dnsWhoami[2].name, "whoami.cloudflare");
        EXPECT_EQ(config.publicAddress.dnsWhoami[2].dnsClass, 3);
        EXPECT_EQ(config.publicAddress.dnsWhoami[2].server.toString(), "1.1.1.1:53");
        EXPECT_EQ(config.publicAddress.httpEcho,
                  (std::vector<std::string>{"http://checkip.dyndns.org/"}));
        EXPECT_EQ(config.publicAddress.interval, seconds(300));
        EXPECT_THAT(joined(config.warnings),
                    HasSubstr("config.yaml:1: accounts: no accounts: updates will be refused"));
    }
}

TEST_F(ConfigTest, NullSectionsMeanDefaults) {
    const Config config = valid("dns:\ngateway:\ndynamo:\naccounts:\nrun_as: null\n");
    EXPECT_EQ(config.dns.listen.size(), 2u);
    EXPECT_EQ(config.gateway.httpListen.size(), 2u);
    EXPECT_TRUE(config.accounts.empty());
}

// ---- every key, with a value ----

struct ValueCase {
    std::string yaml;
    std::function<void(const Config&)> check;
};

TEST_F(ConfigTest, EveryKeyTakesItsValue) {
    const std::string cert = writeFile("cert.pem", "x");
    const std::string key = writeFile("key.pem", "x");
    const std::string ca = writeFile("ca.pem", "x");
    const ValueCase cases[] = {
        {"dns: {listen: [\"127.0.0.1:5353\", \"[::1]:5353\", \"::1\", 10.0.0.1]}",
         [](const Config& c) {
             EXPECT_EQ(c.dns.listen, (std::vector<net::SocketAddress>{
                                         address("127.0.0.1:5353"), address("[::1]:5353"),
                                         address("[::1]:53"), address("10.0.0.1:53")}));
         }},
        {"dns: {upstreams: [\"192.0.2.1\", \"[2001:db8::1]:53\", \"198.51.100.7:5300\"]}",
         [](const Config& c) {
             EXPECT_EQ(c.dns.upstreams, (std::vector<net::SocketAddress>{
                                            address("192.0.2.1:53"), address("[2001:db8::1]:53"),
                                            address("198.51.100.7:5300")}));
         }},
        {"dns: {allow: [10.0.0.0/8, \"2001:db8::/32\", 192.0.2.7]}",
         [](const Config& c) {
             EXPECT_TRUE(c.dns.allow.contains(ip("10.9.9.9")));
             EXPECT_TRUE(c.dns.allow.contains(ip("192.0.2.7")));
             EXPECT_FALSE(c.dns.allow.contains(ip("192.0.2.8")));
             EXPECT_TRUE(c.dns.allow.contains(ip("2001:db8::5")));
             EXPECT_FALSE(c.dns.allow.contains(ip("127.0.0.1")));
         }},
        {"dns:\n  intercept:\n    names: [Members.DynDNS.org., \"*.Example.NET\", "
         "members.dyndns.org]\n    answer_ipv4: 192.0.2.80\n    answer_ipv6: \"2001:db8::80\"\n"
         "    ttl: 5m\n",
         [](const Config& c) {
             EXPECT_EQ(c.dns.intercept.names,
                       (std::vector<std::string>{"members.dyndns.org", "*.example.net"}));
             EXPECT_EQ(c.dns.intercept.answerIpv4.mode, InterceptAnswer::Mode::Fixed);
             EXPECT_EQ(c.dns.intercept.answerIpv4.fixed, ip("192.0.2.80"));
             EXPECT_EQ(c.dns.intercept.answerIpv6.mode, InterceptAnswer::Mode::Fixed);
             EXPECT_EQ(c.dns.intercept.answerIpv6.fixed, ip("2001:db8::80"));
             EXPECT_EQ(c.dns.intercept.ttl, 300u);
         }},
        {"dns: {intercept: {answer_ipv4: auto, answer_ipv6: auto, ttl: 0}}",
         [](const Config& c) {
             EXPECT_EQ(c.dns.intercept.answerIpv4.mode, InterceptAnswer::Mode::Auto);
             EXPECT_EQ(c.dns.intercept.answerIpv6.mode, InterceptAnswer::Mode::Auto);
             EXPECT_EQ(c.dns.intercept.ttl, 0u);
         }},
        {"dns: {intercept: {names: []}}",
         [](const Config& c) {
             EXPECT_TRUE(c.dns.intercept.names.empty());
             EXPECT_THAT(joined(c.warnings), HasSubstr("dns.intercept.names: empty"));
         }},
        {"dns: {cache: {size: 0}, upstream_timeout: 500ms}",
         [](const Config& c) {
             EXPECT_EQ(c.dns.cacheSize, 0u);
             EXPECT_EQ(c.dns.upstreamTimeout, milliseconds(500));
         }},
        {"dns:\n  upstream_policy: fastest\n  health_check: {name: example.ORG., type: aaaa, "
         "interval: 30s}\n  serve_stale: {max_stale: 2h, client_timeout: 400ms, ttl: 10}\n"
         "  prefetch: true\n",
         [](const Config& c) {
             EXPECT_EQ(c.dns.upstreamPolicy, UpstreamPolicy::Fastest);
             EXPECT_EQ(c.dns.healthCheck.name, "example.org");
             EXPECT_EQ(c.dns.healthCheck.type, 28);
             EXPECT_EQ(c.dns.healthCheck.interval, seconds(30));
             EXPECT_EQ(c.dns.serveStale.maxStale, seconds(7200));
             EXPECT_EQ(c.dns.serveStale.clientTimeout, milliseconds(400));
             EXPECT_EQ(c.dns.serveStale.ttl, 10u);
             EXPECT_TRUE(c.dns.prefetch);
         }},
        {"dns: {upstream_policy: ordered, serve_stale: {max_stale: 0}, prefetch: false}",
         [](const Config& c) {
             EXPECT_EQ(c.dns.upstreamPolicy, UpstreamPolicy::Ordered);
             EXPECT_EQ(c.dns.serveStale.maxStale, seconds(0));
             EXPECT_FALSE(c.dns.prefetch);
         }},
        {"dns: {cache: {size: 10000000}, upstream_timeout: 60}",
         [](const Config& c) {
             EXPECT_EQ(c.dns.cacheSize, 10000000u);
             EXPECT_EQ(c.dns.upstreamTimeout, seconds(60));
         }},
        {"gateway:\n  http_listen: [\"127.0.0.1:8245\", \"[::1]\"]\n  https_listen: []\n",
         [](const Config& c) {
             EXPECT_EQ(c.gateway.httpListen, (std::vector<net::SocketAddress>{
                                                 *net::SocketAddress::parse("127.0.0.1", 8245),
                                                 *net::SocketAddress::parse("::1", 80)}));
             EXPECT_TRUE(c.gateway.httpsListen.empty());
         }},
        {"gateway: {https_listen: [\"192.0.2.10\", \"[::]:8443\"]}",
         [](const Config& c) {
             EXPECT_EQ(c.gateway.httpsListen, (std::vector<net::SocketAddress>{
                                                  *net::SocketAddress::parse("192.0.2.10", 443),
                                                  *net::SocketAddress::parse("[::]:8443", 1)}));
         }},
        {"gateway: {tls: {cert: " + cert + ", key: " + key + ", min_version: 1.2}}",
         [&](const Config& c) {
             EXPECT_EQ(c.gateway.tls.cert, cert);
             EXPECT_EQ(c.gateway.tls.key, key);
             EXPECT_EQ(c.gateway.tls.minVersion, "1.2");
         }},
        {"gateway: {tls: {cert: null, key: null, min_version: \"1.3\"}}",
         [](const Config& c) {
             EXPECT_FALSE(c.gateway.tls.cert);
             EXPECT_EQ(c.gateway.tls.minVersion, "1.3");
         }},
        {"gateway: {tls: {min_version: 1.0}}",
         [](const Config& c) { EXPECT_EQ(c.gateway.tls.minVersion, "1.0"); }},
        {"dynamo:\n  update_url: https://example.test/update\n  ca_file: " + ca +
             "\n  min_interval: 10m\n  timeout: 30\n",
         [&](const Config& c) {
             EXPECT_EQ(c.dynamo.updateUrl, "https://example.test/update/");
             EXPECT_EQ(c.dynamo.caFile, ca);
             EXPECT_EQ(c.dynamo.minInterval, seconds(600));
             EXPECT_EQ(c.dynamo.timeout, seconds(30));
             EXPECT_THAT(joined(c.warnings), Not(HasSubstr("dynamo.")));
         }},
        {"dynamo: {update_url: \"http://127.0.0.1:8246/\", min_interval: 1s, timeout: 300s}",
         [](const Config& c) {
             EXPECT_EQ(c.dynamo.updateUrl, "http://127.0.0.1:8246/");
             EXPECT_EQ(c.dynamo.minInterval, seconds(1));
             EXPECT_EQ(c.dynamo.timeout, seconds(300));
             EXPECT_THAT(joined(c.warnings), HasSubstr("config.yaml:1: dynamo.update_url: plain "
                                                       "http:// sends tokens unencrypted"));
             EXPECT_THAT(joined(c.warnings),
                         HasSubstr("config.yaml:1: dynamo.min_interval: shorter than the "
                                   "service's 5-minute window"));
         }},
        {std::string(kAccount) + "    hostnames: [Cam.Example.ORG., nas.example.org]\n" +
             "  - username: nas\n    password: 12345\n    token: " + kToken + "\n",
         [](const Config& c) {
             ASSERT_EQ(c.accounts.size(), 2u);
             EXPECT_EQ(c.accounts[0].username, "cam");
             EXPECT_EQ(c.accounts[0].password, "hunter2secret");
             EXPECT_EQ(c.accounts[0].token, kToken);
             EXPECT_EQ(c.accounts[0].hostnames,
                       (std::vector<std::string>{"cam.example.org", "nas.example.org"}));
             EXPECT_EQ(c.accounts[1].password, "12345");
             EXPECT_TRUE(c.accounts[1].hostnames.empty());
             EXPECT_FALSE(c.accounts[0].selfUpdate);  // opt-in
             EXPECT_FALSE(c.accounts[1].selfUpdate);
             EXPECT_THAT(joined(c.warnings), Not(HasSubstr("accounts")));
         }},
        {std::string(kAccount) + "    self_update: true\n" +
             "  - {username: nas, password: pw, token: " + kToken + ", self_update: false}\n",
         [](const Config& c) {
             ASSERT_EQ(c.accounts.size(), 2u);
             EXPECT_TRUE(c.accounts[0].selfUpdate);
             EXPECT_FALSE(c.accounts[1].selfUpdate);
             EXPECT_TRUE(publicAddressWanted(c));  // self_update turns detection on
             EXPECT_FALSE(c.publicAddress.configured);
         }},
        {"public_address:\n  sources: [dns, http]\n  router: \"127.0.0.1:5352\"\n"
         "  dns_whoami:\n    - {server: \"127.0.0.1:5300\", name: Myip.Example., type: a}\n"
         "    - {server: \"[::1]:5301\", name: whoami.test, type: TXT, class: CH}\n"
         "  http_echo: [\"http://127.0.0.1:8080/ip\", \"https://echo.example/\"]\n"
         "  interval: 10m\n",
         [](const Config& c) {
             EXPECT_TRUE(c.publicAddress.configured);
             EXPECT_TRUE(publicAddressWanted(c));
             EXPECT_EQ(
                 c.publicAddress.sources,
                 (std::vector<AddressSourceKind>{AddressSourceKind::Dns, AddressSourceKind::Http}));
             EXPECT_EQ(c.publicAddress.router->toString(), "127.0.0.1:5352");
             ASSERT_EQ(c.publicAddress.dnsWhoami.size(), 2u);
             EXPECT_EQ(c.publicAddress.dnsWhoami[0].server.toString(), "127.0.0.1:5300");
             EXPECT_EQ(c.publicAddress.dnsWhoami[0].name, "myip.example");
             EXPECT_EQ(c.publicAddress.dnsWhoami[0].type, 1);
             EXPECT_EQ(c.publicAddress.dnsWhoami[0].dnsClass, 1);
             EXPECT_EQ(c.publicAddress.dnsWhoami[1].server.toString(), "[::1]:5301");
             EXPECT_EQ(c.publicAddress.dnsWhoami[1].type, 16);
             EXPECT_EQ(c.publicAddress.dnsWhoami[1].dnsClass, 3);
             EXPECT_EQ(c.publicAddress.httpEcho.size(), 2u);
             EXPECT_EQ(c.publicAddress.interval, seconds(600));
         }},
        {"public_address:\n  router: \"192.168.1.1\"\n",
         [](const Config& c) {
             EXPECT_EQ(c.publicAddress.router->toString(), "192.168.1.1:5351");
             EXPECT_EQ(c.publicAddress.dnsWhoami.size(), 3u);  // defaults stay
         }},
        {"public_address:\n", [](const Config& c) { EXPECT_TRUE(publicAddressWanted(c)); }},
        {"public_address: {router: auto, sources: [router]}",
         [](const Config& c) { EXPECT_FALSE(c.publicAddress.router); }},
        {"state_dir: /srv/dynamo/\nrun_as: root\nlog_level: debug\n",
         [](const Config& c) {
             EXPECT_EQ(c.stateDir, "/srv/dynamo/");
             EXPECT_EQ(c.runAs, "root");
             EXPECT_EQ(c.logLevel, log::Level::Debug);
         }},
        {"dns:\n  records_ttl: 5m\n  records:\n    NAS.Example.com.: {A: 192.168.1.10}\n"
         "    home.example.com: {A: [192.168.1.2, \"dd:1234567890ABCDEF\"], AAAA: \"fd00::2\"}\n"
         "    www.example.com: {CNAME: Home.example.com}\n"
         "    example.com: {MX: [\"10 mail.example.com\"], TXT: [\"v=spf1 -all\"]}\n"
         "    _sip._udp.example.com: {SRV: \"10 5 5060 sip.example.com\"}\n"
         "    \"*.lab.example.com\": {A: 10.0.0.1}\n" +
             std::string(kAccount) +
             "    ip_token: \"dd:1234567890ABCDEF\"\n    names: [Home.Example.com]\n",
         [](const Config& c) {
             EXPECT_EQ(c.dns.recordsTtl, 300u);
             ASSERT_EQ(c.dns.records.size(), 6u);
             EXPECT_EQ(c.dns.records[0].name, "nas.example.com");
             EXPECT_EQ(c.dns.records[0].a, (std::vector<std::string>{"192.168.1.10"}));
             EXPECT_EQ(c.dns.records[1].a,
                       (std::vector<std::string>{"192.168.1.2", "dd:1234567890ABCDEF"}));
             EXPECT_EQ(c.dns.records[1].aaaa, (std::vector<std::string>{"fd00::2"}));
             EXPECT_EQ(c.dns.records[2].cname, "home.example.com");
             ASSERT_EQ(c.dns.records[3].mx.size(), 1u);
             EXPECT_EQ(c.dns.records[3].mx[0].preference, 10);
             EXPECT_EQ(c.dns.records[3].mx[0].exchange, "mail.example.com");
             EXPECT_EQ(c.dns.records[3].txt, (std::vector<std::string>{"v=spf1 -all"}));
             ASSERT_EQ(c.dns.records[4].srv.size(), 1u);
             EXPECT_EQ(c.dns.records[4].srv[0].port, 5060);
             EXPECT_EQ(c.dns.records[5].name, "*.lab.example.com");
             EXPECT_EQ(c.accounts[0].ipToken, "dd:1234567890ABCDEF");
             EXPECT_EQ(c.accounts[0].names, (std::vector<std::string>{"home.example.com"}));
         }},
        {"dns: {records_ttl: 0}",
         [](const Config& c) {
             EXPECT_EQ(c.dns.recordsTtl, 0u);
             EXPECT_TRUE(c.dns.records.empty());
         }},
        {"alerts:\n  failing_after: 1m\n  dns_down_after: 10s\n  channels:\n"
         "    - type: webhook\n      url: https://hooks.example/a?b=c\n"
         "      headers: {Authorization: Bearer x, X-Title: \"cam\"}\n"
         "      events: [changed, failing, changed]\n"
         "    - {type: ntfy, url: \"http://ntfy.lan/topic\"}\n"
         "    - {type: exec, command: /usr/local/bin/on-event, events: [cgnat, unclean_stop]}\n",
         [](const Config& c) {
             EXPECT_EQ(c.alerts.failingAfter, seconds(60));
             EXPECT_EQ(c.alerts.dnsDownAfter, seconds(10));
             ASSERT_EQ(c.alerts.channels.size(), 3u);
             const AlertChannel& hook = c.alerts.channels[0];
             EXPECT_EQ(hook.type, AlertChannel::Type::Webhook);
             EXPECT_EQ(hook.url, "https://hooks.example/a?b=c");
             EXPECT_EQ(hook.headers, (std::vector<std::pair<std::string, std::string>>{
                                         {"Authorization", "Bearer x"}, {"X-Title", "cam"}}));
             EXPECT_EQ(hook.events, (std::vector<std::string>{"changed", "failing"}));
             EXPECT_EQ(hook.line, 5);
             EXPECT_EQ(c.alerts.channels[1].type, AlertChannel::Type::Ntfy);
             EXPECT_EQ(c.alerts.channels[1].url, "http://ntfy.lan/topic");
             EXPECT_TRUE(c.alerts.channels[1].events.empty());  // all
             EXPECT_THAT(joined(c.warnings),
                         HasSubstr("config.yaml:9: alerts.channels[1].url: plain http:// sends "
                                   "alerts unencrypted"));
             EXPECT_EQ(c.alerts.channels[2].type, AlertChannel::Type::Exec);
             EXPECT_EQ(c.alerts.channels[2].command, "/usr/local/bin/on-event");
             EXPECT_EQ(c.alerts.channels[2].events,
                       (std::vector<std::string>{"cgnat", "unclean_stop"}));
         }},
        {"alerts: {failing_after: 7d, dns_down_after: 1d, channels: []}",
         [](const Config& c) {
             EXPECT_EQ(c.alerts.failingAfter, seconds(7 * 86400));
             EXPECT_EQ(c.alerts.dnsDownAfter, seconds(86400));
             EXPECT_TRUE(c.alerts.channels.empty());
         }},
        {"alerts:\n  channels:\n", [](const Config& c) { EXPECT_TRUE(c.alerts.channels.empty()); }},
        {"log_level: warning", [](const Config& c) { EXPECT_EQ(c.logLevel, log::Level::Warning); }},
        {"log_level: error", [](const Config& c) { EXPECT_EQ(c.logLevel, log::Level::Error); }},
    };
    for (const auto& [yaml, check] : cases) {
        SCOPED_TRACE(yaml);
        check(valid(yaml));
    }
}

TEST_F(ConfigTest, RelativePathsAreRelativeToTheConfigFile) {
    auto result = parse("state_dir: ../build/dev-state\n", "/etc/dynamo/config.yaml", environment_);
    ASSERT_TRUE(result.config) << joined(result.errors);
    EXPECT_EQ(result.config->stateDir, "/etc/build/dev-state");
}

// ---- errors ----

struct ErrorCase {
    std::string yaml;
    std::string expected;  // a substring of the joined error lines
};

TEST_F(ConfigTest, ReportsEachProblemWithFileLineAndKey) {
    const ErrorCase cases[] = {
        // Unknown keys, with and without a suggestion, at every level.
        {"dns:\n  upstream: [192.0.2.1]\n",
         "config.yaml:2: dns.upstream: unknown key; did you mean 'upstreams'?"},
        {"dns:\n  cache:\n    size: 5\n    ttl: 3\n", "config.yaml:4: dns.cache.ttl: unknown key"},
        {"colour: blue\n", "config.yaml:1: colour: unknown key\n"},
        {"stat_dir: /x\n", "config.yaml:1: stat_dir: unknown key; did you mean 'state_dir'?"},
        {"gateway: {tls: {certificate: a}}", "gateway.tls.certificate: unknown key"},
        {std::string(kAccount) + "    hostname: [a]\n",
         "config.yaml:5: accounts[0].hostname: unknown key; did you mean 'hostnames'?"},
        {"dns:\n  listen: [\"127.0.0.1:53\"]\n  listen: [\"127.0.0.1:54\"]\n",
         "config.yaml:3: dns.listen: key appears twice"},
        // Types.
        {"dns: [1, 2]\n", "config.yaml:1: dns: expected a mapping of keys, got a list"},
        {"- a\n- b\n", "config.yaml:1: expected a mapping of keys at the top level, got a list"},
        {"dns:\n  listen: 0.0.0.0\n", "config.yaml:2: dns.listen: expected a list, got a single"},
        {"dns:\n  cache:\n    size: lots\n",
         "config.yaml:3: dns.cache.size: expected a non-negative integer, got 'lots'"},
        {"dns: {cache: {size: -1}}", "dns.cache.size: expected a non-negative integer"},
        {"dns: {cache: {size: 10000001}}",
         "dns.cache.size: must be between 0 and 10000000, got 10000001"},
        {"dns: {cache: {size: [1]}}",
         "dns.cache.size: expected a non-negative integer, got a list"},
        {"state_dir: {a: 1}", "state_dir: expected a directory, got a mapping"},
        // Durations and ranges.
        {"dns: {upstream_timeout: 50ms}", "dns.upstream_timeout: must be between 100ms and 60s"},
        {"dns:\n  upstream_policy: random\n",
         "config.yaml:2: dns.upstream_policy: expected ordered or fastest, got 'random'"},
        {"dns:\n  health_check:\n    name: \"bad name!\"\n",
         "config.yaml:3: dns.health_check.name: 'bad name!' is not a DNS name"},
        {"dns: {health_check: {type: NSX}}", "dns.health_check.type: expected one of A, AAAA"},
        {"dns: {health_check: {interval: 100ms}}",
         "dns.health_check.interval: must be between 500ms and 3600s"},
        {"dns: {health_check: {every: 5s}}", "dns.health_check.every: unknown key"},
        {"dns: {serve_stale: {max_stale: 8d}}", "dns.serve_stale.max_stale: must be between"},
        {"dns: {serve_stale: {max_stale: 1.5s}}",
         "dns.serve_stale.max_stale: must be a whole number of seconds"},
        {"dns: {serve_stale: {client_timeout: 10ms}}",
         "dns.serve_stale.client_timeout: must be between 100ms and 60s"},
        {"dns: {serve_stale: {ttl: 0}}", "dns.serve_stale.ttl: must be between"},
        {"dns:\n  serve_stale:\n    stale_ttl: 30\n",
         "config.yaml:3: dns.serve_stale.stale_ttl: unknown key"},
        {"dns: {prefetch: maybe}", "dns.prefetch: expected true or false, got 'maybe'"},
        {"dns: {upstream_timeout: 2min}", "dns.upstream_timeout: expected a duration"},
        {"dynamo:\n  timeout: 301\n",
         "config.yaml:2: dynamo.timeout: must be between 1s and 300s, got 301"},
        {"dynamo: {timeout: 0}", "dynamo.timeout: must be between 1s and 300s"},
        {"dynamo: {timeout: 1500ms}",
         "dynamo.timeout: must be a whole number of seconds, got 1500ms"},
        {"dynamo: {min_interval: 500ms}", "dynamo.min_interval: must be between 1s and"},
        {"dns: {intercept: {ttl: 2d}}", "dns.intercept.ttl: must be between 0s and 86400s, got 2d"},
        {"dns: {intercept: {ttl: sixty}}", "dns.intercept.ttl: expected a duration"},
        // Addresses.
        {"dns:\n  upstreams: [dns.google]\n",
         "config.yaml:2: dns.upstreams[0]: 'dns.google' is not an IP address: host names are not "
         "accepted here"},
        {"dns: {listen: [\"localhost:53\"]}", "dns.listen[0]: 'localhost:53' is not an IP address"},
        {"dns: {listen: [\"127.0.0.1:99999\"]}", "bad port in '127.0.0.1:99999'"},
        {"dns: {listen: [\"[::1]:0\"]}", "bad port in '[::1]:0'"},
        {"dns: {listen: [\"[::1\"]}", "'[::1' is missing its ']'"},
        {"dns: {listen: [\"1.2.3\"]}", "'1.2.3' is not an address"},
        {"dns: {listen: []}", "dns.listen: must list at least one address"},
        {"dns: {listen: [\"127.0.0.1\", \"127.0.0.1:53\"]}",
         "dns.listen[1]: 127.0.0.1:53 is already listed as dns.listen[0]"},
        {"dns:\n  upstreams:\n    - [::1]\n",
         "config.yaml:3: dns.upstreams[0]: expected an address, got a list: write bracketed IPv6 "
         "addresses in quotes"},
        {"dns:\n  upstreams:\n    - [::1]:53\n", "config.yaml:3: "},
        {"dns:\n  upstreams:\n    - [::1]:53\n", "write bracketed IPv6 addresses in quotes"},
        {"dns: {upstreams: [0.0.0.0]}", "'0.0.0.0' means 'any address' and cannot be an upstream"},
        {"dns: {allow: [10.0.0.0/33]}", "dns.allow[0]: '10.0.0.0/33' is not an address range"},
        {"dns: {allow: []}", "dns.allow: must not be empty"},
        {"gateway: {http_listen: [\"0.0.0.0:53\"]}",
         "gateway.http_listen[0]: 0.0.0.0:53 is also used by dns.listen"},
        {"gateway: {https_listen: [\"0.0.0.0:80\"]}",
         "gateway.https_listen[0]: 0.0.0.0:80 is also used by gateway.http_listen"},
        {"gateway:\n  http_listen: []\n  https_listen: []\n",
         "config.yaml:1: gateway: http_listen and https_listen are both empty"},
        // Interception.
        {"dns: {intercept: {names: [\"bad name.org\"]}}",
         "dns.intercept.names[0]: 'bad name.org' is not a DNS name"},
        {"dns: {intercept: {names: [\"a..b\"]}}", "'a..b' is not a DNS name"},
        {"dns: {intercept: {names: [\"" + std::string(64, 'a') + ".org\"]}}", "is not a DNS name"},
        {"dns: {intercept: {names: [\"" +
             std::string(200, 'a').replace(50, 1, ".").replace(120, 1, ".") + "." +
             std::string(60, 'b') + "\"]}}",
         "is not a DNS name"},
        {"dns: {intercept: {names: [\"*.\"]}}", "'*.' is not a DNS name"},
        {"dns: {intercept: {names: [\"a.*.org\"]}}", "'a.*.org' is not a DNS name"},
        {"dns: {intercept: {answer_ipv4: \"2001:db8::1\"}}",
         "dns.intercept.answer_ipv4: expected auto or an IPv4 address, got '2001:db8::1'"},
        {"dns: {intercept: {answer_ipv4: none}}", "expected auto or an IPv4 address, got 'none'"},
        {"dns: {intercept: {answer_ipv6: 192.0.2.1}}",
         "dns.intercept.answer_ipv6: expected none, auto or an IPv6 address, got '192.0.2.1'"},
        // TLS.
        {"gateway: {tls: {min_version: 1.4}}",
         "gateway.tls.min_version: expected 1.0, 1.1, 1.2 or 1.3, got '1.4'"},
        {"gateway: {tls: {min_version: 1}}", "got '1'"},
        {"gateway:\n  tls:\n    key: /nonexistent/key.pem\n",
         "config.yaml:3: gateway.tls.key: cannot find /nonexistent/key.pem: No such file or "
         "directory"},
        // dynamo.
        {"dynamo: {update_url: \"ftp://x/\"}", "dynamo.update_url: must start with https://"},
        {"dynamo: {update_url: \"https:///\"}", "dynamo.update_url: has no host"},
        {"dynamo: {update_url: \"https://x/?t=\"}", "must not contain '?'"},
        {"dynamo:\n  ca_file: /nonexistent/ca.pem\n",
         "config.yaml:2: dynamo.ca_file: cannot read /nonexistent/ca.pem: No such file or "
         "directory"},
        // Accounts.
        {"accounts:\n  - username: cam\n    password: pw\n    token: abcDEF123456\n",
         "config.yaml:4: accounts[0].token: must be 42 characters, got 12"},
        {"accounts:\n  - username: cam\n    password: pw\n    token: "
         "abcdefghijABCDEFGHIJ-123456789klmnopqrstuv\n",
         "accounts[0].token: must be letters and digits only (A-Z, a-z, 0-9); character 21 is not"},
        {"accounts:\n  - username: cam\n    password: pw\n",
         "config.yaml:2: accounts[0].token: missing"},
        {std::string(kAccount) + "    self_update: yes\n",
         "config.yaml:5: accounts[0].self_update: expected true or false, got 'yes'"},
        {std::string(kAccount) + "    self_update: [true]\n",
         "config.yaml:5: accounts[0].self_update: expected true or false, got a list"},
        {"accounts:\n  - username: \"\"\n    password: pw\n    token: " + std::string(kToken) +
             "\n",
         "config.yaml:2: accounts[0].username: must not be empty"},
        {"accounts:\n  - username: a:b\n    password: pw\n    token: " + std::string(kToken) + "\n",
         "accounts[0].username: must not contain ':'"},
        {"accounts:\n  - username: cam\n    password:\n    token: " + std::string(kToken) + "\n",
         "config.yaml:3: accounts[0].password: must not be empty"},
        {std::string(kAccount) + "  - username: cam\n    password: other\n    token: " + kToken +
             "\n",
         "config.yaml:5: accounts[1].username: 'cam' is already used by accounts[0]"},
        {std::string(kAccount) + "    hostnames: [\"not valid\"]\n",
         "accounts[0].hostnames[0]: 'not valid' is not a host name"},
        {"accounts: {username: cam}", "accounts: expected a list, got a mapping"},
        {"accounts: [cam]", "accounts[0]: expected a mapping with username, password, token"},
        // Top-level scalars.
        {"state_dir: \"\"", "state_dir: must not be empty"},
        {"run_as: no-such-user-hopefully", "run_as: no such user 'no-such-user-hopefully'"},
        {"log_level: verbose", "log_level: expected debug, info, warning or error, got 'verbose'"},
        // Local names.
        {"dns: {records_ttl: 2d}", "dns.records_ttl: must be between 0s and 86400s, got 2d"},
        {"dns:\n  records: [a]\n", "config.yaml:2: dns.records: expected a mapping of names"},
        {"dns:\n  records:\n    bad..name: {A: 10.0.0.1}\n",
         "config.yaml:3: dns.records.bad..name: 'bad..name' is not a DNS name"},
        {"dns:\n  records:\n    a.example: {A: \"fd00::1\"}\n",
         "config.yaml:3: dns.records.a.example.A: 'fd00::1' is not an IPv4 address"},
        {"dns:\n  records:\n    a.example: {PTR: x.example}\n",
         "config.yaml:3: dns.records.a.example.PTR: unknown key"},
        {"dns:\n  records:\n    a.example: {A: \"dd:123\"}\n",
         "dns.records.a.example.A: 'dd:123' is not an IP Address Token"},
        {"dns:\n  records:\n    a.example: {A: \"dd:1234567890abcdef\"}\n",
         "'dd:1234567890abcdef' is not an IP Address Token"},
        {"dns:\n  records:\n    a.example: {A: \"dd:1234567890ABCDEF\"}\n",
         "config.yaml:3: dns.records.a.example: no account has ip_token 'dd:1234567890ABCDEF'"},
        {"dns:\n  records:\n    a.example: {CNAME: b.example, A: 10.0.0.1}\n",
         "config.yaml:3: dns.records.a.example: a CNAME cannot stand beside other data"},
        {"dns:\n  records:\n    a.example: {CNAME: b.example}\n    b.example: {CNAME: a.example}\n",
         "config.yaml:3: dns.records.a.example: CNAME loop: a.example -> b.example -> a.example"},
        {"dns:\n  records:\n    a.example: {CNAME: a.example}\n",
         "dns.records.a.example: CNAME loop: a.example -> a.example"},
        {"dns:\n  records:\n    a.example: {CNAME: x.w.example}\n    \"*.w.example\": {CNAME: "
         "a.example}\n",
         "CNAME loop"},
        {"dns:\n  records:\n    a.example: {MX: \"mail.example\"}\n",
         "dns.records.a.example.MX: 'mail.example' is not an MX value"},
        {"dns:\n  records:\n    a.example: {SRV: \"1 2 sip.example\"}\n",
         "dns.records.a.example.SRV: '1 2 sip.example' is not an SRV value"},
        {"dns:\n  records:\n    members.dyndns.org: {A: 10.0.0.1}\n",
         "config.yaml:3: dns.records.members.dyndns.org: the name is also intercepted"},
        {"dns:\n  records:\n    a.example: {A: 10.0.0.1}\n    A.example.: {A: 10.0.0.2}\n",
         "config.yaml:4: dns.records.A.example.: the name is already listed as "
         "dns.records.a.example"},
        {std::string(kAccount) + "    ip_token: \"dd:12345\"\n",
         "config.yaml:5: accounts[0].ip_token: 'dd:12345' is not an IP Address Token"},
        {std::string(kAccount) +
             "    ip_token: \"dd:1234567890ABCDEF\"\n  - username: b\n"
             "    password: x\n    token: " +
             kToken + "\n    ip_token: \"dd:1234567890ABCDEF\"\n",
         "config.yaml:9: accounts[1].ip_token: is already the ip_token of 'cam'"},
        {std::string(kAccount) + "    names: [members.dyndns.org]\n",
         "config.yaml:5: accounts[0].names[0]: the name is also intercepted"},
        {std::string(kAccount) + "    names: [a..b]\n",
         "config.yaml:5: accounts[0].names[0]: 'a..b' is not a DNS name"},
        {std::string(kAccount) +
             "    names: [a.example]\n  - username: b\n"
             "    password: x\n    token: " +
             kToken + "\n    names: [A.example]\n",
         "config.yaml:9: accounts[1].names[0]: 'a.example' is already in accounts[0].names"},
        {"dns:\n  records:\n    a.example: {CNAME: b.example}\n" + std::string(kAccount) +
             "    names: [a.example]\n",
         "accounts[0].names[0]: dns.records gives a.example a CNAME"},
        // Alerts.
        {"alerts: {failing_after: 59s}",
         "alerts.failing_after: must be between 60s and 604800s, got 59s"},
        {"alerts: {failing_after: 8d}", "alerts.failing_after: must be between 60s and 604800s"},
        {"alerts: {failing_after: 90.5s}",
         "alerts.failing_after: must be a whole number of seconds"},
        {"alerts: {dns_down_after: 9s}",
         "alerts.dns_down_after: must be between 10s and 86400s, got 9s"},
        {"alerts: {dns_down_after: 2d}", "alerts.dns_down_after: must be between 10s and 86400s"},
        {"alerts: {dns_down_after: soon}", "alerts.dns_down_after: expected a duration"},
        {"alerts: {channel: []}", "alerts.channel: unknown key; did you mean 'channels'?"},
        {"alerts: {channels: {type: exec}}", "alerts.channels: expected a list"},
        {"alerts:\n  channels:\n    - webhook\n",
         "config.yaml:3: alerts.channels[0]: expected a mapping with type and url or command"},
        {"alerts:\n  channels:\n    - type: sms\n      url: https://x.example/\n",
         "config.yaml:3: alerts.channels[0].type: expected webhook, ntfy or exec, got 'sms'"},
        {"alerts:\n  channels:\n    - url: https://x.example/\n",
         "config.yaml:3: alerts.channels[0]: type is required: webhook, ntfy or exec"},
        {"alerts:\n  channels:\n    - type: webhook\n",
         "config.yaml:3: alerts.channels[0]: a webhook or ntfy channel needs url"},
        {"alerts: {channels: [{type: ntfy}]}",
         "alerts.channels[0]: a webhook or ntfy channel needs url"},
        {"alerts:\n  channels:\n    - type: webhook\n      url: https://me:pw@x.example/hook\n",
         "config.yaml:4: alerts.channels[0].url: must not carry user:password (use headers)"},
        {"alerts: {channels: [{type: ntfy, url: \"ftp://x.example/t\"}]}",
         "alerts.channels[0].url: must start with https:// (or http://)"},
        {"alerts: {channels: [{type: ntfy, url: \"x.example/t\"}]}",
         "alerts.channels[0].url: must start with https:// (or http://)"},
        {"alerts: {channels: [{type: ntfy, url: \"https://x.example/t#frag\"}]}",
         "alerts.channels[0].url: must not contain '#' or white space"},
        {"alerts: {channels: [{type: webhook, url: [a]}]}",
         "alerts.channels[0].url: expected a URL"},
        {"alerts:\n  channels:\n    - type: ntfy\n      url: https://x.example/t\n"
         "      headers: {Authorization: x}\n",
         "config.yaml:5: alerts.channels[0].headers: is for webhook channels only"},
        {"alerts:\n  channels:\n    - type: exec\n      command: /bin/true\n"
         "      headers: {Authorization: x}\n",
         "config.yaml:5: alerts.channels[0].headers: is for webhook and ntfy channels, not exec"},
        {"alerts: {channels: [{type: exec, command: /bin/true, url: \"https://x.example/\"}]}",
         "alerts.channels[0].url: is for webhook and ntfy channels, not exec"},
        {"alerts: {channels: [{type: webhook, url: \"https://x.example/\", headers: [a]}]}",
         "alerts.channels[0].headers: expected a mapping of header names to values, got a list"},
        {"alerts:\n  channels:\n    - type: webhook\n      url: https://x.example/\n"
         "      headers:\n        Host: evil.example\n",
         "config.yaml:6: alerts.channels[0].headers.Host: is set by the gateway itself"},
        {"alerts: {channels: [{type: webhook, url: \"https://x.example/\", headers: "
         "{content-length: 5}}]}",
         "alerts.channels[0].headers.content-length: is set by the gateway itself"},
        {"alerts: {channels: [{type: webhook, url: \"https://x.example/\", headers: "
         "{Content-Type: text/plain}}]}",
         "alerts.channels[0].headers.Content-Type: is set by the gateway itself"},
        {"alerts: {channels: [{type: webhook, url: \"https://x.example/\", headers: "
         "{Connection: close}}]}",
         "alerts.channels[0].headers.Connection: is set by the gateway itself"},
        {"alerts: {channels: [{type: webhook, url: \"https://x.example/\", headers: "
         "{Transfer-Encoding: chunked}}]}",
         "alerts.channels[0].headers.Transfer-Encoding: is set by the gateway itself"},
        {"alerts: {channels: [{type: webhook, url: \"https://x.example/\", headers: "
         "{\"X Bad\": 1}}]}",
         "alerts.channels[0].headers.X Bad: not a valid header name"},
        {"alerts: {channels: [{type: webhook, url: \"https://x.example/\", headers: "
         "{X-A: [1]}}]}",
         "alerts.channels[0].headers.X-A: expected a string"},
        {"alerts: {channels: [{type: webhook, url: \"https://x.example/\", headers: "
         "{X-A: \"a\\r\\nInjected: 1\"}}]}",
         "alerts.channels[0].headers.X-A: must not contain control characters"},
        {"alerts:\n  channels:\n    - type: exec\n      command: on-event.sh\n",
         "config.yaml:4: alerts.channels[0].command: must be an absolute path (it runs without a "
         "shell)"},
        {"alerts: {channels: [{type: exec}]}", "alerts.channels[0]: an exec channel needs command"},
        {"alerts: {channels: [{type: webhook, url: \"https://x.example/\", command: /bin/true}]}",
         "alerts.channels[0].command: is for exec channels only"},
        {"alerts:\n  channels:\n    - type: exec\n      command: /bin/true\n"
         "      events: [changed, reboot]\n",
         "config.yaml:5: alerts.channels[0].events[1]: unknown event 'reboot'; expected one of "
         "changed, failing, missing_record, dns_down, cgnat, unclean_stop"},
        {"alerts: {channels: [{type: exec, command: /bin/true, events: []}]}",
         "alerts.channels[0].events: must name at least one event (leave it out for all)"},
        {"alerts: {channels: [{type: exec, command: /bin/true, events: changed}]}",
         "alerts.channels[0].events: expected a list"},
        {"alerts: {channels: [{type: exec, command: /bin/true, every: 5m}]}",
         "alerts.channels[0].every: unknown key"},
        // public_address.
        {"public_address:\n  source: [dns]\n",
         "config.yaml:2: public_address.source: unknown key; did you mean 'sources'?"},
        {"public_address:\n  sources: [dns, devices]\n",
         "config.yaml:2: public_address.sources[1]: expected router, dns or http, got 'devices'"},
        {"public_address: {sources: [dns, dns]}", "public_address.sources[1]: names dns twice"},
        {"public_address: {sources: []}", "public_address.sources: must name at least one"},
        {"public_address: {router: gateway.lan}",
         "public_address.router: expected auto, \"a.b.c.d\" or \"a.b.c.d:port\", got "
         "'gateway.lan'"},
        {"public_address: {router: \"fe80::1\"}", "public_address.router: expected auto"},
        {"public_address:\n  dns_whoami:\n    - {server: 1.1.1.1, name: whoami.cloudflare, "
         "type: AAAA}\n",
         "config.yaml:3: public_address.dns_whoami[0].type: expected A or TXT, got 'AAAA'"},
        {"public_address: {dns_whoami: [{server: 1.1.1.1, name: x.test, class: HS}]}",
         "public_address.dns_whoami[0].class: expected IN or CH, got 'HS'"},
        {"public_address: {dns_whoami: [{server: one.one.one.one, name: x.test}]}",
         "public_address.dns_whoami[0].server: expected an IP address"},
        {"public_address: {dns_whoami: [{name: x.test}]}",
         "public_address.dns_whoami[0]: server is required"},
        {"public_address: {dns_whoami: [{server: 1.1.1.1, name: \"a..b\"}]}",
         "public_address.dns_whoami[0].name: not a valid DNS name"},
        {"public_address: {dns_whoami: [{server: 1.1.1.1, name: x.test, ttl: 5}]}",
         "public_address.dns_whoami[0].ttl: unknown key"},
        {"public_address: {dns_whoami: []}", "public_address: names dns, but dns_whoami is empty"},
        {"public_address: {sources: [http], http_echo: []}",
         "public_address.sources: names http, but http_echo is empty"},
        {"public_address: {http_echo: [\"ftp://x/\"]}",
         "public_address.http_echo[0]: must start with http:// or https://"},
        {"public_address: {http_echo: [\"http://user:pw@x/\"]}",
         "public_address.http_echo[0]: needs a host and no user:password"},
        {"public_address: {interval: 30s}", "public_address.interval: "},
        // YAML syntax.
        {"dns:\n  listen: [1, 2\ngateway: 3\n", "config.yaml:3: end of sequence flow not found"},
        {"a: b: c\n", "config.yaml:1: illegal map value"},
    };
    for (const auto& [yaml, expected] : cases) {
        SCOPED_TRACE(yaml);
        EXPECT_THAT(errorsOf(yaml), HasSubstr(expected));
    }
}

// Keys, values and yaml-cpp's messages are quoted from the file: a raw byte or a newline in it
// reaches the log as \xNN, never as itself.
TEST_F(ConfigTest, MessagesAreMadePrintable) {
    const ErrorCase cases[] = {
        {"colo\xfbr: blue\n", "config.yaml:1: colo\\xfbr: unknown key"},
        {"dns:\n  cache:\n    size: \"12\\n<3>forged\"\n",
         "config.yaml:3: dns.cache.size: expected a non-negative integer, got '12\\x0a<3>forged'"},
        {"log_level: \"\x1b[31mred\"\n", "log_level: "},
        {"dns: [\xfb\n", "config.yaml:"},
        {"dns: \"\\\xfb\"\n", "config.yaml:1: "},
    };
    for (const auto& [yaml, expected] : cases) {
        SCOPED_TRACE(yaml);
        const std::string errors = errorsOf(yaml);
        EXPECT_THAT(errors, HasSubstr(expected));
        for (const char ch : errors) {
            EXPECT_TRUE(ch == '\n' || (ch >= 0x20 && ch < 0x7f))
                << "byte " << static_cast<int>(static_cast<unsigned char>(ch)) << " in " << errors;
        }
    }
}

TEST_F(ConfigTest, CollectsEveryErrorNotJustTheFirst) {
    const auto result = parseText(
        "dns:\n"
        "  upstreams: [dns.google]\n"
        "  cache: {size: many}\n"
        "dynamo:\n"
        "  timeout: 0\n"
        "accounts:\n"
        "  - username: cam\n"
        "    password: pw\n"
        "    token: short\n"
        "log_level: loud\n");
    EXPECT_FALSE(result.config);
    ASSERT_EQ(result.errors.size(), 5u) << joined(result.errors);
    EXPECT_THAT(result.errors[0], HasSubstr("config.yaml:2: dns.upstreams[0]: "));
    EXPECT_THAT(result.errors[1], HasSubstr("config.yaml:3: dns.cache.size: "));
    EXPECT_THAT(result.errors[2], HasSubstr("config.yaml:5: dynamo.timeout: "));
    EXPECT_EQ(result.errors[3], "config.yaml:9: accounts[0].token: must be 42 characters, got 5");
    EXPECT_THAT(result.errors[4], HasSubstr("config.yaml:10: log_level: "));
}

TEST_F(ConfigTest, SecretsNeverAppearInMessages) {
    const std::string secretToken = "SECRETtokenSECRETtokenSECRETtokenSECRET1-x";  // 42, bad char
    const std::string longToken = "SECRETtokenSECRETtokenSECRETtokenSECRET1234";   // 43
    const std::string placeholder = "1234567890ABCDEFGHIJKLMNOPQRSTUVWXYZ123456";
    for (const auto& token : {secretToken, longToken, placeholder}) {
        auto result = parseText(
            "accounts:\n  - username: cam\n    password: pa55:word\n"
            "    token: " +
            token + "\n    extra: 1\n");
        const std::string everything =
            joined(result.errors) + (result.config ? joined(result.config->warnings) : "");
        SCOPED_TRACE(everything);
        EXPECT_THAT(everything, HasSubstr("accounts[0]"));
        EXPECT_THAT(everything, Not(HasSubstr(token)));
        EXPECT_THAT(everything, Not(HasSubstr(token.substr(4))));
        EXPECT_THAT(everything, Not(HasSubstr("pa55")));
    }
}

// A webhook header's value is a bearer token: a bad one is named by its header, never quoted.
TEST_F(ConfigTest, AlertHeaderValuesNeverAppearInMessages) {
    auto result = parseText(
        "alerts:\n  channels:\n    - type: webhook\n      url: https://x.example/\n"
        "      headers: {Authorization: \"Bearer SECRETbearer\\x01\", X-Key: [SECRETlist]}\n");
    EXPECT_FALSE(result.config);
    const std::string errors = joined(result.errors);
    EXPECT_THAT(errors, HasSubstr("headers.Authorization: must not contain control characters"));
    EXPECT_THAT(errors, HasSubstr("headers.X-Key: expected a string"));
    EXPECT_THAT(errors, Not(HasSubstr("SECRET")));
}

TEST_F(ConfigTest, WarnsAboutTheExampleToken) {
    auto result = parseText(
        "accounts:\n  - username: u\n    password: p\n"
        "    token: 1234567890ABCDEFGHIJKLMNOPQRSTUVWXYZ123456\n");
    ASSERT_TRUE(result.config) << joined(result.errors);
    EXPECT_THAT(joined(result.config->warnings),
                HasSubstr("config.yaml:4: accounts[0].token: is the example token 1234"));
}

// ---- upstreams: resolv.conf default and forwarding loops ----

TEST_F(ConfigTest, UpstreamsDefaultToResolvConfMinusOwnAddresses) {
    writeFile("resolv.conf",
              "nameserver 127.0.0.1\n"     // loopback: we listen on 0.0.0.0:53
              "nameserver 192.0.2.10\n"    // this host's interface address
              "nameserver ::1\n"           // loopback on [::]:53
              "nameserver fe80::1%eth0\n"  // scoped: unusable
              "; nameserver 192.0.2.99\n"  // comment
              "nameserver 192.0.2.1\n"
              "nameserver 2001:db8::53\n"
              "nameserver 192.0.2.1\n");  // repeated
    const Config config = valid("");
    EXPECT_EQ(config.dns.upstreams, (std::vector<net::SocketAddress>{
                                        address("192.0.2.1:53"), address("[2001:db8::53]:53")}));
}

TEST_F(ConfigTest, ResolvConfLoopbackIsKeptWhenWeListenElsewhere) {
    writeFile("resolv.conf", "nameserver 127.0.0.53\n");
    const Config config = valid("dns: {listen: [\"127.0.0.1:5353\"]}");
    EXPECT_EQ(config.dns.upstreams, std::vector<net::SocketAddress>{address("127.0.0.53:53")});
}

TEST_F(ConfigTest, ResolvConfLoopbackIsDroppedWhenWeListenOnLoopbackPort53) {
    writeFile("resolv.conf", "nameserver 127.0.0.53\nnameserver 192.0.2.1\n");
    const Config config = valid("dns: {listen: [\"127.0.0.1\"]}");
    EXPECT_EQ(config.dns.upstreams, std::vector<net::SocketAddress>{address("192.0.2.1")});
}

TEST_F(ConfigTest, EmptyUpstreamListAlsoMeansResolvConf) {
    EXPECT_EQ(valid("dns: {upstreams: []}").dns.upstreams,
              std::vector<net::SocketAddress>{address("192.0.2.53")});
    EXPECT_EQ(valid("dns: {upstreams: null}").dns.upstreams,
              std::vector<net::SocketAddress>{address("192.0.2.53")});
}

TEST_F(ConfigTest, NoUsableResolvConfIsAnError) {
    writeFile("resolv.conf", "nameserver 127.0.0.1\nnameserver 192.0.2.10\n");
    EXPECT_THAT(errorsOf("dns:\n  upstreams: []\n"),
                HasSubstr("config.yaml:2: dns.upstreams: none configured and none usable in " +
                          environment_.resolvConfPath +
                          " (127.0.0.1:53, 192.0.2.10:53: this daemon's own address)"));
    writeFile("resolv.conf", "search lan\n");
    EXPECT_THAT(errorsOf("log_level: info\n"),
                HasSubstr("config.yaml:1: dns.upstreams: none configured and none usable in " +
                          environment_.resolvConfPath + " (no nameserver lines)"));
    environment_.resolvConfPath = (dir_ / "missing").string();
    EXPECT_THAT(errorsOf("dns: {}\n"), HasSubstr("none usable in " + environment_.resolvConfPath +
                                                 " (cannot read it: No such file or directory)"));
}

TEST_F(ConfigTest, ForwardingLoopIsRefused) {
    const ErrorCase cases[] = {
        {"dns:\n  listen: [\"192.0.2.10:53\"]\n  upstreams: [192.0.2.10]\n",
         "config.yaml:3: dns.upstreams[0]: forwarding loop: 192.0.2.10:53 is this daemon's own "
         "listen address"},
        {"dns: {upstreams: [127.0.0.1]}", "forwarding loop: 127.0.0.1:53"},
        {"dns: {upstreams: [127.0.0.53]}", "forwarding loop: 127.0.0.53:53"},
        {"dns: {upstreams: [\"::1\"]}", "forwarding loop: [::1]:53"},
        {"dns: {upstreams: [192.0.2.10]}", "forwarding loop: 192.0.2.10:53"},
        {"dns: {upstreams: [\"::ffff:192.0.2.10\"]}", "forwarding loop: [::ffff:192.0.2.10]:53"},
        {"dns: {listen: [\"[::]:53\"], upstreams: [\"::1\"]}", "forwarding loop: [::1]:53"},
        {"dns: {listen: [\"[::1]:5353\"], upstreams: [\"[::1]:5353\"]}",
         "forwarding loop: [::1]:5353"},
    };
    for (const auto& [yaml, expected] : cases) {
        SCOPED_TRACE(yaml);
        EXPECT_THAT(errorsOf(yaml), HasSubstr(expected));
    }
}

TEST_F(ConfigTest, UpstreamsThatAreNotOurselvesAreFine) {
    const char* cases[] = {
        "dns: {listen: [\"127.0.0.1:5353\"], upstreams: [\"127.0.0.1:5300\"]}",
        "dns: {listen: [\"127.0.0.1:53\"], upstreams: [127.0.0.53]}",  // resolved beside us
        "dns: {listen: [\"0.0.0.0:53\"], upstreams: [\"::1\"]}",       // v4-only wildcard
        // Our [::] sockets are IPV6_V6ONLY: they never see a query sent to an IPv4 address.
        "dns: {listen: [\"[::]:53\"], upstreams: [127.0.0.1]}",
        "dns: {listen: [\"[::]:53\"], upstreams: [192.0.2.10]}",
        "dns: {listen: [\"0.0.0.0:53\"], upstreams: [\"192.0.2.10:5300\"]}",
        "dns: {upstreams: [192.0.2.11]}",
    };
    for (const char* yaml : cases) {
        SCOPED_TRACE(yaml);
        EXPECT_EQ(valid(yaml).dns.upstreams.size(), 1u);
    }
}

// ---- files ----

TEST_F(ConfigTest, LoadFileNamesTheFileInErrors) {
    const std::string path = writeFile("bad.yaml", "dns:\n  cache:\n    size: x\n");
    auto result = loadFile(path, environment_);
    ASSERT_EQ(result.errors.size(), 1u);
    EXPECT_EQ(result.errors[0],
              path + ":3: dns.cache.size: expected a non-negative integer, got 'x'");

    result = loadFile((dir_ / "absent.yaml").string(), environment_);
    ASSERT_EQ(result.errors.size(), 1u);
    EXPECT_EQ(result.errors[0],
              (dir_ / "absent.yaml").string() + ": cannot read: No such file or directory");
}

TEST_F(ConfigTest, LoadFileRefusesAFileLargerThanAnyConfiguration) {
    // A comment line of 1 MiB: valid YAML, but never read into memory.
    const std::string path =
        writeFile("huge.yaml", std::string(kAccount) + "#" + std::string(kMaxFileBytes, 'x'));
    const auto result = loadFile(path, environment_);
    EXPECT_FALSE(result.config);
    ASSERT_EQ(result.errors.size(), 1u);
    EXPECT_EQ(result.errors[0], path + ": larger than 1 MiB");
}

TEST_F(ConfigTest, LoadFileWarnsWhenOthersCanReadTheSecrets) {
    const std::string path = writeFile("open.yaml", kAccount);
    ASSERT_EQ(chmod(path.c_str(), 0644), 0);
    auto result = loadFile(path, environment_);
    ASSERT_TRUE(result.config) << joined(result.errors);
    EXPECT_THAT(joined(result.config->warnings), HasSubstr(path + ": readable by every user"));
    ASSERT_EQ(chmod(path.c_str(), 0640), 0);
    result = loadFile(path, environment_);
    ASSERT_TRUE(result.config) << joined(result.errors);
    EXPECT_THAT(joined(result.config->warnings), Not(HasSubstr("readable")));
}

std::filesystem::path sourceDir() {
    if (const char* dir = std::getenv("DYNAMO_SOURCE_DIR"))
        return dir;
    return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
}

TEST_F(ConfigTest, ShippedConfigurationsParseCleanly) {
    for (const char* name : {"config/example.yaml", "config/dev.yaml"}) {
        SCOPED_TRACE(name);
        const auto path = (sourceDir() / name).string();
        auto result = loadFile(path, environment_);
        ASSERT_TRUE(result.config) << joined(result.errors);
        EXPECT_FALSE(result.config->accounts.empty());
    }
}

TEST_F(ConfigTest, ExampleYamlIsTheApplianceDefaults) {
    auto result = loadFile((sourceDir() / "config/example.yaml").string(), environment_);
    ASSERT_TRUE(result.config) << joined(result.errors);
    const Config& example = *result.config;
    const Config defaults = valid(kAccount);
    EXPECT_EQ(example.dns.listen, defaults.dns.listen);
    EXPECT_EQ(example.dns.upstreams, defaults.dns.upstreams);
    EXPECT_EQ(example.dns.allow.ranges().size(), defaults.dns.allow.ranges().size());
    EXPECT_EQ(example.dns.intercept.names, defaults.dns.intercept.names);
    EXPECT_EQ(example.dns.intercept.ttl, defaults.dns.intercept.ttl);
    EXPECT_EQ(example.dns.cacheSize, defaults.dns.cacheSize);
    EXPECT_EQ(example.dns.upstreamTimeout, defaults.dns.upstreamTimeout);
    EXPECT_EQ(example.gateway.httpListen, defaults.gateway.httpListen);
    EXPECT_EQ(example.gateway.httpsListen, defaults.gateway.httpsListen);
    EXPECT_EQ(example.gateway.tls.minVersion, defaults.gateway.tls.minVersion);
    EXPECT_EQ(example.dynamo.updateUrl, defaults.dynamo.updateUrl);
    EXPECT_EQ(example.dynamo.minInterval, defaults.dynamo.minInterval);
    EXPECT_EQ(example.dynamo.timeout, defaults.dynamo.timeout);
    EXPECT_EQ(example.stateDir, defaults.stateDir);
    EXPECT_EQ(example.logLevel, defaults.logLevel);
    EXPECT_EQ(example.dns.upstreamPolicy, defaults.dns.upstreamPolicy);
    EXPECT_EQ(example.dns.healthCheck.name, defaults.dns.healthCheck.name);
    EXPECT_EQ(example.dns.healthCheck.type, defaults.dns.healthCheck.type);
    EXPECT_EQ(example.dns.healthCheck.interval, defaults.dns.healthCheck.interval);
    EXPECT_EQ(example.dns.serveStale.maxStale, defaults.dns.serveStale.maxStale);
    EXPECT_EQ(example.dns.serveStale.clientTimeout, defaults.dns.serveStale.clientTimeout);
    EXPECT_EQ(example.dns.serveStale.ttl, defaults.dns.serveStale.ttl);
    EXPECT_EQ(example.dns.prefetch, defaults.dns.prefetch);
    EXPECT_EQ(example.dns.records, defaults.dns.records);
    EXPECT_EQ(example.dns.recordsTtl, defaults.dns.recordsTtl);
    ASSERT_EQ(example.accounts.size(), 1u);
    EXPECT_EQ(example.accounts[0].selfUpdate, defaults.accounts[0].selfUpdate);
    // The appliance asks no outside service for its address unless told to.
    EXPECT_FALSE(publicAddressWanted(example));
}

// The commented-out public_address block of example.yaml works once its "# " are removed, and
// says the defaults.
TEST_F(ConfigTest, ExampleYamlPublicAddressBlockIsTheDefaults) {
    std::ifstream file(sourceDir() / "config/example.yaml");
    std::string line, block;
    bool inBlock = false;
    while (std::getline(file, line)) {
        if (line == "# public_address:")
            inBlock = true;
        else if (inBlock && !line.starts_with("#  "))
            break;
        if (inBlock)
            block += line.substr(2) + "\n";
    }
    ASSERT_FALSE(block.empty()) << "no '# public_address:' block in example.yaml";
    const Config config = valid(std::string(kAccount) + block);
    const Config defaults = valid(kAccount);
    EXPECT_TRUE(config.publicAddress.configured);
    PublicAddressConfig expected = defaults.publicAddress;
    expected.configured = true;
    EXPECT_TRUE(config.publicAddress == expected);
}

// The commented-out alerts block of example.yaml works once its "# " are removed.
TEST_F(ConfigTest, ExampleYamlAlertsBlockParsesWhenUncommented) {
    std::ifstream file(sourceDir() / "config/example.yaml");
    std::string line, block;
    bool inBlock = false;
    while (std::getline(file, line)) {
        if (line == "# alerts:")
            inBlock = true;
        else if (inBlock && !line.starts_with("#  "))
            break;
        if (inBlock)
            block += line.substr(2) + "\n";
    }
    ASSERT_FALSE(block.empty()) << "no '# alerts:' block in example.yaml";
    const Config config = valid(std::string(kAccount) + block);
    EXPECT_EQ(config.alerts.failingAfter, seconds(1800));
    EXPECT_EQ(config.alerts.dnsDownAfter, seconds(120));
    ASSERT_EQ(config.alerts.channels.size(), 3u);
    EXPECT_EQ(config.alerts.channels[0].type, AlertChannel::Type::Webhook);
    EXPECT_EQ(config.alerts.channels[1].type, AlertChannel::Type::Ntfy);
    EXPECT_EQ(config.alerts.channels[2].type, AlertChannel::Type::Exec);
}

TEST_F(ConfigTest, DevYamlUsesUnprivilegedLoopbackPorts) {
    const auto path = sourceDir() / "config/dev.yaml";
    auto result = loadFile(path.string(), environment_);
    ASSERT_TRUE(result.config) << joined(result.errors);
    const Config& dev = *result.config;
    for (const auto* list : {&dev.dns.listen, &dev.gateway.httpListen, &dev.gateway.httpsListen}) {
        for (const auto& a : *list) {
            EXPECT_TRUE(a.ip().isLoopback()) << a.toString();
            EXPECT_GE(a.port(), 1024) << a.toString();
        }
    }
    EXPECT_EQ(dev.dynamo.updateUrl, "http://127.0.0.1:8246/");
    EXPECT_EQ(dev.stateDir,
              (path.parent_path().parent_path() / "build/dev-state").lexically_normal().string());
    EXPECT_EQ(dev.logLevel, log::Level::Debug);
}

}  // namespace
}  // namespace dynamo::config
