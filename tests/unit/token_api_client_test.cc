// The token-API client in process: a tiny HTTPS server (evhttp over bufferevent_openssl) with a
// throwaway CA made here, and the mock DNS server for the update host, all in the test's event
// loop on loopback. One test per way a call can end.

#include "gateway/updates/token_api_client.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include "dns_test_util.h"
#include "event_loop_util.h"
#include "gateway/updates/http_response_reader.h"
#include "mock_dns_server.h"
#include "version.h"

namespace dynamo::gateway {
namespace {

using dns::test::Bytes;
using dns::test::MessageBuilder;
using Transport = TokenApiResult::Transport;
using namespace std::chrono_literals;

const std::string kToken = "1234567890ABCDEFGHIJKLMNOPQRSTUVWXYZ123456";

// --- throwaway PKI ---------------------------------------------------------------------------

net::EvpPkeyPtr makeKey() {
    // P-256: as good as RSA for these tests and much faster under the sanitizers.
    return net::EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", const_cast<char*>("P-256")));
}

// sans: "DNS:update.test,IP:127.0.0.1"; issuer null = self-signed.
net::X509Ptr makeCert(const char* commonName, const char* sans, EVP_PKEY* key, X509* issuer,
                      EVP_PKEY* issuerKey, bool ca) {
    net::X509Ptr cert(X509_new());
    X509_set_version(cert.get(), X509_VERSION_3);
    static long serial = 1;
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
    X509_set_pubkey(cert.get(), key);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(commonName), -1, -1, 0);
    X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
    auto add = [&](int nid, const char* value) {
        X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
        X509_add_ext(cert.get(), extension, -1);
        X509_EXTENSION_free(extension);
    };
    add(NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    if (ca)
        add(NID_key_usage, "critical,keyCertSign,cRLSign");
    if (sans != nullptr)
        add(NID_subject_alt_name, sans);
    X509_sign(cert.get(), issuerKey ? issuerKey : key, EVP_sha256());
    return cert;
}

struct Pki {
    Pki() {
        caKey = makeKey();
        ca = makeCert("Dynamo Test CA", nullptr, caKey.get(), nullptr, nullptr, true);
        char dir[] = "/tmp/token_api_client_test.XXXXXX";
        tempDir = ::mkdtemp(dir);
        caFile = tempDir + "/ca.pem";
        FILE* file = std::fopen(caFile.c_str(), "w");
        PEM_write_X509(file, ca.get());
        std::fclose(file);
    }
    ~Pki() {
        ::unlink(caFile.c_str());
        ::rmdir(tempDir.c_str());
    }
    // A server context whose certificate, issued by this CA, carries `sans`.
    net::SslCtxPtr serverContext(const char* sans) const {
        net::EvpPkeyPtr key = makeKey();
        net::X509Ptr cert = makeCert("server", sans, key.get(), ca.get(), caKey.get(), false);
        net::SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
        SSL_CTX_use_certificate(ctx.get(), cert.get());
        SSL_CTX_use_PrivateKey(ctx.get(), key.get());
        return ctx;
    }

    net::EvpPkeyPtr caKey;
    net::X509Ptr ca;
    std::string tempDir;
    std::string caFile;
};

// --- the service side ------------------------------------------------------------------------

// evhttp on 127.0.0.1:0, HTTPS when given a context. Answers every request with status/body,
// chunked on request, or not at all (a hung service).
class TestServer {
  public:
    enum class Mode { Answer, Chunked, Silent };

    TestServer(event_base* base, SSL_CTX* ctx) : ctx_(ctx) {
        http_.reset(evhttp_new(base));
        if (ctx_ != nullptr)
            evhttp_set_bevcb(http_.get(), &TestServer::makeBufferEvent, this);
        evhttp_set_gencb(http_.get(), &TestServer::onRequest, this);
        evhttp_bound_socket* socket = evhttp_bind_socket_with_handle(http_.get(), "127.0.0.1", 0);
        sockaddr_in address{};
        socklen_t length = sizeof address;
        ::getsockname(evhttp_bound_socket_get_fd(socket), reinterpret_cast<sockaddr*>(&address),
                      &length);
        port_ = ntohs(address.sin_port);
    }
    ~TestServer() {
        // A request left unanswered is freed by answering it, whether or not its client is
        // still there (evhttp orphans it when the client went away).
        for (evhttp_request* request : held_)
            evhttp_send_reply(request, 503, "Gone", nullptr);
    }

    uint16_t port() const { return port_; }
    void answer(int status, std::string body, Mode mode = Mode::Answer) {
        status_ = status;
        body_ = std::move(body);
        mode_ = mode;
    }

    int requests = 0;
    std::string uri, userAgent, host, connection;

  private:
    static bufferevent* makeBufferEvent(event_base* base, void* arg) {
        auto* self = static_cast<TestServer*>(arg);
        bufferevent* bev = bufferevent_openssl_socket_new(
            base, -1, SSL_new(self->ctx_), BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
        return bev;
    }
    static void onRequest(evhttp_request* request, void* arg) {
        auto* self = static_cast<TestServer*>(arg);
        ++self->requests;
        self->uri = evhttp_request_get_uri(request);
        evkeyvalq* headers = evhttp_request_get_input_headers(request);
        auto header = [&](const char* name) {
            const char* value = evhttp_find_header(headers, name);
            return std::string(value ? value : "");
        };
        self->userAgent = header("User-Agent");
        self->host = header("Host");
        self->connection = header("Connection");
        if (self->mode_ == Mode::Silent) {
            self->held_.push_back(request);
            return;
        }
        evbuffer* body = evbuffer_new();
        evbuffer_add(body, self->body_.data(), self->body_.size());
        if (self->mode_ == Mode::Chunked) {
            evhttp_send_reply_start(request, self->status_, "Status");
            evhttp_send_reply_chunk(request, body);
            evhttp_send_reply_end(request);
        } else {
            evhttp_send_reply(request, self->status_, "Status", body);
        }
        evbuffer_free(body);
    }

    SSL_CTX* ctx_;
    net::EvHttpPtr http_;
    uint16_t port_ = 0;
    int status_ = 200;
    std::string body_ = "UP,OK\n";
    Mode mode_ = Mode::Answer;
    std::vector<evhttp_request*> held_;
};

// update.test and alt.test → 127.0.0.1; two.test → 127.0.0.2 (nothing listens) then
// 127.0.0.1; slow.test → no answer; everything else NXDOMAIN.
std::optional<Bytes> dnsAnswer(const Bytes& query) {
    const auto parsed = dns::test::parseOrDie(query);
    if (parsed.qname() == "slow.test")
        return std::nullopt;
    MessageBuilder builder;
    builder.id(dns::getId(query)).question(parsed.qname(), parsed.qtype);
    if (parsed.qtype == dns::type::A &&
        (parsed.qname() == "update.test" || parsed.qname() == "alt.test")) {
        builder.response().answer(dns::type::A, 60, {127, 0, 0, 1});
    } else if (parsed.qtype == dns::type::A && parsed.qname() == "two.test") {
        builder.response()
            .answer(dns::type::A, 60, {127, 0, 0, 2})
            .answer(dns::type::A, 60, {127, 0, 0, 1});
    } else {
        builder.response(dns::Rcode::NxDomain);
    }
    return builder.build();
}

class TokenApiClientTest : public ::testing::Test {
  protected:
    void SetUp() override {
        base_.reset(event_base_new());
        dns_ = std::make_unique<test::MockDnsServer>(
            base_.get(), [](const Bytes& query, bool) { return dnsAnswer(query); });
    }

    std::unique_ptr<TokenApiClient> makeClient(const std::string& url, bool trustTestCa = true,
                                               std::chrono::seconds timeout = 5s) {
        config::DynamoConfig config;
        config.updateUrl = url;
        config.timeout = timeout;
        if (trustTestCa)
            config.caFile = pki().caFile;
        std::string error;
        auto client = TokenApiClient::create(base_.get(), config, {dns_->address()}, &error);
        EXPECT_TRUE(client) << error;
        return client;
    }

    std::string httpsUrl(const std::string& host, uint16_t port) {
        return "https://" + host + ":" + std::to_string(port) + "/";
    }

    // One call, run to its end.
    TokenApiResult call(TokenApiClient& client, std::optional<net::IpAddress> ip = std::nullopt) {
        std::optional<TokenApiResult> result;
        client.update(kToken, ip, [&](const TokenApiResult& r) { result = r; });
        EXPECT_FALSE(result) << "done ran inside update()";
        EXPECT_TRUE(test::runUntil(
            base_.get(), [&] { return result.has_value(); }, 10s));
        return result.value_or(TokenApiResult{Transport::Timeout, 0, {}, "test gave up"});
    }

    static const Pki& pki() {
        static const Pki instance;
        return instance;
    }

    net::EventBasePtr base_;
    std::unique_ptr<test::MockDnsServer> dns_;
};

TEST_F(TokenApiClientTest, UpOkIsParsedAndTheRequestCarriesWhatTheServiceNeeds) {
    auto ctx = pki().serverContext("DNS:update.test");
    TestServer server(base_.get(), ctx.get());
    server.answer(200, "UP,OK\r\n");
    auto client = makeClient(httpsUrl("update.test", server.port()));

    const TokenApiResult result = call(*client, net::IpAddress::parse("203.0.113.7"));
    EXPECT_EQ(result.transport, Transport::Ok) << result.detail;
    EXPECT_EQ(result.httpStatus, 200);
    EXPECT_EQ(result.code, compat::TokenApiCode::UpOk);
    EXPECT_TRUE(result.answered());
    EXPECT_EQ(server.uri, "/" + kToken + "?ip=203.0.113.7");
    EXPECT_EQ(server.userAgent, std::string("dynamo-gateway/") + kVersion);
    EXPECT_EQ(server.host, "update.test:" + std::to_string(server.port()));
    EXPECT_EQ(server.connection, "close");
    EXPECT_EQ(client->inFlight(), 0u);
}

TEST_F(TokenApiClientTest, WithoutAnAddressTheIpParameterIsLeftOut) {
    auto ctx = pki().serverContext("DNS:update.test");
    TestServer server(base_.get(), ctx.get());
    server.answer(200, "NC");
    auto client = makeClient(httpsUrl("update.test", server.port()));

    const TokenApiResult result = call(*client, std::nullopt);
    EXPECT_EQ(result.code, compat::TokenApiCode::Nc) << result.detail;
    EXPECT_EQ(server.uri, "/" + kToken);
}

TEST_F(TokenApiClientTest, AnIpv6AddressIsNeverSent) {
    auto ctx = pki().serverContext("DNS:update.test");
    TestServer server(base_.get(), ctx.get());
    auto client = makeClient(httpsUrl("update.test", server.port()));

    call(*client, net::IpAddress::parse("2001:db8::1"));
    EXPECT_EQ(server.uri, "/" + kToken);
}

TEST_F(TokenApiClientTest, AChunkedAnswerIsRead) {
    auto ctx = pki().serverContext("DNS:update.test");
    TestServer server(base_.get(), ctx.get());
    server.answer(200, "UP,ER\n", TestServer::Mode::Chunked);
    auto client = makeClient(httpsUrl("update.test", server.port()));

    const TokenApiResult result = call(*client);
    EXPECT_EQ(result.transport, Transport::Ok) << result.detail;
    EXPECT_EQ(result.code, compat::TokenApiCode::UpEr);
}

TEST_F(TokenApiClientTest, ACertificateForAnotherNameFailsTlsAndSendsNothing) {
    auto ctx = pki().serverContext("DNS:other.test");
    TestServer server(base_.get(), ctx.get());
    auto client = makeClient(httpsUrl("update.test", server.port()));

    const TokenApiResult result = call(*client);
    EXPECT_EQ(result.transport, Transport::TlsFailed);
    EXPECT_NE(result.detail.find("hostname mismatch"), std::string::npos) << result.detail;
    EXPECT_EQ(server.requests, 0);
}

TEST_F(TokenApiClientTest, APartialWildcardDoesNotMatch) {
    auto ctx = pki().serverContext("DNS:up*.test");
    TestServer server(base_.get(), ctx.get());
    auto client = makeClient(httpsUrl("update.test", server.port()));

    EXPECT_EQ(call(*client).transport, Transport::TlsFailed);
    EXPECT_EQ(server.requests, 0);
}

TEST_F(TokenApiClientTest, AnUntrustedCaFailsTls) {
    auto ctx = pki().serverContext("DNS:update.test");
    TestServer server(base_.get(), ctx.get());
    auto client = makeClient(httpsUrl("update.test", server.port()), /*trustTestCa=*/false);

    const TokenApiResult result = call(*client);
    EXPECT_EQ(result.transport, Transport::TlsFailed);
    EXPECT_NE(result.detail.find("not trusted"), std::string::npos) << result.detail;
    EXPECT_NE(result.detail.find("issuer"), std::string::npos) << result.detail;
    EXPECT_EQ(server.requests, 0);
}

TEST_F(TokenApiClientTest, AnAddressInTheUrlIsVerifiedAgainstAnIpSan) {
    auto ctx = pki().serverContext("IP:127.0.0.1");
    TestServer server(base_.get(), ctx.get());
    auto client = makeClient(httpsUrl("127.0.0.1", server.port()));

    const TokenApiResult result = call(*client);
    EXPECT_EQ(result.code, compat::TokenApiCode::UpOk) << result.detail;
    EXPECT_EQ(dns_->queries(), 0u);
}

TEST_F(TokenApiClientTest, Http500IsAnAnswerThatIsNotAnswered) {
    auto ctx = pki().serverContext("DNS:update.test");
    TestServer server(base_.get(), ctx.get());
    server.answer(500, "Internal error for /" + kToken);
    auto client = makeClient(httpsUrl("update.test", server.port()));

    const TokenApiResult result = call(*client);
    EXPECT_EQ(result.transport, Transport::Ok);
    EXPECT_EQ(result.httpStatus, 500);
    EXPECT_FALSE(result.answered());
    EXPECT_EQ(result.detail.find(kToken), std::string::npos) << result.detail;
    EXPECT_NE(result.detail.find("1234"), std::string::npos) << result.detail;
}

TEST_F(TokenApiClientTest, AGarbageBodyIsAnUnknownCode) {
    auto ctx = pki().serverContext("DNS:update.test");
    TestServer server(base_.get(), ctx.get());
    server.answer(200, "<html>captive portal</html>");
    auto client = makeClient(httpsUrl("update.test", server.port()));

    const TokenApiResult result = call(*client);
    EXPECT_EQ(result.transport, Transport::Ok);
    EXPECT_EQ(result.httpStatus, 200);
    EXPECT_EQ(result.code, compat::TokenApiCode::Unknown);
    EXPECT_NE(result.detail.find("captive portal"), std::string::npos);
}

TEST_F(TokenApiClientTest, ABodyLargerThanTheLimitIsAnUnknownCode) {
    auto ctx = pki().serverContext("DNS:update.test");
    TestServer server(base_.get(), ctx.get());
    server.answer(200, std::string(HttpResponseReader::kMaxBodyBytes + 1, 'x'));
    auto client = makeClient(httpsUrl("update.test", server.port()));

    const TokenApiResult result = call(*client);
    EXPECT_EQ(result.transport, Transport::Ok);
    EXPECT_EQ(result.code, compat::TokenApiCode::Unknown);
}

TEST_F(TokenApiClientTest, AServerThatNeverAnswersTimesOutWithinTheTimeout) {
    auto ctx = pki().serverContext("DNS:update.test");
    TestServer server(base_.get(), ctx.get());
    server.answer(200, "", TestServer::Mode::Silent);
    auto client = makeClient(httpsUrl("update.test", server.port()), true, 1s);

    const auto start = std::chrono::steady_clock::now();
    const TokenApiResult result = call(*client);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(result.transport, Transport::Timeout);
    EXPECT_NE(result.detail.find("waiting for the answer"), std::string::npos) << result.detail;
    EXPECT_GE(elapsed, 900ms);
    EXPECT_LT(elapsed, 2500ms);
    EXPECT_EQ(server.requests, 1);
}

TEST_F(TokenApiClientTest, ARefusedConnectionIsConnectFailed) {
    uint16_t port = 0;
    {
        TestServer closed(base_.get(), nullptr);  // bound, then closed again: nothing listens
        port = closed.port();
    }
    auto client = makeClient(httpsUrl("update.test", port));

    const TokenApiResult result = call(*client);
    EXPECT_EQ(result.transport, Transport::ConnectFailed);
    EXPECT_NE(result.detail.find("refused"), std::string::npos) << result.detail;
}

TEST_F(TokenApiClientTest, TheNextAddressIsTriedWhenOneRefuses) {
    auto ctx = pki().serverContext("DNS:two.test");
    TestServer server(base_.get(), ctx.get());
    auto client = makeClient(httpsUrl("two.test", server.port()));

    const TokenApiResult result = call(*client);
    EXPECT_EQ(result.code, compat::TokenApiCode::UpOk) << result.detail;
}

TEST_F(TokenApiClientTest, ANameThatDoesNotResolveIsDnsFailed) {
    auto client = makeClient("https://nx.test/");

    const TokenApiResult result = call(*client);
    EXPECT_EQ(result.transport, Transport::DnsFailed);
    EXPECT_NE(result.detail.find("nx.test"), std::string::npos) << result.detail;
    EXPECT_GE(dns_->queries(), 1u);
}

TEST_F(TokenApiClientTest, DestroyingTheClientWithACallInFlightDoesNotCallBack) {
    auto ctx = pki().serverContext("DNS:update.test");
    TestServer server(base_.get(), ctx.get());
    server.answer(200, "", TestServer::Mode::Silent);
    auto client = makeClient(httpsUrl("update.test", server.port()));

    bool called = false;
    client->update(kToken, std::nullopt, [&](const TokenApiResult&) { called = true; });
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return server.requests == 1; }));
    client.reset();
    test::runUntil(
        base_.get(), [] { return false; }, 200ms);
    EXPECT_FALSE(called);
}

TEST_F(TokenApiClientTest, DestroyingTheClientWhileResolvingDoesNotCallBack) {
    auto client = makeClient("https://slow.test/");

    bool called = false;
    client->update(kToken, std::nullopt, [&](const TokenApiResult&) { called = true; });
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return dns_->queries() >= 1; }));
    client.reset();  // ares_destroy calls back with ARES_EDESTRUCTION
    test::runUntil(
        base_.get(), [] { return false; }, 200ms);
    EXPECT_FALSE(called);
}

TEST_F(TokenApiClientTest, TheClientMayBeDestroyedFromInsideDone) {
    auto client = makeClient("https://nx.test/");

    bool called = false;
    client->update(kToken, std::nullopt, [&](const TokenApiResult&) {
        called = true;
        client.reset();
    });
    client->update(kToken, std::nullopt, [&](const TokenApiResult&) { ADD_FAILURE(); });
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return called; }));
    test::runUntil(
        base_.get(), [] { return false; }, 200ms);
    EXPECT_FALSE(client);
}

TEST_F(TokenApiClientTest, DoneNeverRunsInsideUpdateEvenWhenTheConnectFailsAtOnce) {
    uint16_t port = 0;
    {
        TestServer closed(base_.get(), nullptr);
        port = closed.port();
    }
    auto client = makeClient("http://127.0.0.1:" + std::to_string(port) + "/");
    EXPECT_EQ(call(*client).transport, Transport::ConnectFailed);  // call() checks the order
}

TEST_F(TokenApiClientTest, PlainHttpWorks) {
    TestServer server(base_.get(), nullptr);
    server.answer(200, "NC\n");
    auto client = makeClient("http://update.test:" + std::to_string(server.port()) + "/");

    const TokenApiResult result = call(*client, net::IpAddress::parse("198.51.100.1"));
    EXPECT_EQ(result.transport, Transport::Ok) << result.detail;
    EXPECT_EQ(result.code, compat::TokenApiCode::Nc);
    EXPECT_EQ(server.uri, "/" + kToken + "?ip=198.51.100.1");
}

TEST_F(TokenApiClientTest, TheTokenNeverAppearsWholeInTheLog) {
    auto ctx = pki().serverContext("DNS:update.test");
    TestServer server(base_.get(), ctx.get());
    server.answer(404, "no such page: /" + kToken);
    auto client = makeClient(httpsUrl("update.test", server.port()));

    const log::Level saved = log::level();
    log::setLevel(log::Level::Debug);
    testing::internal::CaptureStderr();
    call(*client, net::IpAddress::parse("203.0.113.7"));
    const std::string logged = testing::internal::GetCapturedStderr();
    log::setLevel(saved);
    EXPECT_EQ(logged.find(kToken), std::string::npos) << logged;
    EXPECT_NE(logged.find("1234\u2026"), std::string::npos) << logged;
}

TEST_F(TokenApiClientTest, CreateRefusesABadCaFileOrUrl) {
    config::DynamoConfig config;
    std::string error;
    config.caFile = "/nonexistent/ca.pem";
    EXPECT_FALSE(TokenApiClient::create(base_.get(), config, {dns_->address()}, &error));
    EXPECT_NE(error.find("/nonexistent/ca.pem"), std::string::npos) << error;

    config.caFile.reset();
    for (const char* url :
         {"ftp://x/", "https://", "https://user@host/", "https://h:0/", "https://h:99999/",
          "https://h/?a=b", "https://[::1/", "https://::1/"}) {
        config.updateUrl = url;
        error.clear();
        EXPECT_FALSE(TokenApiClient::create(base_.get(), config, {dns_->address()}, &error)) << url;
        EXPECT_FALSE(error.empty()) << url;
    }
}

}  // namespace
}  // namespace dynamo::gateway
