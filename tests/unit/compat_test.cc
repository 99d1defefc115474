// compat/: the DynDNS protocol as pure functions, driven with requests as real clients send
// them (ddclient, inadyn, wget-based firmware, FRITZ!Box, DD-WRT) and the table of
// docs/updates.md#reply-mapping.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "compat/credentials.h"
#include "compat/dyndns_reply.h"
#include "compat/form.h"
#include "compat/hostname.h"
#include "compat/http_request.h"
#include "compat/my_ip.h"
#include "compat/publish_address.h"
#include "compat/token_api.h"
#include "compat/update_request.h"
#include "net/log.h"

namespace dynamo::compat {
namespace {

using Status = ParsedUpdate::Status;

net::IpAddress ip(std::string_view text) {
    auto parsed = net::IpAddress::parse(text);
    EXPECT_TRUE(parsed) << text;
    return parsed.value_or(net::IpAddress{});
}

// "device-user:device-pass", as ddclient and inadyn encode it.
constexpr std::string_view kBasicDevice = "Basic ZGV2aWNlLXVzZXI6ZGV2aWNlLXBhc3M=";

HttpRequest get(std::string path, std::string query, std::string authorization = {}) {
    HttpRequest request;
    request.method = "GET";
    request.path = std::move(path);
    request.query = std::move(query);
    request.authorization = std::move(authorization);
    request.client = ip("192.168.1.20");
    return request;
}

config::Account account(std::vector<std::string> hostnames = {}) {
    return {"device-user", "device-pass", "1234567890ABCDEFGHIJKLMNOPQRSTUVWXYZ123456",
            std::move(hostnames)};
}

// ---------------------------------------------------------------------------------------------
// form.h

TEST(FormDecode, EscapesAndEdgeCases) {
    struct Case {
        std::string_view in;
        std::string out;
    };
    const Case cases[] = {
        {"plain", "plain"},
        {"a+b", "a b"},
        {"a%20b", "a b"},
        {"%2C%2c", ",,"},    // both hex cases
        {"%zz", "%zz"},      // not hex: kept as written
        {"abc%", "abc%"},    // trailing %
        {"abc%4", "abc%4"},  // truncated escape
        {"%%41", "%A"},      // a stray % before a good escape
        {"%2B", "+"},        // an escaped plus is a plus, not a space
        {std::string_view("a%00b"), std::string("a\0b", 3)},  // NUL decodes to a byte
        {"%C3%A9", "\xC3\xA9"},                               // UTF-8 passes through as bytes
        {"", ""},
    };
    for (const Case& c : cases)
        EXPECT_EQ(formDecode(c.in), c.out) << c.in;
}

TEST(Form, PairsFirstWinsCaseInsensitiveKeys) {
    Form form;
    form.parse("hostname=a.example&&myip=1.2.3.4&hostname=b.example&offline&Wildcard=NOCHG&=x");
    EXPECT_EQ(form.get("hostname"), "a.example");  // first wins
    EXPECT_EQ(form.get("HOSTNAME"), "a.example");
    EXPECT_EQ(form.get("myip"), "1.2.3.4");
    EXPECT_EQ(form.get("offline"), "");  // a key without '=' has an empty value
    EXPECT_EQ(form.get("wildcard"), "NOCHG");
    EXPECT_EQ(form.get(""), "x");
    EXPECT_FALSE(form.get("mx"));
    EXPECT_EQ(form.dropped(), 0U);
}

TEST(Form, QueryParsedBeforeBodyWins) {
    Form form;
    form.parse("hostname=from.query");
    form.parse("hostname=from.body&myip=1.2.3.4");
    EXPECT_EQ(form.get("hostname"), "from.query");
    EXPECT_EQ(form.get("myip"), "1.2.3.4");
}

TEST(Form, Bounded) {
    std::string many;
    for (size_t i = 0; i < Form::kMaxParams + 10; ++i)
        many += "k" + std::to_string(i) + "=v&";
    Form form;
    form.parse(many);
    EXPECT_EQ(form.params().size(), Form::kMaxParams);
    EXPECT_EQ(form.dropped(), 10U);

    Form longOnes;
    longOnes.parse(std::string(Form::kMaxKeyLength + 1, 'k') +
                   "=v&myip=" + std::string(Form::kMaxValueLength + 1, '1') + "&ok=1");
    EXPECT_EQ(longOnes.params().size(), 1U);
    EXPECT_EQ(longOnes.get("ok"), "1");
    EXPECT_EQ(longOnes.dropped(), 2U);

    // Escaped bytes count once decoded: a value at the bound written as escapes is kept.
    std::string escaped;
    for (size_t i = 0; i < Form::kMaxValueLength; ++i)
        escaped += "%41";
    Form atBound;
    atBound.parse("v=" + escaped);
    ASSERT_TRUE(atBound.get("v"));
    EXPECT_EQ(atBound.get("v")->size(), Form::kMaxValueLength);
}

// ---------------------------------------------------------------------------------------------
// credentials.h

TEST(BasicAuthorization, Decodes) {
    struct Case {
        std::string_view header;
        bool present;
        std::string user;
        std::string pass;
    };
    const Case cases[] = {
        {kBasicDevice, true, "device-user", "device-pass"},
        {"basic ZGV2aWNlLXVzZXI6ZGV2aWNlLXBhc3M=", true, "device-user", "device-pass"},
        {"BASIC   ZGV2aWNlLXVzZXI6ZGV2aWNlLXBhc3M=  ", true, "device-user", "device-pass"},
        {"Basic ZGV2aWNlLXVzZXI6ZGV2aWNlLXBhc3M", true, "device-user", "device-pass"},  // no pad
        {"Basic dTpwOnE=", true, "u", "p:q"},  // split at the FIRST colon
        {"Basic dTo=", true, "u", ""},         // "u:" empty password
        {"Basic OnA=", true, "", "p"},         // ":p" empty user
        {"Basic dXNlcg==", true, "user", ""},  // "user", no colon: a wrong attempt
        {"Basic dQ==", true, "u", ""},         // two pad characters
        {"Basic dXM=", true, "us", ""},        // one pad character
        {"Basic", false, "", ""},
        {"Basic ", false, "", ""},
        {"Basicdx", false, "", ""},
        {"Bearer abc", false, "", ""},
        {"Digest username=\"u\"", false, "", ""},
        {"Basic !!!!", false, "", ""},      // not base64
        {"Basic dXM=dQ==", false, "", ""},  // padding in the middle
        {"Basic d", false, "", ""},         // a single leftover character
        {"Basic dQ===", false, "", ""},     // too much padding
        {"Basic dQ=", false, "", ""},       // padding that does not complete a quantum
        {"", false, "", ""},
    };
    for (const Case& c : cases) {
        const auto credentials = parseBasicAuthorization(c.header);
        ASSERT_EQ(credentials.has_value(), c.present) << c.header;
        if (!credentials)
            continue;
        EXPECT_EQ(credentials->username, c.user) << c.header;
        EXPECT_EQ(credentials->password, c.pass) << c.header;
    }
}

TEST(BasicAuthorization, BinaryAndOversized) {
    // "u\0:p\xff" decodes to bytes with NUL and high bit: kept as they are.
    const auto binary = parseBasicAuthorization("Basic dQA6cP8=");
    ASSERT_TRUE(binary);
    EXPECT_EQ(binary->username, std::string("u\0", 2));
    EXPECT_EQ(binary->password, "p\xff");
    EXPECT_FALSE(parseBasicAuthorization("Basic " + std::string(2000, 'A')));
}

TEST(FindCredentials, BasicThenParameters) {
    Form both;
    both.parse("username=query-user&password=query-pass");
    auto fromBasic = findCredentials(kBasicDevice, both);
    ASSERT_TRUE(fromBasic);
    EXPECT_EQ(fromBasic->username, "device-user");

    auto fromQuery = findCredentials("", both);
    ASSERT_TRUE(fromQuery);
    EXPECT_EQ(fromQuery->username, "query-user");
    EXPECT_EQ(fromQuery->password, "query-pass");

    // A Basic header that does not decode falls back to the parameters.
    auto fallback = findCredentials("Basic !!!", both);
    ASSERT_TRUE(fallback);
    EXPECT_EQ(fallback->username, "query-user");

    Form short_;
    short_.parse("user=u&pass=p%3Aq");
    auto shortForm = findCredentials("", short_);
    ASSERT_TRUE(shortForm);
    EXPECT_EQ(shortForm->username, "u");
    EXPECT_EQ(shortForm->password, "p:q");

    Form userOnly;
    userOnly.parse("username=u");
    auto noPassword = findCredentials("", userOnly);
    ASSERT_TRUE(noPassword);
    EXPECT_EQ(noPassword->password, "");

    Form none;
    none.parse("hostname=a.example&password=p");
    EXPECT_FALSE(findCredentials("", none));
}

TEST(ConstantTimeEquals, Correctness) {
    EXPECT_TRUE(constantTimeEquals("", ""));
    EXPECT_TRUE(constantTimeEquals("device-pass", "device-pass"));
    EXPECT_TRUE(constantTimeEquals(std::string("a\0b", 3), std::string("a\0b", 3)));
    EXPECT_FALSE(constantTimeEquals("device-pass", "device-pasS"));
    EXPECT_FALSE(constantTimeEquals("device-pass", "device-pas"));    // prefix
    EXPECT_FALSE(constantTimeEquals("device-pass", "device-pass "));  // longer
    EXPECT_FALSE(constantTimeEquals("", "x"));
    EXPECT_FALSE(constantTimeEquals(std::string("a\0", 2), "a"));  // NUL is not an end
    EXPECT_FALSE(constantTimeEquals(std::string(1000, 'a'), std::string(999, 'a')));
}

TEST(FindAccount, MatchesUserAndPassword) {
    const std::vector<config::Account> accounts{
        {"camera", "cam-pass", std::string(42, 'A'), {}},
        {"device-user", "device-pass", std::string(42, 'B'), {}},
        {"device-user", "other-pass", std::string(42, 'C'), {}},
    };
    const config::Account* found = findAccount(accounts, {"device-user", "device-pass"});
    ASSERT_NE(found, nullptr);
    EXPECT_EQ(found, &accounts[1]);
    EXPECT_EQ(findAccount(accounts, {"device-user", "other-pass"}), &accounts[2]);
    EXPECT_EQ(findAccount(accounts, {"camera", "device-pass"}), nullptr);  // crossed
    EXPECT_EQ(findAccount(accounts, {"nobody", "cam-pass"}), nullptr);
    EXPECT_EQ(findAccount(accounts, {"", ""}), nullptr);
    EXPECT_EQ(findAccount({}, {"camera", "cam-pass"}), nullptr);
}

// ---------------------------------------------------------------------------------------------
// update_request.h: requests as real clients send them

TEST(ParseUpdate, Ddclient) {
    // ddclient (protocol=dyndns2): GET /nic/update?system=dyndns&hostname=...&myip=... + Basic.
    const auto parsed = parseUpdate(get(
        "/nic/update", "system=dyndns&hostname=a.example&myip=1.2.3.4", std::string(kBasicDevice)));
    ASSERT_EQ(parsed.status, Status::Ok);
    EXPECT_EQ(parsed.request.hostnames, std::vector<std::string>{"a.example"});
    EXPECT_EQ(parsed.request.myip.form, MyIp::Form::Address);
    EXPECT_EQ(parsed.request.myip.v4, ip("1.2.3.4"));
    ASSERT_TRUE(parsed.request.credentials);
    EXPECT_EQ(parsed.request.credentials->username, "device-user");
    EXPECT_EQ(parsed.request.credentials->password, "device-pass");
}

TEST(ParseUpdate, InadynAndDdWrt) {
    // inadyn 2.x: "GET /nic/update?hostname=%s&myip=%s HTTP/1.0" + Basic.
    auto inadyn = parseUpdate(get("/nic/update", "hostname=home.example.org&myip=203.0.114.7",
                                  std::string(kBasicDevice)));
    ASSERT_EQ(inadyn.status, Status::Ok);
    EXPECT_EQ(inadyn.request.hostnames, std::vector<std::string>{"home.example.org"});
    EXPECT_EQ(inadyn.request.myip.v4, ip("203.0.114.7"));

    // DD-WRT's inadyn 1.x adds the flags dyndns.org once used; all ignored.
    auto ddwrt = parseUpdate(get("/nic/update",
                                 "system=dyndns&hostname=Router.Example.ORG&myip=84.12.3.4"
                                 "&wildcard=NOCHG&mx=NOCHG&backmx=NOCHG&offline=NO&url=x",
                                 std::string(kBasicDevice)));
    ASSERT_EQ(ddwrt.status, Status::Ok);
    EXPECT_EQ(ddwrt.request.hostnames, std::vector<std::string>{"router.example.org"});
}

TEST(ParseUpdate, WgetAfterChallenge) {
    // wget-based firmware: first without credentials (→ 401 challenge), then with Basic.
    const HttpRequest first = get("/nic/update", "hostname=cam.example&myip=1.2.3.4");
    EXPECT_FALSE(parseUpdate(first).request.credentials);
    HttpRequest second = first;
    second.authorization = kBasicDevice;
    EXPECT_TRUE(parseUpdate(second).request.credentials);
}

TEST(ParseUpdate, FritzBoxDualStack) {
    auto fritz = parseUpdate(get("/nic/update",
                                 "hostname=box.example.net&myip=93.184.216.34,2001:4860:4860::8888",
                                 std::string(kBasicDevice)));
    ASSERT_EQ(fritz.status, Status::Ok);
    EXPECT_EQ(fritz.request.myip.v4, ip("93.184.216.34"));
    EXPECT_EQ(fritz.request.myip.v6, ip("2001:4860:4860::8888"));
}

TEST(ParseUpdate, QueryCredentials) {
    auto parsed = parseUpdate(
        get("/nic/update", "hostname=a.example&username=device-user&password=device-pass"));
    ASSERT_TRUE(parsed.request.credentials);
    EXPECT_EQ(parsed.request.credentials->username, "device-user");
    auto shortKeys = parseUpdate(get("/v3/update", "hostname=a.example&user=u&pass=p"));
    ASSERT_EQ(shortKeys.status, Status::Ok);
    ASSERT_TRUE(shortKeys.request.credentials);
    EXPECT_EQ(shortKeys.request.credentials->password, "p");
}

TEST(ParseUpdate, PostFormMergedWithQuery) {
    HttpRequest post = get("/nic/update", "hostname=a.example");
    post.method = "POST";
    post.contentType = "application/x-www-form-urlencoded; charset=UTF-8";
    post.body = "myip=1.2.3.4&hostname=ignored.example&username=device-user&password=device-pass";
    auto parsed = parseUpdate(post);
    ASSERT_EQ(parsed.status, Status::Ok);
    EXPECT_EQ(parsed.request.hostnames, std::vector<std::string>{"a.example"});  // query first
    EXPECT_EQ(parsed.request.myip.v4, ip("1.2.3.4"));
    ASSERT_TRUE(parsed.request.credentials);

    post.contentType = "";  // firmware that omits Content-Type: still a form
    EXPECT_EQ(parseUpdate(post).request.myip.v4, ip("1.2.3.4"));

    post.contentType = "application/json";  // not a form: the body is not read
    EXPECT_EQ(parseUpdate(post).request.myip.form, MyIp::Form::Absent);

    HttpRequest getWithBody = get("/nic/update", "hostname=a.example");
    getWithBody.body = "myip=1.2.3.4";
    EXPECT_EQ(parseUpdate(getWithBody).request.myip.form, MyIp::Form::Absent);
}

TEST(ParseUpdate, LegacyPaths) {
    auto dyndns = parseUpdate(get(
        "/nic/dyndns", "action=edit&started=1&hostname=YES&host_id=Legacy.Example&myip=1.2.3.4"));
    ASSERT_EQ(dyndns.status, Status::Ok);
    EXPECT_EQ(dyndns.request.hostnames, std::vector<std::string>{"legacy.example"});

    auto statdns = parseUpdate(get("/nic/statdns", "host_id=static.example&myip=1.2.3.4"));
    ASSERT_EQ(statdns.status, Status::Ok);
    EXPECT_EQ(statdns.request.hostnames, std::vector<std::string>{"static.example"});

    // host_id means nothing on the dyndns2 paths.
    auto update = parseUpdate(get("/nic/update", "host_id=x.example"));
    EXPECT_TRUE(update.request.hostnames.empty());
}

TEST(ParseUpdate, PathsAndMethods) {
    struct Case {
        std::string method;
        std::string path;
        Status status;
    };
    const Case cases[] = {
        {"GET", "/nic/update", Status::Ok},
        {"POST", "/nic/update", Status::Ok},
        {"GET", "/v3/update", Status::Ok},
        {"GET", "/nic/dyndns", Status::Ok},
        {"GET", "/nic/statdns", Status::Ok},
        {"GET", "http://members.dyndns.org/nic/update", Status::Ok},  // absolute form
        {"GET", "HTTPS://members.dyndns.org/v3/update", Status::Ok},
        {"GET", "http://members.dyndns.org", Status::NotFound},
        {"GET", "/", Status::NotFound},
        {"GET", "/nic/Update", Status::NotFound},
        {"GET", "/nic/update/", Status::NotFound},
        {"GET", "/status", Status::NotFound},
        {"GET", "", Status::NotFound},
        {"HEAD", "/nic/update", Status::MethodNotAllowed},
        {"PUT", "/nic/update", Status::MethodNotAllowed},
        {"get", "/nic/update", Status::MethodNotAllowed},  // methods are case-sensitive
        {"PUT", "/elsewhere", Status::NotFound},
    };
    for (const Case& c : cases) {
        HttpRequest request = get(c.path, "hostname=a.example");
        request.method = c.method;
        EXPECT_EQ(parseUpdate(request).status, c.status) << c.method << " " << c.path;
    }
}

TEST(ParseUpdate, HostnameList) {
    auto parsed = parseUpdate(get("/nic/update", "hostname=A.example,%20b.example%20,,c.example,"));
    EXPECT_EQ(parsed.request.hostnames,
              (std::vector<std::string>{"a.example", "b.example", "c.example"}));
    EXPECT_TRUE(parseUpdate(get("/nic/update", "hostname=")).request.hostnames.empty());
    EXPECT_TRUE(parseUpdate(get("/nic/update", "myip=1.2.3.4")).request.hostnames.empty());
}

// ---------------------------------------------------------------------------------------------
// my_ip.h and publish_address.h

TEST(MyIp, EveryForm) {
    struct Case {
        std::optional<std::string_view> value;
        MyIp::Form form;
        std::optional<std::string_view> v4;
        std::optional<std::string_view> v6;
    };
    const Case cases[] = {
        {std::nullopt, MyIp::Form::Absent, {}, {}},
        {"", MyIp::Form::Empty, {}, {}},
        {"  ", MyIp::Form::Empty, {}, {}},
        {"1.2.3.4", MyIp::Form::Address, "1.2.3.4", {}},
        {" 1.2.3.4 ", MyIp::Form::Address, "1.2.3.4", {}},
        {"2001:db8::1", MyIp::Form::Address, {}, "2001:db8::1"},
        {"[2001:db8::1]", MyIp::Form::Address, {}, "2001:db8::1"},
        {"1.2.3.4,2001:db8::1", MyIp::Form::Address, "1.2.3.4", "2001:db8::1"},
        {"2001:db8::1,1.2.3.4", MyIp::Form::Address, "1.2.3.4", "2001:db8::1"},
        {"1.2.3.4, 2001:db8::1", MyIp::Form::Address, "1.2.3.4", "2001:db8::1"},
        {"1.2.3.4,5.6.7.8", MyIp::Form::Address, "1.2.3.4", {}},  // the first of a family
        {"1.2.3.4/32", MyIp::Form::Address, "1.2.3.4", {}},
        {"1.2.3.4/24", MyIp::Form::Address, "1.2.3.4", {}},
        {"2001:db8::/64", MyIp::Form::Address, {}, "2001:db8::"},
        {"1.2.3.4/33", MyIp::Form::Invalid, {}, {}},
        {"1.2.3.4/", MyIp::Form::Invalid, {}, {}},
        {"1.2.3.4/x", MyIp::Form::Invalid, {}, {}},
        {"::ffff:1.2.3.4", MyIp::Form::Address, "1.2.3.4", {}},     // mapped: the IPv4
        {"1.2.3.4,<ip6addr>", MyIp::Form::Address, "1.2.3.4", {}},  // placeholder ignored
        {"<ipaddr>", MyIp::Form::Invalid, {}, {}},
        {"auto", MyIp::Form::Invalid, {}, {}},
        {"1.2.3", MyIp::Form::Invalid, {}, {}},
        {"1.2.3.256", MyIp::Form::Invalid, {}, {}},
        {"01.2.3.4", MyIp::Form::Invalid, {}, {}},
        {"fe80::1%eth0", MyIp::Form::Invalid, {}, {}},
        {",,,", MyIp::Form::Invalid, {}, {}},
        {"x,x,x,x,1.2.3.4", MyIp::Form::Invalid, {}, {}},  // parts beyond 4 are not read
    };
    for (const Case& c : cases) {
        const MyIp myip = parseMyIp(c.value);
        const std::string label(c.value.value_or("(absent)"));
        EXPECT_EQ(myip.form, c.form) << label;
        EXPECT_EQ(myip.v4.has_value(), c.v4.has_value()) << label;
        if (myip.v4 && c.v4) {
            EXPECT_EQ(*myip.v4, ip(*c.v4)) << label;
        }
        EXPECT_EQ(myip.v6.has_value(), c.v6.has_value()) << label;
        if (myip.v6 && c.v6) {
            EXPECT_EQ(*myip.v6, ip(*c.v6)) << label;
        }
    }
}

TEST(PublishAddress, PublicClassification) {
    struct Case {
        std::string_view address;
        bool isPublic;
    };
    const Case cases[] = {
        {"1.2.3.4", true},          {"8.8.8.8", true},
        {"93.184.216.34", true},    {"100.63.255.255", true},
        {"100.128.0.0", true},      {"172.15.255.255", true},
        {"172.32.0.0", true},       {"192.167.255.255", true},
        {"192.169.0.0", true},      {"169.253.255.255", true},
        {"198.17.255.255", true},   {"198.20.0.0", true},
        {"203.0.114.1", true},      {"223.255.255.255", true},
        {"192.0.1.255", true},      {"0.0.0.0", false},
        {"0.1.2.3", false},         {"10.0.0.1", false},
        {"10.255.255.255", false},  {"100.64.0.1", false},
        {"100.127.255.255", false}, {"127.0.0.1", false},
        {"169.254.1.1", false},     {"172.16.0.1", false},
        {"172.31.255.255", false},  {"192.0.0.8", false},
        {"192.0.2.1", false},       {"192.88.99.1", false},
        {"192.168.0.1", false},     {"198.18.0.1", false},
        {"198.19.255.255", false},  {"198.51.100.7", false},
        {"203.0.113.9", false},     {"224.0.0.1", false},
        {"239.255.255.250", false}, {"240.0.0.1", false},
        {"255.255.255.255", false}, {"2001:4860:4860::8888", false},
    };
    for (const Case& c : cases)
        EXPECT_EQ(isPublicIpv4(ip(c.address)), c.isPublic) << c.address;
    EXPECT_FALSE(isPublicIpv4(net::IpAddress{}));
}

TEST(PublishAddress, FromMyIp) {
    struct Case {
        std::optional<std::string_view> myip;
        std::optional<std::string_view> published;
    };
    const Case cases[] = {
        {std::nullopt, std::nullopt},
        {"", std::nullopt},
        {"garbage", std::nullopt},
        {"2001:4860:4860::8888", std::nullopt},  // IPv6 only
        {"192.168.1.20", std::nullopt},          // a LAN address
        {"100.64.7.7", std::nullopt},            // behind CGNAT
        {"127.0.0.1", std::nullopt},
        {"169.254.3.3", std::nullopt},
        {"1.2.3.4", "1.2.3.4"},
        {"1.2.3.4/32", "1.2.3.4"},
        {"2001:4860::1,1.2.3.4", "1.2.3.4"},
        {"::ffff:1.2.3.4", "1.2.3.4"},
        {"10.0.0.1,2001:4860::1", std::nullopt},
    };
    for (const Case& c : cases) {
        const auto published = addressToPublish(parseMyIp(c.myip));
        const std::string label(c.myip.value_or("(absent)"));
        ASSERT_EQ(published.has_value(), c.published.has_value()) << label;
        if (published) {
            EXPECT_EQ(*published, ip(*c.published)) << label;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// hostname.h

TEST(Hostnames, SplitBoundsTheList) {
    std::string list;
    for (int i = 0; i < 100; ++i)
        list += "h" + std::to_string(i) + ".example,";
    EXPECT_EQ(splitHostnames(list).size(), kMaxHostnames + 1);
}

TEST(Hostnames, NumHostAtTwentyOne) {
    std::string twenty;
    for (int i = 0; i < 20; ++i)
        twenty += (i ? "," : "") + ("h" + std::to_string(i) + ".example");
    const auto ok = checkHostnames(splitHostnames(twenty), account());
    EXPECT_EQ(ok.request, HostnameCheck::Request::Ok);
    EXPECT_EQ(ok.hosts.size(), 20U);
    const auto tooMany = checkHostnames(splitHostnames(twenty + ",h20.example"), account());
    EXPECT_EQ(tooMany.request, HostnameCheck::Request::NumHost);
    EXPECT_FALSE(tooMany.anyAccepted());
    EXPECT_EQ(replyFor(tooMany).body, "numhost");
}

TEST(Hostnames, WithoutAllowListAnythingGoes) {
    const config::Account any = account();
    for (const std::string_view name :
         {"x", "a.example", "not_a..name", "-weird-", "my host", "*.example", "ünïcode"}) {
        const auto check = checkHostnames(splitHostnames(name), any);
        ASSERT_EQ(check.request, HostnameCheck::Request::Ok) << name;
        EXPECT_EQ(check.hosts, std::vector<HostnameVerdict>{HostnameVerdict::Ok}) << name;
    }
    // Still bounded and printable: they end up in logs and on the status page.
    const std::vector<std::string> bad{std::string(254, 'a'), std::string("a\0b", 3), "a\tb",
                                       "a\x7f"};
    const auto check = checkHostnames(bad, any);
    EXPECT_EQ(check.hosts, std::vector<HostnameVerdict>(4, HostnameVerdict::NotFqdn));
    EXPECT_FALSE(check.anyAccepted());
    // No name at all.
    EXPECT_EQ(checkHostnames({}, any).request, HostnameCheck::Request::NotFqdn);
    EXPECT_EQ(replyFor(checkHostnames({}, any)).body, "notfqdn");
}

TEST(Hostnames, AllowList) {
    const config::Account listed = account({"cam.example.org", "nas.example.org", "x"});
    struct Case {
        std::string name;
        HostnameVerdict verdict;
    };
    const Case cases[] = {
        {"cam.example.org", HostnameVerdict::Ok},
        {"cam.example.org.", HostnameVerdict::Ok},  // absolute form
        {"x", HostnameVerdict::Ok},                 // on the list
        {"other.example.org", HostnameVerdict::NoHost},
        {"y", HostnameVerdict::NoHost},
        {"a..b", HostnameVerdict::NotFqdn},  // empty label
        {".example", HostnameVerdict::NotFqdn},
        {"example..", HostnameVerdict::NotFqdn},
        {".", HostnameVerdict::NotFqdn},
        {"a b.example", HostnameVerdict::NotFqdn},
        {"*.example.org", HostnameVerdict::NotFqdn},
        {"caf\xc3\xa9.example", HostnameVerdict::NotFqdn},
        {std::string(64, 'a') + ".example", HostnameVerdict::NotFqdn},  // label > 63
        {std::string(63, 'a') + ".example", HostnameVerdict::NoHost},   // label = 63
        {"_srv.example", HostnameVerdict::NoHost},                      // underscore is fine
    };
    for (const Case& c : cases) {
        const auto check = checkHostnames(std::vector<std::string>{c.name}, listed);
        ASSERT_EQ(check.request, HostnameCheck::Request::Ok) << c.name;
        EXPECT_EQ(check.hosts.front(), c.verdict) << c.name;
    }
}

// ---------------------------------------------------------------------------------------------
// token_api.h

TEST(TokenApi, ParsesEveryCode) {
    struct Case {
        std::string_view body;
        TokenApiCode code;
    };
    const Case cases[] = {
        {"UP,OK", TokenApiCode::UpOk},
        {"UP,ER", TokenApiCode::UpEr},
        {"NC", TokenApiCode::Nc},
        {"NR", TokenApiCode::Nr},
        {"ND", TokenApiCode::Nd},
        {"TF", TokenApiCode::Tf},
        {"NT", TokenApiCode::Nt},
        {"IN", TokenApiCode::In},
        {"ER", TokenApiCode::Er},
        {"UP,OK\r\n", TokenApiCode::UpOk},
        {"\n NC \t\n", TokenApiCode::Nc},
        {"TF\n", TokenApiCode::Tf},
        {"", TokenApiCode::Unknown},
        {"\r\n", TokenApiCode::Unknown},
        {"up,ok", TokenApiCode::Unknown},
        {"UP, OK", TokenApiCode::Unknown},
        {"UP", TokenApiCode::Unknown},
        {"OK", TokenApiCode::Unknown},
        {"NCX", TokenApiCode::Unknown},
        {"NC\nNC", TokenApiCode::Unknown},
        {"<html>502 Bad Gateway</html>", TokenApiCode::Unknown},
        {std::string_view("NC\0", 3), TokenApiCode::Unknown},
    };
    for (const Case& c : cases)
        EXPECT_EQ(parseTokenApiBody(c.body), c.code) << c.body;
}

TEST(TokenApi, TextAndDescriptions) {
    EXPECT_EQ(toString(TokenApiCode::UpEr), "UP,ER");
    EXPECT_EQ(toString(TokenApiCode::Unknown), "unknown");
    EXPECT_EQ(describe(TokenApiCode::Nr),
              "no record of the token yet (normal in the first minutes after set-up)");
    for (const auto code : {TokenApiCode::UpOk, TokenApiCode::UpEr, TokenApiCode::Nc,
                            TokenApiCode::Nr, TokenApiCode::Nd, TokenApiCode::Tf, TokenApiCode::Nt,
                            TokenApiCode::In, TokenApiCode::Er, TokenApiCode::Unknown}) {
        EXPECT_FALSE(describe(code).empty());
        if (code != TokenApiCode::Unknown) {
            EXPECT_EQ(parseTokenApiBody(toString(code)), code);
        }
    }
}

TEST(TokenApi, BuildUpdateUrl) {
    const std::string token = "1234567890ABCDEFGHIJKLMNOPQRSTUVWXYZ123456";
    const std::string base = "https://update01-dynamo.kisolabs.net/";
    EXPECT_EQ(buildUpdateUrl(base, token, std::nullopt), base + token);
    EXPECT_EQ(buildUpdateUrl(base, token, ip("1.2.3.4")), base + token + "?ip=1.2.3.4");
    EXPECT_EQ(buildUpdateUrl("http://127.0.0.1:8080", token, ip("93.184.216.34")),
              "http://127.0.0.1:8080/" + token + "?ip=93.184.216.34");
    EXPECT_EQ(buildUpdateUrl(base, token, ip("2001:db8::1")), base + token);  // IPv4 only
    EXPECT_EQ(buildUpdateUrl(base, "a/b?c d", std::nullopt), base + "a%2Fb%3Fc%20d");
}

TEST(TokenApi, CodeFromStringIsTheInverseOfToString) {
    for (const TokenApiCode code :
         {TokenApiCode::UpOk, TokenApiCode::UpEr, TokenApiCode::Nc, TokenApiCode::Nr,
          TokenApiCode::Nd, TokenApiCode::Tf, TokenApiCode::Nt, TokenApiCode::In, TokenApiCode::Er,
          TokenApiCode::Unknown}) {
        EXPECT_EQ(codeFromString(toString(code)), code) << toString(code);
    }
    EXPECT_EQ(codeFromString("up,ok"), std::nullopt);
    EXPECT_EQ(codeFromString("http-503"), std::nullopt);
}

TEST(TokenApi, RedactSecret) {
    EXPECT_EQ(log::maskSecret("1234567890ABCDEFGHIJKLMNOPQRSTUVWXYZ123456"), "1234\u2026");
    EXPECT_EQ(log::maskSecret("abcd"), "\u2026");
    EXPECT_EQ(log::maskSecret(""), "\u2026");
    // 4 of a 5-character password is most of it: short secrets show nothing.
    EXPECT_EQ(log::maskSecret("abcde"), "\u2026");
    EXPECT_EQ(log::maskSecret("123456789012345"), "\u2026");
    EXPECT_EQ(log::maskSecret("1234567890123456"), "1234\u2026");
}

// ---------------------------------------------------------------------------------------------
// dyndns_reply.h: the docs/updates.md#reply-mapping table

TEST(DyndnsReply, CodesOnTheWire) {
    EXPECT_EQ(toString(ReplyCode::Good), "good");
    EXPECT_EQ(toString(ReplyCode::NoChg), "nochg");
    EXPECT_EQ(toString(ReplyCode::BadAuth), "badauth");
    EXPECT_EQ(toString(ReplyCode::NotFqdn), "notfqdn");
    EXPECT_EQ(toString(ReplyCode::NoHost), "nohost");
    EXPECT_EQ(toString(ReplyCode::NumHost), "numhost");
    EXPECT_EQ(toString(ReplyCode::Abuse), "abuse");
    EXPECT_EQ(toString(ReplyCode::BadAgent), "badagent");
    EXPECT_EQ(toString(ReplyCode::DnsErr), "dnserr");
    EXPECT_EQ(toString(ReplyCode::ServerError), "911");
}

TEST(DyndnsReply, TokenCodesToOutcomes) {
    struct Case {
        TokenApiCode code;
        UpdateOutcome outcome;
        std::string_view line;
    };
    const Case cases[] = {
        {TokenApiCode::UpOk, UpdateOutcome::Updated, "good 1.2.3.4"},
        {TokenApiCode::UpEr, UpdateOutcome::Updated, "good 1.2.3.4"},
        {TokenApiCode::Nc, UpdateOutcome::NoChange, "nochg 1.2.3.4"},
        {TokenApiCode::Nr, UpdateOutcome::Failed, "911"},
        {TokenApiCode::Nd, UpdateOutcome::Failed, "911"},
        {TokenApiCode::Er, UpdateOutcome::Failed, "911"},
        {TokenApiCode::Tf, UpdateOutcome::Failed, "911"},
        {TokenApiCode::In, UpdateOutcome::Failed, "911"},
        {TokenApiCode::Nt, UpdateOutcome::Failed, "911"},
        {TokenApiCode::Unknown, UpdateOutcome::Failed, "911"},
    };
    const auto hosts = checkHostnames(std::vector<std::string>{"a.example"}, account());
    for (const Case& c : cases) {
        EXPECT_EQ(outcomeFor(c.code), c.outcome) << toString(c.code);
        const DyndnsReply reply = replyFor(hosts, outcomeFor(c.code), ip("1.2.3.4"));
        EXPECT_EQ(reply.httpStatus, 200);
        EXPECT_EQ(reply.contentType, "text/plain");
        EXPECT_TRUE(reply.wwwAuthenticate.empty());
        EXPECT_EQ(reply.body, c.line) << toString(c.code);
    }
    // Window closed: accepted into the durable queue, the device hears "good".
    EXPECT_EQ(replyFor(hosts, UpdateOutcome::Queued, ip("1.2.3.4")).body, "good 1.2.3.4");
    // No address known at all: the bare code.
    EXPECT_EQ(replyFor(hosts, UpdateOutcome::Updated, std::nullopt).body, "good");
    EXPECT_EQ(replyFor(hosts, UpdateOutcome::NoChange, ip("2001:db8::1")).body,
              "nochg 2001:db8::1");
}

TEST(DyndnsReply, OneLinePerHostInRequestOrder) {
    const config::Account listed = account({"a.example", "c.example"});
    const auto hosts = checkHostnames(
        std::vector<std::string>{"a.example", "b.example", "c.example", "bad..name"}, listed);
    ASSERT_TRUE(hosts.anyAccepted());
    EXPECT_EQ(replyFor(hosts, UpdateOutcome::Updated, ip("1.2.3.4")).body,
              "good 1.2.3.4\nnohost\ngood 1.2.3.4\nnotfqdn");
    EXPECT_EQ(replyFor(hosts, UpdateOutcome::Failed, ip("1.2.3.4")).body,
              "911\nnohost\n911\nnotfqdn");

    const auto none = checkHostnames(std::vector<std::string>{"b.example", "d.example"}, listed);
    EXPECT_FALSE(none.anyAccepted());
    EXPECT_EQ(replyFor(none).body, "nohost\nnohost");
    // Misuse: the scheduler was not asked, yet a name passed → never "good".
    EXPECT_EQ(replyFor(hosts).body, "911\nnohost\n911\nnotfqdn");
}

TEST(DyndnsReply, BadAuth) {
    const DyndnsReply reply = badAuthReply();
    EXPECT_EQ(reply.httpStatus, 401);
    EXPECT_EQ(reply.wwwAuthenticate, "Basic realm=\"DynDNS API Access\"");
    EXPECT_EQ(reply.body, "badauth");
    EXPECT_EQ(reply.contentType, "text/plain");
}

TEST(DyndnsReply, ReplyAddress) {
    const MyIp dual = parseMyIp("192.168.1.2,2001:db8::2");
    const MyIp v6only = parseMyIp("2001:db8::2");
    EXPECT_EQ(replyAddress(ip("1.2.3.4"), ip("5.6.7.8"), dual), ip("1.2.3.4"));
    EXPECT_EQ(replyAddress(std::nullopt, ip("5.6.7.8"), dual), ip("5.6.7.8"));
    EXPECT_EQ(replyAddress(std::nullopt, std::nullopt, dual), ip("192.168.1.2"));
    EXPECT_EQ(replyAddress(std::nullopt, std::nullopt, v6only), ip("2001:db8::2"));
    EXPECT_FALSE(replyAddress(std::nullopt, std::nullopt, parseMyIp(std::nullopt)));
}

// The handler's whole path, as the gateway will write it: parse → authenticate → validate
// hostnames → (scheduler) → reply.
DyndnsReply handle(const HttpRequest& request, const std::vector<config::Account>& accounts,
                   UpdateOutcome schedulerSays) {
    const ParsedUpdate parsed = parseUpdate(request);
    if (parsed.status != Status::Ok)
        return {404, "text/plain", "", "not found"};
    const config::Account* found =
        parsed.request.credentials ? findAccount(accounts, *parsed.request.credentials) : nullptr;
    if (found == nullptr)
        return badAuthReply();
    const HostnameCheck hosts = checkHostnames(parsed.request.hostnames, *found);
    if (!hosts.anyAccepted())
        return replyFor(hosts);
    const auto sent = addressToPublish(parsed.request.myip);
    return replyFor(hosts, schedulerSays, replyAddress(sent, std::nullopt, parsed.request.myip));
}

TEST(HandlerFlow, EndToEnd) {
    const std::vector<config::Account> accounts{account(), {"cam", "pw", "T", {"cam.example"}}};
    const std::string basic(kBasicDevice);
    EXPECT_EQ(handle(get("/nic/update", "hostname=x&myip=1.2.3.4", basic), accounts,
                     UpdateOutcome::Updated)
                  .body,
              "good 1.2.3.4");
    EXPECT_EQ(
        handle(get("/nic/update", "hostname=x&myip=1.2.3.4"), accounts, UpdateOutcome::Updated)
            .httpStatus,
        401);
    EXPECT_EQ(handle(get("/nic/update", "hostname=x", "Basic ZGV2aWNlLXVzZXI6d3Jvbmc="), accounts,
                     UpdateOutcome::Updated)
                  .body,
              "badauth");
    EXPECT_EQ(handle(get("/nic/update", "hostname=other.example&user=cam&pass=pw"), accounts,
                     UpdateOutcome::Updated)
                  .body,
              "nohost");
    EXPECT_EQ(handle(get("/nic/update", "hostname=a,b&myip=10.0.0.5", basic), accounts,
                     UpdateOutcome::NoChange)
                  .body,
              "nochg 10.0.0.5\nnochg 10.0.0.5");
    EXPECT_EQ(handle(get("/nic/update", "hostname=a&myip=1.2.3.4", basic), accounts,
                     UpdateOutcome::Failed)
                  .body,
              "911");
    EXPECT_EQ(handle(get("/nic/other", "", basic), accounts, UpdateOutcome::Updated).httpStatus,
              404);
}

}  // namespace
}  // namespace dynamo::compat
