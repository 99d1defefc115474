// net::IpAddress, net::SocketAddress, net::Cidr and net::CidrSet: the address forms the config
// writes and the access checks of both listeners.

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string_view>

#include "net/cidr.h"
#include "net/dns_name.h"
#include "net/ip_ranges.h"
#include "net/socket_address.h"

namespace dynamo::net {
namespace {

using namespace std::string_view_literals;

IpAddress ip(const char* text) {
    return *IpAddress::parse(text);
}

TEST(IpAddress, ParsesBothFamilies) {
    const struct {
        const char* text;
        int family;
        const char* canonical;
    } cases[] = {
        {"192.0.2.1", AF_INET, "192.0.2.1"},
        {"0.0.0.0", AF_INET, "0.0.0.0"},
        {"::1", AF_INET6, "::1"},
        {"2001:DB8:0:0::1", AF_INET6, "2001:db8::1"},
        {"::ffff:192.0.2.1", AF_INET6, "::ffff:192.0.2.1"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.text);
        auto parsed = IpAddress::parse(c.text);
        ASSERT_TRUE(parsed.has_value());
        EXPECT_EQ(parsed->family(), c.family);
        EXPECT_EQ(parsed->size(), c.family == AF_INET ? 4u : 16u);
        EXPECT_EQ(parsed->toString(), c.canonical);
    }
}

TEST(IpAddress, FormatsEveryIpv4OctetAsInetNtopDoes) {
    // IPv4 is formatted by hand (no sprintf on the intercepted path): every octet value in every
    // position must read as inet_ntop writes it.
    for (unsigned value = 0; value < 256; ++value) {
        for (size_t position = 0; position < 4; ++position) {
            in_addr raw{};
            auto* bytes = reinterpret_cast<uint8_t*>(&raw.s_addr);
            for (size_t i = 0; i < 4; ++i)
                bytes[i] = static_cast<uint8_t>(i == position ? value : 7 * i + 1);
            char expected[INET_ADDRSTRLEN] = {};
            ASSERT_NE(inet_ntop(AF_INET, &raw, expected, sizeof expected), nullptr);
            EXPECT_EQ(IpAddress::fromV4(raw).toString(), expected);
        }
    }
}

TEST(IpAddress, RefusesWhatIsNotAnAddress) {
    for (std::string_view text :
         {""sv, "1.2.3"sv, "256.0.0.1"sv, "1.2.3.4:53"sv, "[::1]"sv, "fe80::1%eth0"sv,
          "localhost"sv, " 1.2.3.4"sv, "1.2.3.4/8"sv, "1.2.3.4\0junk"sv, "::1\0"sv,
          "0000:0000:0000:0000:0000:0000:0000:0000:0"sv}) {
        SCOPED_TRACE(std::string(text));
        EXPECT_FALSE(IpAddress::parse(text).has_value());
    }
}

TEST(IpAddress, Classifies) {
    EXPECT_TRUE(ip("0.0.0.0").isUnspecified());
    EXPECT_TRUE(ip("::").isUnspecified());
    EXPECT_FALSE(ip("0.0.0.1").isUnspecified());
    EXPECT_FALSE(IpAddress().isUnspecified());
    EXPECT_TRUE(ip("127.0.0.1").isLoopback());
    EXPECT_TRUE(ip("127.255.0.53").isLoopback());
    EXPECT_TRUE(ip("::1").isLoopback());
    EXPECT_FALSE(ip("::2").isLoopback());
    EXPECT_FALSE(ip("128.0.0.1").isLoopback());
    // A mapped loopback is loopback only once unmapped: callers unmap first.
    EXPECT_FALSE(ip("::ffff:127.0.0.1").isLoopback());
    EXPECT_TRUE(ip("::ffff:127.0.0.1").unmapped().isLoopback());
}

// What may be published: a private or carrier-grade NAT address never is (a router behind
// another router reports its WAN side, 100.64.x.x under carrier-grade NAT).
TEST(IpRanges, PublicUnicast) {
    for (const char* text :
         {"1.2.3.4", "8.8.8.8", "100.63.255.255", "100.128.0.0", "172.32.0.1", "192.169.0.1",
          "223.255.255.254", "2a00:1450::1", "2001:4860::8888", "2001:200::1", "::ffff:1.2.3.4"}) {
        EXPECT_TRUE(isPublicUnicast(ip(text))) << text;
    }
    for (const char* text :
         {"0.0.0.0",     "10.1.2.3",    "100.64.0.1",     "100.127.255.254", "127.0.0.1",
          "169.254.1.1", "172.16.0.1",  "172.31.255.255", "192.0.0.8",       "192.0.2.1",
          "192.88.99.1", "192.168.1.1", "198.18.0.1",     "198.19.255.255",  "198.51.100.7",
          "203.0.113.9", "224.0.0.251", "240.0.0.1",      "255.255.255.255", "::",
          "::1",         "fd00::1",     "fe80::1",        "ff02::1",         "2001:db8::1",
          "2001::1",     "2001:1ff::1", "3fff::1",        "::ffff:10.0.0.1", "::ffff:100.64.0.1"}) {
        EXPECT_FALSE(isPublicUnicast(ip(text))) << text;
    }
    EXPECT_FALSE(isPublicUnicast(IpAddress()));
}

TEST(IpAddress, UnmapsIpv4MappedIpv6) {
    EXPECT_EQ(ip("::ffff:192.0.2.1").unmapped(), ip("192.0.2.1"));
    EXPECT_TRUE(ip("::ffff:192.0.2.1").unmapped().isV4());
    EXPECT_EQ(ip("2001:db8::1").unmapped(), ip("2001:db8::1"));
    EXPECT_EQ(ip("::192.0.2.1").unmapped(), ip("::192.0.2.1"));  // IPv4-compatible: not mapped
    EXPECT_EQ(ip("192.0.2.1").unmapped(), ip("192.0.2.1"));
    EXPECT_FALSE(ip("::ffff:192.0.2.1") == ip("192.0.2.1"));
}

TEST(IpAddress, FromKernelStructs) {
    in_addr v4{};
    v4.s_addr = htonl(0xC0000201);  // 192.0.2.1
    EXPECT_EQ(IpAddress::fromV4(v4), ip("192.0.2.1"));
    in6_addr v6 = IN6ADDR_LOOPBACK_INIT;
    EXPECT_EQ(IpAddress::fromV6(v6), ip("::1"));
    EXPECT_EQ(ip("192.0.2.1").bytes()[0], 192);
    EXPECT_EQ(ip("192.0.2.1").bytes()[3], 1);
}

TEST(SocketAddress, ParsesTheConfigForms) {
    const struct {
        const char* text;
        const char* expected;
    } cases[] = {
        {"192.0.2.1", "192.0.2.1:53"},
        {"192.0.2.1:5353", "192.0.2.1:5353"},
        {"0.0.0.0:53", "0.0.0.0:53"},
        {"::1", "[::1]:53"},
        {"::", "[::]:53"},
        {"[::1]", "[::1]:53"},
        {"[::]:53", "[::]:53"},
        {"[2001:db8::1]:65535", "[2001:db8::1]:65535"},
        {"2001:db8::1", "[2001:db8::1]:53"},
        {"::ffff:192.0.2.1", "[::ffff:192.0.2.1]:53"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.text);
        auto parsed = SocketAddress::parse(c.text, 53);
        ASSERT_TRUE(parsed.has_value());
        EXPECT_EQ(parsed->toString(), c.expected);
    }
}

TEST(SocketAddress, RefusesMalformed) {
    for (const char* text : {"", ":53", "192.0.2.1:", "192.0.2.1:0", "192.0.2.1:65536",
                             "192.0.2.1:53x", "192.0.2.1:-1", "[::1", "[::1]53", "[::1]:", "[]:53",
                             "[::1]:0", "host:53", "example.org", "1.2.3.4:53:1"}) {
        SCOPED_TRACE(text);
        EXPECT_FALSE(SocketAddress::parse(text, 53).has_value());
    }
}

TEST(SocketAddress, KernelRoundTrip) {
    for (const char* text : {"192.0.2.1:53", "[2001:db8::7]:8245"}) {
        SCOPED_TRACE(text);
        const auto address = *SocketAddress::parse(text, 1);
        auto back = SocketAddress::fromSockaddr(address.sockaddr_ptr(), address.length());
        ASSERT_TRUE(back.has_value());
        EXPECT_EQ(*back, address);
        EXPECT_EQ(back->toString(), text);
    }
    const auto v4 = *SocketAddress::parse("192.0.2.1:53", 1);
    EXPECT_EQ(v4.family(), AF_INET);
    EXPECT_EQ(v4.length(), sizeof(sockaddr_in));
    EXPECT_EQ(v4.port(), 53);
    EXPECT_EQ(v4.ip(), ip("192.0.2.1"));
    // Too short for its family, or no address at all.
    EXPECT_FALSE(SocketAddress::fromSockaddr(v4.sockaddr_ptr(), 4).has_value());
    EXPECT_FALSE(SocketAddress::fromSockaddr(nullptr, 0).has_value());
    EXPECT_EQ(SocketAddress().length(), 0u);
    EXPECT_EQ(SocketAddress().port(), 0);
}

TEST(SocketAddress, EqualityIsAddressAndPort) {
    EXPECT_EQ(*SocketAddress::parse("192.0.2.1", 53), *SocketAddress::parse("192.0.2.1:53", 1));
    EXPECT_FALSE(*SocketAddress::parse("192.0.2.1:53", 1) ==
                 *SocketAddress::parse("192.0.2.1:54", 1));
    EXPECT_FALSE(*SocketAddress::parse("[::ffff:192.0.2.1]:53", 1) ==
                 *SocketAddress::parse("192.0.2.1:53", 1));
}

TEST(Cidr, ParsesRangesAndBareAddresses) {
    const struct {
        const char* text;
        const char* expected;
    } cases[] = {
        {"10.0.0.0/8", "10.0.0.0/8"},     {"0.0.0.0/0", "0.0.0.0/0"},
        {"192.0.2.7", "192.0.2.7/32"},    {"::1", "::1/128"},
        {"fc00::/7", "fc00::/7"},         {"2001:db8::/32", "2001:db8::/32"},
        {"192.0.2.7/32", "192.0.2.7/32"}, {"::/0", "::/0"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.text);
        auto parsed = Cidr::parse(c.text);
        ASSERT_TRUE(parsed.has_value());
        EXPECT_EQ(parsed->toString(), c.expected);
    }
}

TEST(Cidr, RefusesMalformed) {
    for (const char* text :
         {"", "/8", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/8/9", "10.0.0.0/-1",
          "10.0.0.0/x", "10.0.0/8", "example.org/8", "10.0.0.0/ 8"}) {
        SCOPED_TRACE(text);
        EXPECT_FALSE(Cidr::parse(text).has_value());
    }
}

TEST(Cidr, Contains) {
    const struct {
        const char* range;
        const char* address;
        bool inside;
    } cases[] = {
        {"10.0.0.0/8", "10.255.255.255", true},
        {"10.0.0.0/8", "11.0.0.0", false},
        {"172.16.0.0/12", "172.31.255.1", true},  // a prefix that ends inside a byte
        {"172.16.0.0/12", "172.32.0.1", false},
        {"172.16.0.0/12", "172.15.255.255", false},
        {"100.64.0.0/10", "100.127.0.1", true},
        {"100.64.0.0/10", "100.128.0.1", false},
        {"0.0.0.0/0", "203.0.113.9", true},
        {"192.0.2.7", "192.0.2.7", true},
        {"192.0.2.7", "192.0.2.8", false},
        {"fc00::/7", "fd12:3456::1", true},
        {"fc00::/7", "fe00::1", false},
        {"fe80::/10", "febf::1", true},
        {"fe80::/10", "fec0::1", false},
        {"::1/128", "::1", true},
        {"::/0", "2001:db8::1", true},
        // Families never cross, except that a mapped client is its IPv4 address.
        {"10.0.0.0/8", "fd00::a00:1", false},
        {"::/0", "10.0.0.1", false},
        {"10.0.0.0/8", "::ffff:10.1.2.3", true},
        {"10.0.0.0/8", "::ffff:11.1.2.3", false},
        {"127.0.0.0/8", "::ffff:127.0.0.1", true},
        {"::/0", "::ffff:10.1.2.3", false},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(std::string(c.range) + " ∋ " + c.address);
        EXPECT_EQ(Cidr::parse(c.range)->contains(ip(c.address)), c.inside);
    }
}

TEST(Cidr, HostBitsInTheNetworkDoNotMatter) {
    const auto range = *Cidr::parse("10.1.2.3/8");
    EXPECT_TRUE(range.contains(ip("10.200.0.1")));
    EXPECT_FALSE(range.contains(ip("11.1.2.3")));
}

TEST(CidrSet, ContainsWhenAnyRangeDoes) {
    const CidrSet empty;
    EXPECT_FALSE(empty.contains(ip("127.0.0.1")));

    const CidrSet set({*Cidr::parse("192.168.0.0/16"), *Cidr::parse("::1/128")});
    EXPECT_EQ(set.ranges().size(), 2u);
    EXPECT_TRUE(set.contains(ip("192.168.1.1")));
    EXPECT_TRUE(set.contains(ip("::ffff:192.168.1.1")));  // from a dual-stack socket
    EXPECT_TRUE(set.contains(ip("::1")));
    EXPECT_FALSE(set.contains(ip("::ffff:127.0.0.1")));
    EXPECT_FALSE(set.contains(ip("8.8.8.8")));
    EXPECT_FALSE(set.contains(IpAddress()));
}

TEST(DnsName, WellFormedHostnames) {
    std::string longest;  // 253 bytes: 3 labels of 63, 1 of 61
    for (int i = 0; i < 3; ++i)
        longest += std::string(63, 'a') + ".";
    longest += std::string(61, 'b');
    ASSERT_EQ(longest.size(), 253U);
    EXPECT_TRUE(isWellFormedHostname(longest));
    EXPECT_TRUE(isWellFormedHostname(longest + "."));
    EXPECT_FALSE(isWellFormedHostname(longest + "b"));
    EXPECT_TRUE(isWellFormedHostname("x"));
    EXPECT_TRUE(isWellFormedHostname("A-1.Example"));
    EXPECT_FALSE(isWellFormedHostname(""));
    EXPECT_FALSE(isWellFormedHostname("a/b"));
}

TEST(DnsName, CanonicalFormIsLowerCaseWithoutTrailingDot) {
    EXPECT_EQ(canonicalHostname("Members.DynDNS.org."), "members.dyndns.org");
    EXPECT_EQ(canonicalHostname("x"), "x");
    EXPECT_FALSE(canonicalHostname("a..b"));
    EXPECT_FALSE(canonicalHostname("example.."));      // one trailing dot is the absolute form
    EXPECT_FALSE(canonicalHostname("*.example.net"));  // no wildcard unless asked for
    EXPECT_EQ(canonicalHostname("*.Example.NET.", true), "*.example.net");
    EXPECT_FALSE(canonicalHostname("*.", true));
    EXPECT_FALSE(canonicalHostname("a.*.b", true));
    EXPECT_FALSE(canonicalHostname(std::string(64, 'a')));
}

}  // namespace
}  // namespace dynamo::net
