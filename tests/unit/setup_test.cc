// gateway/setup/: the configuration text editor (comments and order kept, entries appended,
// replaced, removed, odd passwords quoted), the administrator password hash, and the pure parts
// of sessions and CSRF (ids, expiry, the bound, cookies, forms).

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <string>

#include "config/config.h"
#include "gateway/setup/admin_password.h"
#include "gateway/setup/config_text.h"
#include "gateway/setup/setup_session.h"

namespace dynamo::gateway {
namespace {

constexpr const char* kToken1 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
constexpr const char* kToken2 = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

// A file in the layout config/example.yaml uses, with comments everywhere.
const std::string kFile = std::string(R"(# top comment
dns:
  listen: ["127.0.0.1:5300"]
  # upstream comment
  upstreams:
    - 127.0.0.1:5301   # first
    - 127.0.0.1:5302
  allow: [127.0.0.0/8]

gateway:
  http_listen: ["127.0.0.1:8080"]  # http
  https_listen: []

# accounts comment
accounts:
  - username: "one"    # the first device
    password: "pass-one"
    token: ")") + kToken1 +
                          R"("
    hostnames: []
    # a comment inside the first entry's tail
  - username: "two"
    password: "pass-two"
    token: ")" + kToken2 + R"("

# after accounts
state_dir: /tmp/dynamo-setup-test
log_level: info
)";

config::Config parsed(const std::string& text) {
    config::Environment environment;
    environment.localAddresses = std::vector<net::IpAddress>{};
    auto result = config::parse(text, "config.yaml", environment);
    EXPECT_TRUE(result.config) << (result.errors.empty() ? "" : result.errors.front()) << "\n"
                               << text;
    return result.config ? *result.config : config::Config{};
}

config::Account account(std::string username, std::string password, std::string token) {
    config::Account a;
    a.username = std::move(username);
    a.password = std::move(password);
    a.token = std::move(token);
    return a;
}

// Every line of before that is not in removed appears in after, in the same order.
void expectKeptInOrder(const std::string& before, const std::string& after,
                       const std::vector<std::string>& removed = {}) {
    size_t at = 0;
    std::istringstream lines(before);
    std::string line;
    while (std::getline(lines, line)) {
        if (std::find(removed.begin(), removed.end(), line) != removed.end())
            continue;
        const size_t found = after.find(line + "\n", at);
        ASSERT_NE(found, std::string::npos) << "lost or moved: " << line << "\n" << after;
        at = found + line.size() + 1;
    }
}

TEST(ConfigText, TheTestFileIsValid) {
    EXPECT_EQ(parsed(kFile).accounts.size(), 2u);
}

TEST(ConfigText, AppendKeepsEveryLineAndAddsTheAccountLast) {
    std::string error;
    auto text = appendAccount(kFile, account("three", "pass-three", kToken1), &error);
    ASSERT_TRUE(text) << error;
    expectKeptInOrder(kFile, *text);
    const auto config = parsed(*text);
    ASSERT_EQ(config.accounts.size(), 3u);
    EXPECT_EQ(config.accounts[2].username, "three");
    EXPECT_EQ(config.accounts[2].password, "pass-three");
    EXPECT_LT(text->find("username: \"three\""), text->find("# after accounts"));
}

TEST(ConfigText, ReplaceChangesOnlyThatEntry) {
    std::string error;
    auto changed = account("uno", "new-pass", kToken2);
    changed.hostnames = {"cam.example.net"};
    auto text = replaceAccount(kFile, 0, changed, &error);
    ASSERT_TRUE(text) << error;
    expectKeptInOrder(kFile, *text,
                      {"  - username: \"one\"    # the first device", "    password: \"pass-one\"",
                       "    token: \"" + std::string(kToken1) + "\"", "    hostnames: []"});
    const auto config = parsed(*text);
    ASSERT_EQ(config.accounts.size(), 2u);
    EXPECT_EQ(config.accounts[0].username, "uno");
    EXPECT_EQ(config.accounts[0].hostnames, std::vector<std::string>{"cam.example.net"});
    EXPECT_EQ(config.accounts[1].username, "two");
    EXPECT_NE(text->find("# a comment inside the first entry's tail"), std::string::npos);
}

TEST(ConfigText, RemoveDeletesOnlyThatEntry) {
    std::string error;
    auto text = replaceAccount(kFile, 1, std::nullopt, &error);
    ASSERT_TRUE(text) << error;
    const auto config = parsed(*text);
    ASSERT_EQ(config.accounts.size(), 1u);
    EXPECT_EQ(config.accounts[0].username, "one");
    EXPECT_EQ(text->find("two"), std::string::npos);
    EXPECT_NE(text->find("# after accounts"), std::string::npos);
    EXPECT_FALSE(replaceAccount(kFile, 2, std::nullopt, &error));
}

TEST(ConfigText, OddPasswordsAreQuotedAndReadBackExactly) {
    for (const std::string& password :
         {std::string("p@ss \"w0rd\" #1"), std::string("back\\slash: 'single'"),
          std::string("tab\there"), std::string("{[flow]}, &anchor *alias !tag %"),
          std::string("  spaces  "), std::string("ünïcödé €"), std::string("- dash"),
          std::string("null"), std::string("#hash")}) {
        SCOPED_TRACE(password);
        std::string error;
        auto text = appendAccount(kFile, account("odd", password, kToken1), &error);
        ASSERT_TRUE(text) << error;
        const auto config = parsed(*text);
        ASSERT_EQ(config.accounts.size(), 3u);
        EXPECT_EQ(config.accounts[2].password, password);
    }
}

TEST(ConfigText, EmptyFlowListBecomesABlockList) {
    std::string error;
    const std::string file = "accounts: []\nstate_dir: /tmp/x\n";
    auto text = appendAccount(file, account("a", "pass-a", kToken1), &error);
    ASSERT_TRUE(text) << error;
    EXPECT_EQ(parsed(*text).accounts.size(), 1u);
    EXPECT_FALSE(appendAccount("accounts: [{username: a}]\n", account("b", "p", kToken1), &error));
    EXPECT_NE(error.find("flow style"), std::string::npos);
}

TEST(ConfigText, UpstreamsReplaceTheBlockListAndKeepTheRest) {
    std::string error;
    auto text = setUpstreams(kFile, {"127.0.0.1:5400", "[::1]:5401"}, &error);
    ASSERT_TRUE(text) << error;
    expectKeptInOrder(kFile, *text,
                      {"  upstreams:", "    - 127.0.0.1:5301   # first", "    - 127.0.0.1:5302"});
    const auto config = parsed(*text);
    ASSERT_EQ(config.dns.upstreams.size(), 2u);
    EXPECT_EQ(config.dns.upstreams[0].toString(), "127.0.0.1:5400");
    EXPECT_EQ(config.dns.listen.size(), 1u);
    EXPECT_EQ(config.accounts.size(), 2u);
}

TEST(ConfigText, GatewayKeyIsReplacedOrAdded) {
    std::string error;
    auto text = setGatewayKey(kFile, "admin_password_hash", yamlQuoted("$6$salt$hash"), &error);
    ASSERT_TRUE(text) << error;
    expectKeptInOrder(kFile, *text);
    EXPECT_EQ(parsed(*text).gateway.adminPasswordHash, "$6$salt$hash");
    auto again = setGatewayKey(*text, "admin_password_hash", yamlQuoted("$6$other$x"), &error);
    ASSERT_TRUE(again);
    EXPECT_EQ(parsed(*again).gateway.adminPasswordHash, "$6$other$x");
    EXPECT_EQ(again->size(), text->size() - 2);  // replaced in place, not added twice
    auto added =
        setGatewayKey("state_dir: /tmp/x\n", "admin_password_hash", yamlQuoted("$6$a$b"), &error);
    ASSERT_TRUE(added);
    EXPECT_EQ(*added, "state_dir: /tmp/x\n\ngateway:\n  admin_password_hash: \"$6$a$b\"\n");
}

TEST(AdminPassword, HashVerifiesOnlyTheSamePassword) {
    const auto hash = hashAdminPassword("correct horse battery");
    ASSERT_TRUE(hash);
    EXPECT_TRUE(hash->starts_with("$y$") || hash->starts_with("$6$")) << *hash;
    EXPECT_TRUE(verifyAdminPassword("correct horse battery", *hash));
    EXPECT_FALSE(verifyAdminPassword("correct horse batterx", *hash));
    EXPECT_FALSE(verifyAdminPassword("", *hash));
    EXPECT_FALSE(verifyAdminPassword("correct horse battery", "not a hash"));
    EXPECT_FALSE(verifyAdminPassword("correct horse battery", "$6$"));
    // Salted: the same password twice gives two hashes.
    EXPECT_NE(*hash, *hashAdminPassword("correct horse battery"));
    EXPECT_FALSE(adminPasswordProblem("short").empty());
    EXPECT_FALSE(adminPasswordProblem("ten chars\n!").empty());
    EXPECT_TRUE(adminPasswordProblem("ten chars!").empty());
}

TEST(AdminPassword, TheConfigKeyTakesOnlyACryptHash) {
    config::Environment environment;
    environment.localAddresses = std::vector<net::IpAddress>{};
    auto bad = config::parse("gateway:\n  admin_password_hash: plaintext\n", "c.yaml", environment);
    ASSERT_FALSE(bad.config);
    EXPECT_NE(bad.errors.front().find("c.yaml:2: gateway.admin_password_hash: is not a crypt(3)"),
              std::string::npos)
        << bad.errors.front();
}

class SessionsTest : public ::testing::Test {
  protected:
    SetupSessions sessions_{[this] {
        char id[33];
        std::snprintf(id, sizeof id, "%032x", ++counter_);
        return std::string(id);
    }};
    unsigned counter_ = 0;
    SetupSessions::TimePoint now_{};
};

TEST_F(SessionsTest, ASessionHasItsOwnTokenAndExpires) {
    const std::string id = sessions_.open(true, now_).id;
    const auto* session = sessions_.find(id, now_);
    ASSERT_NE(session, nullptr);
    EXPECT_NE(session->csrf, session->id);
    EXPECT_TRUE(session->loggedIn);
    EXPECT_NE(sessions_.find(id, now_ + SetupSessions::kLifetime - std::chrono::seconds(1)),
              nullptr);
    EXPECT_EQ(sessions_.find(id, now_ + SetupSessions::kLifetime), nullptr);
    EXPECT_EQ(sessions_.size(), 0u);
    EXPECT_EQ(sessions_.find("unknown", now_), nullptr);
}

TEST_F(SessionsTest, TheBoundPushesOutLogInFormsBeforeLoggedInSessions) {
    const std::string owner = sessions_.open(true, now_).id;
    for (size_t i = 0; i < 10 * SetupSessions::kMaxSessions; ++i)
        sessions_.open(false, now_ + std::chrono::milliseconds(i + 1));
    EXPECT_EQ(sessions_.size(), SetupSessions::kMaxSessions);
    EXPECT_NE(sessions_.find(owner, now_), nullptr);
}

TEST(SetupHelpers, CsrfComparisonAndRandomIds) {
    EXPECT_TRUE(constantTimeEquals("abc", "abc"));
    EXPECT_FALSE(constantTimeEquals("abc", "abd"));
    EXPECT_FALSE(constantTimeEquals("abc", "ab"));
    EXPECT_FALSE(constantTimeEquals("", ""));  // a missing token never matches a missing one
    const std::string a = randomHex128();
    EXPECT_EQ(a.size(), 32u);
    EXPECT_NE(a, randomHex128());
}

TEST(SetupHelpers, CookiesAndForms) {
    EXPECT_EQ(cookieValue("a=1; dynamo_setup=abc; b=2", "dynamo_setup"), "abc");
    EXPECT_EQ(cookieValue("xdynamo_setup=abc", "dynamo_setup"), "");
    EXPECT_EQ(cookieValue("", "dynamo_setup"), "");
    const std::string cookie = sessionCookie("abc", std::chrono::minutes(30));
    for (const char* part :
         {"dynamo_setup=abc", "HttpOnly", "SameSite=Strict", "Path=/setup", "Max-Age=1800"})
        EXPECT_NE(cookie.find(part), std::string::npos) << cookie;
    EXPECT_NE(sessionCookie("", std::chrono::minutes(30)).find("Max-Age=0"), std::string::npos);

    const auto form = parseForm("a=1&b=x+y%21%3D&a=2&c&bad=%zz%4");
    EXPECT_EQ(form.at("a"), "1");
    EXPECT_EQ(form.at("b"), "x y!=");
    EXPECT_EQ(form.at("c"), "");
    EXPECT_EQ(form.at("bad"), "%zz%4");
}

}  // namespace
}  // namespace dynamo::gateway
