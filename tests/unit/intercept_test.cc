#include "resolver/intercept.h"

#include <gtest/gtest.h>

#include "dns_test_util.h"

namespace dynamo::resolver {
namespace {

using config::InterceptAnswer;
using config::InterceptConfig;
using dns::Message;
using dns::Rcode;
using dns::Section;
using dns::test::Bytes;
using dns::test::MessageBuilder;
using dns::test::parseOrDie;
namespace type = dns::type;

// A presentation name as the codec turns it into Message::qnameWire; one that does not convert
// (such as "a..b") cannot be a query's name, so it matches nothing.
bool matchesName(const Interceptor& interceptor, std::string_view name) {
    const std::optional<std::string> wire = dns::nameToWire(name);
    return wire && interceptor.matchesWire(*wire);
}

net::IpAddress ip(const char* text) {
    return *net::IpAddress::parse(text);
}

Bytes rdataOf(const Bytes& reply, const dns::RecordRef& record) {
    const auto start = reply.begin() + static_cast<long>(record.rdataOffset);
    return Bytes(start, start + record.rdataLength);
}

Bytes bytesOf(const net::IpAddress& address) {
    return Bytes(address.bytes(), address.bytes() + address.size());
}

struct Answered {
    Bytes bytes;
    Message message;
};

Answered ask(const Interceptor& interceptor, std::string_view name, uint16_t qtype,
             const net::IpAddress& local = ip("192.168.1.2"),
             const std::vector<net::IpAddress>& hosts = {}, bool edns = false,
             uint16_t qclass = dns::kClassIn) {
    MessageBuilder builder;
    builder.id(0x5151).question(name, qtype, qclass);
    if (edns)
        builder.opt(4096, true);
    const Bytes query = builder.build();
    Bytes reply = interceptor.answer(query, parseOrDie(query), local, hosts);
    Message message = parseOrDie(reply);
    return {std::move(reply), std::move(message)};
}

void expectNoData(const Answered& answered, uint32_t ttl = 60) {
    EXPECT_EQ(answered.message.header.rcode(), static_cast<uint8_t>(Rcode::NoError));
    EXPECT_TRUE(answered.message.header.aa());
    EXPECT_EQ(answered.message.header.ancount, 0);
    ASSERT_EQ(answered.message.records.size(), 1u);
    EXPECT_EQ(answered.message.records[0].section, Section::Authority);
    EXPECT_EQ(answered.message.records[0].type, type::SOA);
    EXPECT_EQ(answered.message.records[0].ttl, ttl);
    // Cacheable downstream for exactly the configured TTL (RFC 2308).
    EXPECT_EQ(dns::cacheableTtl(answered.bytes, answered.message), ttl);
}

void expectAddress(const Answered& answered, uint16_t qtype, const net::IpAddress& address,
                   uint32_t ttl = 60) {
    EXPECT_EQ(answered.message.header.rcode(), static_cast<uint8_t>(Rcode::NoError));
    EXPECT_TRUE(answered.message.header.aa());
    EXPECT_TRUE(answered.message.header.qr());
    EXPECT_EQ(answered.message.header.id, 0x5151);
    ASSERT_EQ(answered.message.records.size(), 1u);
    const dns::RecordRef& record = answered.message.records[0];
    EXPECT_EQ(record.section, Section::Answer);
    EXPECT_EQ(record.type, qtype);
    EXPECT_EQ(record.rclass, dns::kClassIn);
    EXPECT_EQ(record.ttl, ttl);
    EXPECT_EQ(rdataOf(answered.bytes, record), bytesOf(address));
}

TEST(InterceptMatch, DefaultNames) {
    const Interceptor interceptor{InterceptConfig{}};
    EXPECT_TRUE(matchesName(interceptor, "members.dyndns.org"));
    EXPECT_TRUE(matchesName(interceptor, "members.dyndns.com"));
    EXPECT_FALSE(matchesName(interceptor, "dyndns.org"));
    EXPECT_FALSE(matchesName(interceptor, "x.members.dyndns.org"));
    EXPECT_FALSE(matchesName(interceptor, "members.dyndns.org.evil"));
    EXPECT_FALSE(matchesName(interceptor, "members-dyndns.org"));
}

TEST(InterceptMatch, CheckIpIsNeverInterceptedByDefault) {
    // Devices learn their public address from checkip; answering it here would break them.
    const Interceptor interceptor{InterceptConfig{}};
    EXPECT_FALSE(matchesName(interceptor, "checkip.dyndns.org"));
    EXPECT_FALSE(matchesName(interceptor, "checkip.dyndns.com"));
    EXPECT_FALSE(matchesName(interceptor, "CheckIP.DynDNS.org."));
}

TEST(InterceptMatch, CaseAndTrailingDotAreIgnored) {
    const Interceptor interceptor{InterceptConfig{}};
    EXPECT_TRUE(matchesName(interceptor, "Members.DynDNS.ORG"));
    EXPECT_TRUE(matchesName(interceptor, "members.dyndns.org."));
    EXPECT_TRUE(matchesName(interceptor, "MEMBERS.DYNDNS.COM."));
    EXPECT_FALSE(matchesName(interceptor, "members.dyndns.org.."));
}

TEST(InterceptMatch, Wildcard) {
    InterceptConfig config;
    config.names = {"*.dyn.example", "exact.example"};
    const Interceptor interceptor(config);
    EXPECT_TRUE(matchesName(interceptor, "a.dyn.example"));
    EXPECT_TRUE(matchesName(interceptor, "a.b.DYN.example."));
    EXPECT_FALSE(matchesName(interceptor, "dyn.example"));  // strictly below
    EXPECT_FALSE(matchesName(interceptor, "xdyn.example"));
    EXPECT_FALSE(matchesName(interceptor, "a\\.dyn.example"));  // one label "a.dyn" under example
    EXPECT_TRUE(matchesName(interceptor, "exact.example"));
    EXPECT_FALSE(matchesName(interceptor, "a.exact.example"));
}

TEST(InterceptMatch, TakesTheParsedQueryName) {
    const Interceptor interceptor{InterceptConfig{}};
    EXPECT_TRUE(interceptor.matches(
        parseOrDie(MessageBuilder().question("MEMBERS.DynDNS.org", type::A).build())));
    EXPECT_FALSE(interceptor.matches(
        parseOrDie(MessageBuilder().question("x.members.dyndns.org", type::A).build())));
}

TEST(InterceptMatch, ConfigNamesInAnyCase) {
    InterceptConfig config;
    config.names = {"Members.DynDNS.org.", "*.Dyn.Example"};
    const Interceptor interceptor(config);
    EXPECT_TRUE(matchesName(interceptor, "members.dyndns.org"));
    EXPECT_TRUE(matchesName(interceptor, "x.dyn.example"));
}

TEST(InterceptAnswer, AutoUsesTheLocalAddress) {
    const Interceptor interceptor{InterceptConfig{}};
    expectAddress(ask(interceptor, "members.dyndns.org", type::A, ip("192.168.1.2")), type::A,
                  ip("192.168.1.2"));
}

TEST(InterceptAnswer, QueryCaseIsEchoed) {
    const Interceptor interceptor{InterceptConfig{}};
    const Answered answered = ask(interceptor, "MeMbErS.DynDns.org", type::A);
    EXPECT_EQ(answered.bytes[dns::kHeaderSize + 1], 'M');
    EXPECT_EQ(answered.bytes[dns::kHeaderSize + 2], 'e');
}

TEST(InterceptAnswer, AutoUnmapsIpv4MappedLocalAddress) {
    // A dual-stack [::]:53 socket sees IPv4 clients' queries arrive on ::ffff:a.b.c.d.
    const Interceptor interceptor{InterceptConfig{}};
    expectAddress(ask(interceptor, "members.dyndns.org", type::A, ip("::ffff:10.0.0.5")), type::A,
                  ip("10.0.0.5"));
}

TEST(InterceptAnswer, AutoFallsBackToHostAddresses) {
    const Interceptor interceptor{InterceptConfig{}};
    const std::vector<net::IpAddress> hosts = {ip("127.0.0.1"), ip("fe80::1"), ip("192.168.7.7"),
                                               ip("192.168.8.8")};
    // Query over IPv6 for A: the local address does not fit; prefer a non-loopback host address.
    expectAddress(ask(interceptor, "members.dyndns.org", type::A, ip("2001:db8::5"), hosts),
                  type::A, ip("192.168.7.7"));
    // An unspecified local address (no IP_PKTINFO) does not count either.
    expectAddress(ask(interceptor, "members.dyndns.org", type::A, ip("0.0.0.0"), hosts), type::A,
                  ip("192.168.7.7"));
    // Only loopback available: better than nothing for a local client.
    expectAddress(
        ask(interceptor, "members.dyndns.org", type::A, ip("::"), {ip("127.0.0.1"), ip("::1")}),
        type::A, ip("127.0.0.1"));
}

TEST(InterceptAnswer, AutoWithNothingFittingIsNoData) {
    const Interceptor interceptor{InterceptConfig{}};
    expectNoData(
        ask(interceptor, "members.dyndns.org", type::A, ip("2001:db8::5"), {ip("2001:db8::6")}));
}

TEST(InterceptAnswer, AaaaIsNoDataByDefault) {
    const Interceptor interceptor{InterceptConfig{}};
    expectNoData(ask(interceptor, "members.dyndns.org", type::AAAA, ip("2001:db8::5")));
}

TEST(InterceptAnswer, AaaaAuto) {
    InterceptConfig config;
    config.answerIpv6.mode = InterceptAnswer::Mode::Auto;
    const Interceptor interceptor(config);
    expectAddress(ask(interceptor, "members.dyndns.org", type::AAAA, ip("2001:db8::5")), type::AAAA,
                  ip("2001:db8::5"));
    // Over IPv4 (or mapped IPv4): a global host address beats a link-local one.
    expectAddress(ask(interceptor, "members.dyndns.org", type::AAAA, ip("::ffff:10.0.0.5"),
                      {ip("::1"), ip("fe80::1"), ip("2001:db8::9")}),
                  type::AAAA, ip("2001:db8::9"));
    expectNoData(
        ask(interceptor, "members.dyndns.org", type::AAAA, ip("10.0.0.5"), {ip("10.0.0.5")}));
}

TEST(InterceptAnswer, FixedAddresses) {
    InterceptConfig config;
    config.answerIpv4 = {InterceptAnswer::Mode::Fixed, ip("203.0.113.10")};
    config.answerIpv6 = {InterceptAnswer::Mode::Fixed, ip("2001:db8::10")};
    config.ttl = 300;
    const Interceptor interceptor(config);
    expectAddress(ask(interceptor, "members.dyndns.org", type::A, ip("192.168.1.2")), type::A,
                  ip("203.0.113.10"), 300);
    expectAddress(ask(interceptor, "members.dyndns.org", type::AAAA, ip("192.168.1.2")), type::AAAA,
                  ip("2001:db8::10"), 300);
}

TEST(InterceptAnswer, Ipv4NoneIsNoData) {
    InterceptConfig config;
    config.answerIpv4.mode = InterceptAnswer::Mode::None;
    const Interceptor interceptor(config);
    expectNoData(ask(interceptor, "members.dyndns.org", type::A));
}

TEST(InterceptAnswer, EveryOtherTypeIsNoData) {
    // HTTPS/SVCB address hints would lead a device around the trick (docs/dns.md#interception).
    const Interceptor interceptor{InterceptConfig{}};
    for (uint16_t qtype : {type::HTTPS, type::SVCB, type::MX, type::ANY, type::TXT, type::NS,
                           type::SOA, type::CNAME, uint16_t{65280}}) {
        SCOPED_TRACE(qtype);
        expectNoData(ask(interceptor, "members.dyndns.org", qtype));
    }
}

TEST(InterceptAnswer, ConfiguredTtlOnNegativeAnswers) {
    InterceptConfig config;
    config.ttl = 17;
    const Interceptor interceptor(config);
    expectNoData(ask(interceptor, "members.dyndns.org", type::HTTPS), 17);
}

TEST(InterceptAnswer, EdnsIsAnswered) {
    const Interceptor interceptor{InterceptConfig{}};
    const Answered answered =
        ask(interceptor, "members.dyndns.org", type::A, ip("192.168.1.2"), {}, /*edns=*/true);
    ASSERT_TRUE(answered.message.edns);
    EXPECT_TRUE(answered.message.edns->dnssecOk);
    expectAddress(answered, type::A, ip("192.168.1.2"));
}

TEST(InterceptAnswer, WildcardNames) {
    InterceptConfig config;
    config.names = {"*.dyn.example"};
    const Interceptor interceptor(config);
    ASSERT_TRUE(matchesName(interceptor, "printer.dyn.example"));
    expectAddress(ask(interceptor, "Printer.Dyn.Example", type::A), type::A, ip("192.168.1.2"));
}

TEST(InterceptAnswer, ClassAnyIsAnsweredAsIn) {
    const Interceptor interceptor{InterceptConfig{}};
    expectAddress(
        ask(interceptor, "members.dyndns.org", type::A, ip("192.168.1.2"), {}, false, 255), type::A,
        ip("192.168.1.2"));
}

TEST(InterceptAnswer, OtherClassesAreRefused) {
    const Interceptor interceptor{InterceptConfig{}};
    const Answered answered =
        ask(interceptor, "members.dyndns.org", type::A, ip("192.168.1.2"), {}, true, 3);  // CH
    EXPECT_EQ(answered.message.header.rcode(), static_cast<uint8_t>(Rcode::Refused));
    EXPECT_FALSE(answered.message.header.aa());
    EXPECT_TRUE(answered.message.records.empty());
    EXPECT_TRUE(answered.message.edns);
}

TEST(InterceptAnswer, InterceptorIsAssignable) {
    // QueryHandler::reconfigure() swaps in a new one on SIGHUP.
    Interceptor interceptor{InterceptConfig{}};
    InterceptConfig config;
    config.names = {"other.example"};
    interceptor = Interceptor(config);
    EXPECT_FALSE(matchesName(interceptor, "members.dyndns.org"));
    EXPECT_TRUE(matchesName(interceptor, "other.example"));
}

}  // namespace
}  // namespace dynamo::resolver
