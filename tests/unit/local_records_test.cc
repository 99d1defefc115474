// Local names (docs/dns.md#local-names): the answering table of LocalRecords, from a real
// parsed configuration: types, wildcards, CNAME chains, NODATA with SOA, AA, TTL, PTR, dd:
// tokens, and who is told what (the updater, everyone else).

#include "resolver/local_records.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstring>

#include "dns_test_util.h"

namespace dynamo::resolver {
namespace {

using dns::Message;
using dns::test::Bytes;
using dns::test::MessageBuilder;
using dns::test::parseOrDie;
namespace type = dns::type;

constexpr const char* kConfig = R"(
dns:
  upstreams: [192.0.2.53]
  records_ttl: 120
  records:
    nas.example.com:  {A: 192.168.1.10}
    home.example.com: {A: 192.168.1.2, AAAA: "fd00::2"}
    vpn.example.com:  {A: "dd:1234567890ABCDEF"}
    www.example.com:  {CNAME: home.example.com}
    alias.example.com: {CNAME: www.example.com}
    out.example.com:  {CNAME: elsewhere.example.net}
    example.com:      {MX: ["10 mail.example.com"], TXT: ["v=spf1 -all"]}
    _sip._udp.example.com: {SRV: ["10 5 5060 sip.example.com"]}
    "*.lab.example.com": {A: [10.0.0.1, 10.0.0.2]}
accounts:
  - username: home
    password: secret
    token: abcdefghijABCDEFGHIJ0123456789klmnopqrstuv
    ip_token: "dd:1234567890ABCDEF"
    names: [home.example.com, cloud.example.com]
)";

net::IpAddress ip(const char* text) {
    return *net::IpAddress::parse(text);
}

config::DnsConfig dnsConfig() {
    config::Environment environment;
    environment.localAddresses = std::vector<net::IpAddress>{ip("192.0.2.10")};
    auto parsed = config::parse(kConfig, "config.yaml", environment);
    EXPECT_TRUE(parsed.config) << (parsed.errors.empty() ? "" : parsed.errors.front());
    return parsed.config ? parsed.config->dns : config::DnsConfig{};
}

AccountAddresses homeAccount(std::optional<net::IpAddress> address,
                             std::vector<net::IpAddress> sources = {ip("127.0.0.1")}) {
    return {"home",
            {"home.example.com", "cloud.example.com"},
            "dd:1234567890ABCDEF",
            address,
            std::move(sources)};
}

struct Answered {
    Bytes bytes;
    Message message;
    std::vector<std::string> rdata;  // of the answer section, as text (addresses) or hex
};

std::string rdataText(const Bytes& reply, const dns::RecordRef& record) {
    const auto* start = reply.data() + record.rdataOffset;
    if (record.type == type::A || record.type == type::AAAA) {
        in6_addr v6{};
        in_addr v4{};
        if (record.type == type::A) {
            std::memcpy(&v4, start, 4);
            return net::IpAddress::fromV4(v4).toString();
        }
        std::memcpy(&v6, start, 16);
        return net::IpAddress::fromV6(v6).toString();
    }
    std::string text;
    for (size_t i = 0; i < record.rdataLength; ++i) {
        const char c = static_cast<char>(start[i]);
        text.push_back(std::isprint(static_cast<unsigned char>(c)) ? c : '.');
    }
    return text;
}

std::optional<Answered> ask(const LocalRecords& records, std::string_view name, uint16_t qtype,
                            const net::IpAddress& client = ip("192.168.1.50"),
                            bool dnssecOk = false) {
    MessageBuilder builder;
    builder.id(0x4242).question(name, qtype);
    if (dnssecOk)
        builder.opt(4096, true);
    const Bytes query = builder.build();
    auto reply = records.answer(query, parseOrDie(query), client);
    if (!reply)
        return std::nullopt;
    Answered answered{*reply, parseOrDie(*reply), {}};
    for (const auto& record : answered.message.records) {
        if (record.section == dns::Section::Answer)
            answered.rdata.push_back(rdataText(answered.bytes, record));
    }
    return answered;
}

class LocalRecordsTest : public ::testing::Test {
  protected:
    void SetUp() override {
        records_ = LocalRecords(dnsConfig());
        records_.setAccounts({homeAccount(ip("203.0.113.7"))});
    }
    LocalRecords records_;
};

TEST_F(LocalRecordsTest, AnswersEachTypeAuthoritativelyWithTheConfiguredTtl) {
    const struct {
        const char* name;
        uint16_t qtype;
        std::vector<std::string> rdata;
    } cases[] = {
        {"nas.example.com", type::A, {"192.168.1.10"}},
        {"NAS.Example.com.", type::A, {"192.168.1.10"}},
        {"home.example.com", type::AAAA, {"fd00::2"}},
        {"example.com",
         type::MX,
         {"..\x04mail\x07"
          "example\x03"
          "com."}},
        {"example.com", type::TXT, {"\x0bv=spf1 -all"}},
        {"_sip._udp.example.com",
         type::SRV,
         {"...\x05\x13\xc4\x03sip\x07"
          "example\x03"
          "com."}},
        {"a.lab.example.com", type::A, {"10.0.0.1", "10.0.0.2"}},
        {"b.c.lab.example.com", type::A, {"10.0.0.1", "10.0.0.2"}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        const auto answered = ask(records_, c.name, c.qtype);
        ASSERT_TRUE(answered);
        EXPECT_TRUE(answered->message.header.aa());
        EXPECT_EQ(answered->message.header.rcode(), 0);
        EXPECT_EQ(answered->message.header.id, 0x4242);
        ASSERT_EQ(answered->rdata.size(), c.rdata.size());
        for (size_t i = 0; i < c.rdata.size(); ++i) {
            // Non-printable bytes show as '.'.
            std::string expected = c.rdata[i];
            for (char& ch : expected) {
                if (!std::isprint(static_cast<unsigned char>(ch)))
                    ch = '.';
            }
            EXPECT_EQ(answered->rdata[i], expected);
        }
        for (const auto& record : answered->message.records)
            EXPECT_EQ(record.ttl, 120u);
    }
}

TEST_F(LocalRecordsTest, OtherTypesGetNoDataWithASyntheticSoa) {
    for (auto [name, qtype] : {std::pair{"nas.example.com", type::AAAA},
                               {"nas.example.com", type::MX},
                               {"example.com", type::A},
                               {"x.lab.example.com", type::TXT}}) {
        SCOPED_TRACE(name);
        const auto answered = ask(records_, name, qtype);
        ASSERT_TRUE(answered);
        EXPECT_TRUE(answered->message.header.aa());
        EXPECT_EQ(answered->message.header.rcode(), 0);
        EXPECT_EQ(answered->message.header.ancount, 0);
        ASSERT_EQ(answered->message.header.nscount, 1);
        EXPECT_EQ(answered->message.records[0].type, type::SOA);
        EXPECT_EQ(answered->message.records[0].ttl, 120u);
    }
}

TEST_F(LocalRecordsTest, NamesThatAreNotLocalAreForwarded) {
    for (const char* name : {"lab.example.com", "other.example.com", "example.org", "com"})
        EXPECT_FALSE(ask(records_, name, type::A)) << name;
}

TEST_F(LocalRecordsTest, CnameChainsAreFollowedThroughLocalNames) {
    const auto answered = ask(records_, "alias.example.com", type::A);
    ASSERT_TRUE(answered);
    ASSERT_EQ(answered->message.header.ancount, 3);
    EXPECT_EQ(answered->message.records[0].type, type::CNAME);
    EXPECT_EQ(answered->message.records[1].type, type::CNAME);
    EXPECT_EQ(answered->message.records[2].type, type::A);
    // home.example.com is the account's name: a client that did not update gets the LAN entry.
    EXPECT_EQ(answered->rdata[2], "192.168.1.2");

    const auto cname = ask(records_, "www.example.com", type::CNAME);
    ASSERT_TRUE(cname);
    EXPECT_EQ(cname->message.header.ancount, 1);

    // A target that is not local ends the answer; the client's resolver goes on.
    const auto out = ask(records_, "out.example.com", type::A);
    ASSERT_TRUE(out);
    ASSERT_EQ(out->message.header.ancount, 1);
    EXPECT_EQ(out->message.records[0].type, type::CNAME);
}

TEST_F(LocalRecordsTest, TheUpdaterSeesItsAddressOthersTheLanEntry) {
    const auto updater = ask(records_, "home.example.com", type::A, ip("127.0.0.1"));
    ASSERT_TRUE(updater);
    EXPECT_EQ(updater->rdata, std::vector<std::string>{"203.0.113.7"});
    // The updater's AAAA: its published address is IPv4, so no LAN AAAA either.
    const auto updater6 = ask(records_, "home.example.com", type::AAAA, ip("127.0.0.1"));
    ASSERT_TRUE(updater6);
    EXPECT_EQ(updater6->message.header.ancount, 0);
    // IPv4-mapped form of the updater is the same client.
    EXPECT_EQ(ask(records_, "home.example.com", type::A, ip("::ffff:127.0.0.1"))->rdata,
              std::vector<std::string>{"203.0.113.7"});

    const auto other = ask(records_, "home.example.com", type::A, ip("127.0.0.2"));
    ASSERT_TRUE(other);
    EXPECT_EQ(other->rdata, std::vector<std::string>{"192.168.1.2"});
    EXPECT_TRUE(other->message.header.aa());

    // A name with no dns.records entry: everyone gets the accepted address, ahead of
    // propagation.
    EXPECT_EQ(ask(records_, "cloud.example.com", type::A, ip("127.0.0.2"))->rdata,
              std::vector<std::string>{"203.0.113.7"});
}

TEST_F(LocalRecordsTest, AnAccountWithoutAnAddressIsForwarded) {
    records_.setAccounts({homeAccount(std::nullopt)});
    EXPECT_FALSE(ask(records_, "cloud.example.com", type::A, ip("127.0.0.1")));
    EXPECT_FALSE(ask(records_, "cloud.example.com", type::A, ip("127.0.0.2")));
    // The LAN entry still answers the other clients.
    EXPECT_EQ(ask(records_, "home.example.com", type::A, ip("127.0.0.2"))->rdata,
              std::vector<std::string>{"192.168.1.2"});
}

TEST_F(LocalRecordsTest, TokensResolveToTheAccountsNewestAddress) {
    records_.setAccounts({homeAccount(std::nullopt)});
    EXPECT_FALSE(ask(records_, "vpn.example.com", type::A));
    records_.setAccounts({homeAccount(ip("198.51.100.1"))});
    EXPECT_EQ(ask(records_, "vpn.example.com", type::A)->rdata,
              std::vector<std::string>{"198.51.100.1"});
    records_.setAccounts({homeAccount(ip("198.51.100.2"))});
    EXPECT_EQ(ask(records_, "vpn.example.com", type::A)->rdata,
              std::vector<std::string>{"198.51.100.2"});
    // An IPv6 address of the account: the A list has nothing of that family.
    records_.setAccounts({homeAccount(ip("2001:db8::7"))});
    const auto answered = ask(records_, "vpn.example.com", type::A);
    ASSERT_TRUE(answered);
    EXPECT_EQ(answered->message.header.ancount, 0);
    EXPECT_EQ(answered->message.header.nscount, 1);
}

TEST_F(LocalRecordsTest, PtrForThePrivateAddressesRecordsName) {
    const auto answered = ask(records_, "10.1.168.192.in-addr.arpa", type::PTR);
    ASSERT_TRUE(answered);
    EXPECT_TRUE(answered->message.header.aa());
    ASSERT_EQ(answered->message.header.ancount, 1);
    EXPECT_EQ(answered->rdata[0], ".nas.example.com.");
    const auto v6 =
        ask(records_, "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa",
            type::PTR);
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->rdata[0], ".home.example.com.");
    // Unnamed or public addresses belong to someone else's zone.
    EXPECT_FALSE(ask(records_, "99.1.168.192.in-addr.arpa", type::PTR));
    EXPECT_FALSE(ask(records_, "7.113.0.203.in-addr.arpa", type::PTR));
}

TEST_F(LocalRecordsTest, LocalAnswersAreUnsigned) {
    const auto answered = ask(records_, "nas.example.com", type::A, ip("192.168.1.50"), true);
    ASSERT_TRUE(answered);
    ASSERT_TRUE(answered->message.edns);
    EXPECT_TRUE(answered->message.edns->dnssecOk);
    for (const auto& record : answered->message.records)
        EXPECT_NE(record.type, 46) << "RRSIG";
    EXPECT_FALSE(answered->message.header.ad());
}

TEST_F(LocalRecordsTest, OtherClassesAreRefused) {
    MessageBuilder builder;
    builder.id(1).question("nas.example.com", type::A, 3);  // CHAOS
    const Bytes query = builder.build();
    const auto reply = records_.answer(query, parseOrDie(query), ip("192.168.1.50"));
    ASSERT_TRUE(reply);
    EXPECT_EQ(parseOrDie(*reply).header.rcode(), 5);
}

// RFC 8482: ANY is answered with one RRset, never all the local data of the name.
TEST_F(LocalRecordsTest, AnyGetsOneRrsetPerRfc8482) {
    const struct {
        const char* name;
        uint16_t type;  // of the one RRset answered
        size_t count;
    } cases[] = {
        {"home.example.com", type::A, 1},   // A and AAAA: the A set only
        {"example.com", type::TXT, 1},      // TXT and MX: one of them
        {"a.lab.example.com", type::A, 2},  // a whole RRset, both records
        {"_sip._udp.example.com", type::SRV, 1},
        {"alias.example.com", type::CNAME, 1},  // the CNAME itself, the chain is not followed
        {"cloud.example.com", type::A, 1},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        const auto answered = ask(records_, c.name, type::ANY);
        ASSERT_TRUE(answered);
        EXPECT_TRUE(answered->message.header.aa());
        EXPECT_EQ(answered->message.header.rcode(), 0);
        ASSERT_EQ(answered->message.header.ancount, c.count);
        for (const auto& record : answered->message.records)
            EXPECT_EQ(record.type, c.type);
    }
    // A name of an account without an address is still the world's to answer.
    records_.setAccounts({homeAccount(std::nullopt)});
    EXPECT_FALSE(ask(records_, "cloud.example.com", type::ANY));
}

// RFC 8482 §4.2: with no RRset to pick, a synthesized HINFO "RFC8482" "" rather than NODATA.
TEST_F(LocalRecordsTest, AnyWithNothingToPickGetsTheSynthesizedHinfo) {
    // vpn.example.com is {A: token}; an IPv6 account address leaves it no A record.
    records_.setAccounts({homeAccount(ip("2001:db8::7"))});
    const auto answered = ask(records_, "vpn.example.com", type::ANY);
    ASSERT_TRUE(answered);
    ASSERT_EQ(answered->message.header.ancount, 1);
    EXPECT_EQ(answered->message.header.nscount, 0);
    EXPECT_EQ(answered->message.records[0].type, 13);  // HINFO
    EXPECT_EQ(answered->message.records[0].ttl, 120u);
    EXPECT_EQ(answered->rdata[0], ".RFC8482.");
}

TEST_F(LocalRecordsTest, StatusTellsWhatEachKindOfClientIsTold) {
    records_.setAccounts({homeAccount(ip("203.0.113.7"))});
    const auto views = records_.describe();
    auto find = [&](std::string_view name) {
        for (const auto& view : views) {
            if (view.name == name)
                return view;
        }
        return LocalNameView{};
    };
    EXPECT_EQ(find("home.example.com").toUpdaters, "203.0.113.7");
    EXPECT_EQ(find("home.example.com").toOthers, "192.168.1.2, fd00::2");
    EXPECT_EQ(find("cloud.example.com").toOthers, "203.0.113.7");
    EXPECT_EQ(find("vpn.example.com").toOthers, "203.0.113.7");
    records_.setAccounts({homeAccount(std::nullopt)});
    EXPECT_EQ(LocalRecords(records_).describe().empty(), false);
}

}  // namespace
}  // namespace dynamo::resolver
