// UpdateUrl::parse(): what one token-API request needs from dynamo.update_url, and every way
// the setting can be wrong (each refused with a reason for the configuration error).

#include "gateway/updates/update_url.h"

#include <gtest/gtest.h>

#include <vector>

namespace dynamo::gateway {
namespace {

TEST(UpdateUrlTest, SplitsWhatTheRequestNeeds) {
    std::string error;
    auto url = UpdateUrl::parse("https://Update01-Dynamo.kisolabs.net/", &error);
    ASSERT_TRUE(url) << error;
    EXPECT_TRUE(url->tls);
    EXPECT_EQ(url->host, "update01-dynamo.kisolabs.net");
    EXPECT_EQ(url->port, 443);
    EXPECT_EQ(url->hostHeader, "update01-dynamo.kisolabs.net");
    EXPECT_EQ(url->origin, "https://Update01-Dynamo.kisolabs.net");

    url = UpdateUrl::parse("http://[::1]:8080/api/", &error);
    ASSERT_TRUE(url) << error;
    EXPECT_FALSE(url->tls);
    EXPECT_EQ(url->port, 8080);
    ASSERT_TRUE(url->literal);
    EXPECT_TRUE(url->literal->isV6());
    EXPECT_EQ(url->hostHeader, "[::1]:8080");
    EXPECT_EQ(url->origin, "http://[::1]:8080");
}

struct GoodUrl {
    const char* url;
    bool tls;
    const char* host;
    uint16_t port;
    const char* hostHeader;
    const char* origin;
    bool literal;
};

TEST(UpdateUrlTest, Accepted) {
    const std::vector<GoodUrl> cases = {
        {"https://update01-dynamo.kisolabs.net/", true, "update01-dynamo.kisolabs.net", 443,
         "update01-dynamo.kisolabs.net", "https://update01-dynamo.kisolabs.net", false},
        // RFC 3986 §3.1 and §3.2.2: scheme and host are case-insensitive.
        {"HTTPS://Host.Example/", true, "host.example", 443, "host.example", "HTTPS://Host.Example",
         false},
        {"http://h", false, "h", 80, "h", "http://h", false},
        {"https://h:443/", true, "h", 443, "h", "https://h:443", false},
        {"https://h:8443/a/b/", true, "h", 8443, "h:8443", "https://h:8443", false},
        {"http://h:443/", false, "h", 443, "h:443", "http://h:443", false},
        {"https://h:00080/", true, "h", 80, "h:80", "https://h:00080", false},
        {"http://127.0.0.1:8246/", false, "127.0.0.1", 8246, "127.0.0.1:8246",
         "http://127.0.0.1:8246", true},
        {"https://[2001:DB8::1]/", true, "2001:db8::1", 443, "[2001:db8::1]",
         "https://[2001:DB8::1]", true},
        // A fully qualified name: SNI and certificates never carry the final dot.
        {"https://host.example./", true, "host.example", 443, "host.example",
         "https://host.example.", false},
    };
    for (const GoodUrl& c : cases) {
        std::string error;
        const auto url = UpdateUrl::parse(c.url, &error);
        ASSERT_TRUE(url) << c.url << ": " << error;
        EXPECT_EQ(url->tls, c.tls) << c.url;
        EXPECT_EQ(url->host, c.host) << c.url;
        EXPECT_EQ(url->port, c.port) << c.url;
        EXPECT_EQ(url->hostHeader, c.hostHeader) << c.url;
        EXPECT_EQ(url->origin, c.origin) << c.url;
        EXPECT_EQ(url->literal.has_value(), c.literal) << c.url;
    }
}

TEST(UpdateUrlTest, RefusedWithAReason) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"ftp://h/", "must start with https:// or http://"},
        {"h/", "must start with https:// or http://"},
        {"https://", "has no host"},
        {"https:///path", "has no host"},
        {"https://:443/", "has no host"},
        {"https://user:pass@h/", "user information"},
        {"https://h:/", "empty port"},
        {"https://h:0/", "bad port"},
        {"https://h:65536/", "bad port"},
        {"https://h:99999999999999999999/", "bad port"},
        {"https://h:8x/", "bad port"},
        {"https://h:-1/", "bad port"},
        {"https://h/?a=b", "query"},
        {"https://h/#top", "fragment"},
        {"https://h /", "spaces"},
        {std::string("https://h\x7f/"), "control characters"},
        {std::string("https://h/\n"), "control characters"},
        {"https://[::1/", "unterminated"},
        {"https://[::1]x/", "after ]"},
        {"https://::1/", "has no host"},
        {"https://2001:db8::1/", "bad port"},
        {"https://[1.2.3.4]/", "in brackets"},
        {"https://[host]/", "not an IPv6 address"},
        {"https://ho_st/", "bad host name"},
        {"https://./", "bad host name"},
        {"https://h\xc3\xa9.example/", "bad host name"},
    };
    for (const auto& [text, reason] : cases) {
        std::string error;
        EXPECT_FALSE(UpdateUrl::parse(text, &error)) << text;
        EXPECT_NE(error.find(reason), std::string::npos) << text << ": " << error;
    }
}

}  // namespace
}  // namespace dynamo::gateway
