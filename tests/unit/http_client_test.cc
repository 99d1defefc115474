// The gateway's one HTTP(S) client in process, on loopback in the test's own event loop: what
// its users other than the token API need (a GET of an echo page with a query, a POST with
// header fields and a body, both address families) and how each failure is classified
// (refused kept apart from other connect failures, an answer that is not HTTP, a bad URL).
// Verified TLS is exercised through the token-API client (token_api_client_test.cc), which
// makes every call through this class.

#include "gateway/updates/http_client.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "dns_test_util.h"
#include "event_loop_util.h"
#include "mock_dns_server.h"
#include "version.h"

namespace dynamo::gateway {
namespace {

using dns::test::Bytes;
using dns::test::MessageBuilder;
using namespace std::chrono_literals;

// evhttp on a loopback address, port 0: records the request, answers status/body.
class EchoServer {
  public:
    EchoServer(event_base* base, const char* address) {
        http_.reset(evhttp_new(base));
        evhttp_set_allowed_methods(http_.get(), EVHTTP_REQ_GET | EVHTTP_REQ_POST);
        evhttp_set_gencb(http_.get(), &EchoServer::onRequest, this);
        evhttp_bound_socket* socket = evhttp_bind_socket_with_handle(http_.get(), address, 0);
        EXPECT_NE(socket, nullptr) << address;
        sockaddr_storage bound{};
        socklen_t length = sizeof bound;
        ::getsockname(evhttp_bound_socket_get_fd(socket), reinterpret_cast<sockaddr*>(&bound),
                      &length);
        port_ =
            net::SocketAddress::fromSockaddr(reinterpret_cast<sockaddr*>(&bound), length)->port();
    }

    uint16_t port() const { return port_; }

    int requests = 0;
    std::string method, uri, body;
    std::string host, userAgent, contentType, contentLength, authorization;
    int status = 200;
    std::string answer = "Current IP Address: 192.0.2.7";

  private:
    static void onRequest(evhttp_request* request, void* arg) {
        auto* self = static_cast<EchoServer*>(arg);
        ++self->requests;
        self->method = evhttp_request_get_command(request) == EVHTTP_REQ_POST ? "POST" : "GET";
        self->uri = evhttp_request_get_uri(request);
        evkeyvalq* headers = evhttp_request_get_input_headers(request);
        auto header = [&](const char* name) {
            const char* value = evhttp_find_header(headers, name);
            return std::string(value ? value : "");
        };
        self->host = header("Host");
        self->userAgent = header("User-Agent");
        self->contentType = header("Content-Type");
        self->contentLength = header("Content-Length");
        self->authorization = header("Authorization");
        evbuffer* input = evhttp_request_get_input_buffer(request);
        self->body.assign(reinterpret_cast<const char*>(evbuffer_pullup(input, -1)),
                          evbuffer_get_length(input));
        evbuffer* out = evbuffer_new();
        evbuffer_add(out, self->answer.data(), self->answer.size());
        evhttp_send_reply(request, self->status, "Status", out);
        evbuffer_free(out);
    }

    net::EvHttpPtr http_;
    uint16_t port_ = 0;
};

// Accepts on 127.0.0.1:0 and either writes `reply` and closes, or resets the connection.
class RawServer {
  public:
    RawServer(event_base* base, std::string reply, bool reset)
        : reply_(std::move(reply)), reset_(reset) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        listener_.reset(evconnlistener_new_bind(
            base, &RawServer::onAccept, this, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 8,
            reinterpret_cast<sockaddr*>(&address), sizeof address));
        socklen_t length = sizeof address;
        ::getsockname(evconnlistener_get_fd(listener_.get()), reinterpret_cast<sockaddr*>(&address),
                      &length);
        port_ = ntohs(address.sin_port);
    }
    uint16_t port() const { return port_; }
    int accepted = 0;

  private:
    static void onAccept(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* arg) {
        auto* self = static_cast<RawServer*>(arg);
        ++self->accepted;
        if (self->reset_) {
            linger hard{1, 0};  // close() sends a RST (RFC 9293 §3.6.1 abort)
            ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
        } else {
            [[maybe_unused]] const ssize_t n =
                ::write(fd, self->reply_.data(), self->reply_.size());
        }
        ::close(fd);
    }

    std::string reply_;
    bool reset_;
    net::ListenerPtr listener_;
    uint16_t port_ = 0;
};

// echo.test → 127.0.0.1 and ::1; six.test → ::1 only; two.test → 127.0.0.2 then 127.0.0.3
// (nothing listens on either); everything else NXDOMAIN.
std::optional<Bytes> dnsAnswer(const Bytes& query) {
    const auto parsed = dns::test::parseOrDie(query);
    MessageBuilder builder;
    builder.id(dns::getId(query)).question(parsed.qname(), parsed.qtype);
    const Bytes v6Loopback{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (parsed.qname() == "echo.test" || parsed.qname() == "six.test" ||
        parsed.qname() == "two.test") {
        builder.response();
        if (parsed.qtype == dns::type::A && parsed.qname() == "echo.test")
            builder.answer(dns::type::A, 60, {127, 0, 0, 1});
        if (parsed.qtype == dns::type::A && parsed.qname() == "two.test")
            builder.answer(dns::type::A, 60, {127, 0, 0, 2})
                .answer(dns::type::A, 60, {127, 0, 0, 3});
        if (parsed.qtype == dns::type::AAAA && parsed.qname() != "two.test")
            builder.answer(dns::type::AAAA, 60, v6Loopback);
    } else {
        builder.response(dns::Rcode::NxDomain);
    }
    return builder.build();
}

class HttpClientTest : public ::testing::Test {
  protected:
    void SetUp() override {
        base_.reset(event_base_new());
        dns_ = std::make_unique<test::MockDnsServer>(
            base_.get(), [](const Bytes& query, bool) { return dnsAnswer(query); });
    }

    std::unique_ptr<HttpClient> makeClient(bool ipv4Only = false) {
        HttpClient::Options options;
        options.dnsServers = {dns_->address()};
        options.ipv4Only = ipv4Only;
        options.timeout = 5s;
        std::string error;
        auto client = HttpClient::create(base_.get(), std::move(options), &error);
        EXPECT_TRUE(client) << error;
        return client;
    }

    // One request, run to its end.
    HttpResult run(HttpClient& client, const HttpRequest& request) {
        std::optional<HttpResult> result;
        client.request(request, [&](const HttpResult& r) { result = r; });
        EXPECT_FALSE(result) << "done ran inside request()";
        EXPECT_TRUE(test::runUntil(
            base_.get(), [&] { return result.has_value(); }, 10s));
        return result.value_or(HttpResult{HttpFailure::Timeout, 0, {}, false, "test gave up"});
    }

    HttpResult get(HttpClient& client, const std::string& url) {
        HttpRequest request;
        request.url = url;
        return run(client, request);
    }

    static std::string port(uint16_t value) { return std::to_string(value); }

    net::EventBasePtr base_;
    std::unique_ptr<test::MockDnsServer> dns_;
};

// An HTTP echo page (checkip.dyndns.org's format): plain http://, a query, no fragment sent.
TEST_F(HttpClientTest, GetReturnsStatusAndBody) {
    EchoServer server(base_.get(), "127.0.0.1");
    auto client = makeClient();
    const HttpResult result =
        get(*client, "http://echo.test:" + port(server.port()) + "/ip?format=text#top");
    EXPECT_TRUE(result.answered()) << result.detail;
    EXPECT_EQ(result.status, 200);
    EXPECT_EQ(result.body, "Current IP Address: 192.0.2.7");
    EXPECT_TRUE(result.detail.empty());
    EXPECT_EQ(server.method, "GET");
    EXPECT_EQ(server.uri, "/ip?format=text");
    EXPECT_EQ(server.host, "echo.test:" + port(server.port()));
    EXPECT_EQ(server.userAgent, std::string("dynamo-gateway/") + kVersion);
    EXPECT_EQ(server.contentLength, "") << "a GET without a body has no Content-Length";
    EXPECT_EQ(client->inFlight(), 0u);

    // No path at all asks for "/".
    get(*client, "http://127.0.0.1:" + port(server.port()));
    EXPECT_EQ(server.uri, "/");
}

TEST_F(HttpClientTest, PostCarriesHeaderFieldsAndBody) {
    EchoServer server(base_.get(), "127.0.0.1");
    server.status = 201;
    auto client = makeClient();
    HttpRequest request;
    request.method = HttpRequest::Method::Post;
    // A webhook URL may carry a query (config accepts one; UpdateUrl alone refuses it).
    request.url = "http://echo.test:" + port(server.port()) + "/hook?key=k1";
    request.headers = {{"Authorization", "Bearer s3cret"}};
    request.contentType = "application/json";
    request.body = R"({"event":"test"})";
    const HttpResult result = run(*client, request);
    EXPECT_TRUE(result.answered()) << result.detail;
    EXPECT_EQ(result.status, 201);
    EXPECT_EQ(server.method, "POST");
    EXPECT_EQ(server.uri, "/hook?key=k1");
    EXPECT_EQ(server.contentType, "application/json");
    EXPECT_EQ(server.contentLength, std::to_string(request.body.size()));
    EXPECT_EQ(server.authorization, "Bearer s3cret");
    EXPECT_EQ(server.body, request.body);
    EXPECT_EQ(result.detail.find("s3cret"), std::string::npos);
}

// Both families unless told otherwise: a host with an AAAA record only is reached over IPv6,
// and refused by a client for IPv4 only (the token API) without a connection attempt.
TEST_F(HttpClientTest, IPv6UnlessIpv4Only) {
    EchoServer server(base_.get(), "::1");
    auto both = makeClient();
    const HttpResult result = get(*both, "http://six.test:" + port(server.port()) + "/");
    EXPECT_TRUE(result.answered()) << result.detail;
    EXPECT_EQ(server.requests, 1);

    auto v4 = makeClient(true);
    const HttpResult refused = get(*v4, "http://six.test:" + port(server.port()) + "/");
    EXPECT_EQ(refused.failure, HttpFailure::DnsFailed);
    EXPECT_NE(refused.detail.find("six.test: "), std::string::npos) << refused.detail;
    EXPECT_EQ(server.requests, 1);
}

// Nothing listening (a service down) is told apart from other connect failures.
TEST_F(HttpClientTest, EveryAddressRefusingIsConnectRefused) {
    auto client = makeClient();
    const HttpResult result = get(*client, "http://two.test:9/");
    EXPECT_EQ(result.failure, HttpFailure::ConnectRefused);
    EXPECT_EQ(toString(result.failure), "connect-refused");
    EXPECT_NE(result.detail.find("127.0.0.2:9"), std::string::npos) << result.detail;
    EXPECT_NE(result.detail.find("127.0.0.3:9"), std::string::npos) << result.detail;
    EXPECT_NE(result.detail.find("refused"), std::string::npos) << result.detail;
}

TEST_F(HttpClientTest, AResetIsConnectFailed) {
    RawServer server(base_.get(), "", true);
    auto client = makeClient();
    const HttpResult result = get(*client, "http://127.0.0.1:" + port(server.port()) + "/");
    EXPECT_EQ(server.accepted, 1);
    // The reset reaches the client as an error (ConnectFailed) or, on some kernels, as an end
    // of stream before any answer (BadResponse); never as refused or as an answer.
    EXPECT_TRUE(result.failure == HttpFailure::ConnectFailed ||
                result.failure == HttpFailure::BadResponse)
        << toString(result.failure) << ": " << result.detail;
}

TEST_F(HttpClientTest, AnAnswerThatIsNotHttpIsBadResponse) {
    RawServer server(base_.get(), "SSH-2.0-OpenSSH_9.2\r\n", false);
    auto client = makeClient();
    const HttpResult result = get(*client, "http://127.0.0.1:" + port(server.port()) + "/");
    EXPECT_EQ(result.failure, HttpFailure::BadResponse);
    EXPECT_NE(result.detail.find("bad HTTP answer from 127.0.0.1:"), std::string::npos)
        << result.detail;
}

TEST_F(HttpClientTest, ANameThatDoesNotResolveIsDnsFailed) {
    auto client = makeClient();
    const HttpResult result = get(*client, "http://nx.test/");
    EXPECT_EQ(result.failure, HttpFailure::DnsFailed);
    EXPECT_NE(result.detail.find("nx.test"), std::string::npos) << result.detail;
}

TEST_F(HttpClientTest, ABadUrlFailsThroughDone) {
    auto client = makeClient();
    for (const char* url : {"ftp://x/", "https://user@host/", "http://h/a b", "http://h/?a b"}) {
        const HttpResult result = get(*client, url);
        EXPECT_EQ(result.failure, HttpFailure::BadUrl) << url;
        EXPECT_NE(result.detail.find("bad URL"), std::string::npos) << result.detail;
    }
}

// A client made without TLS or without a resolver (the token API's for an http:// URL or an
// IP literal) says so instead of trying.
TEST_F(HttpClientTest, AClientWithoutTlsOrResolverRefusesWhatItCannotDo) {
    EchoServer server(base_.get(), "127.0.0.1");
    HttpClient::Options options;
    options.tls = false;
    options.resolve = false;
    std::string error;
    auto client = HttpClient::create(base_.get(), options, &error);
    ASSERT_TRUE(client) << error;
    EXPECT_EQ(get(*client, "http://echo.test/").failure, HttpFailure::DnsFailed);
    EXPECT_EQ(get(*client, "https://127.0.0.1:" + port(server.port()) + "/").failure,
              HttpFailure::TlsFailed);
    EXPECT_TRUE(get(*client, "http://127.0.0.1:" + port(server.port()) + "/").answered());
}

TEST_F(HttpClientTest, CreateRefusesAnUnreadableCaFile) {
    HttpClient::Options options;
    options.caFile = "/nonexistent/ca.pem";
    std::string error;
    EXPECT_FALSE(HttpClient::create(base_.get(), options, &error));
    EXPECT_NE(error.find("/nonexistent/ca.pem"), std::string::npos) << error;
}

// The context is made at create() when there is a ca_file (otherwise at the first https://
// request): a readable file that holds no certificate still stops the start, naming the file.
TEST_F(HttpClientTest, CreateRefusesACaFileWithoutACertificate) {
    char path[] = "/tmp/dynamo-http-client-ca-XXXXXX";
    const int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    constexpr std::string_view kText = "not a certificate\n";
    ASSERT_EQ(::write(fd, kText.data(), kText.size()), static_cast<ssize_t>(kText.size()));
    ::close(fd);
    HttpClient::Options options;
    options.caFile = path;
    std::string error;
    EXPECT_FALSE(HttpClient::create(base_.get(), options, &error));
    ::unlink(path);
    EXPECT_NE(error.find(std::string("dynamo.ca_file ") + path), std::string::npos) << error;
}

TEST_F(HttpClientTest, DestroyingTheClientFromInsideDoneCancelsTheRest) {
    auto client = makeClient();
    bool called = false;
    client->request(HttpRequest{HttpRequest::Method::Get, "http://nx.test/", {}, {}, {}},
                    [&](const HttpResult&) {
                        called = true;
                        client.reset();
                    });
    client->request(HttpRequest{HttpRequest::Method::Get, "http://nx.test/", {}, {}, {}},
                    [&](const HttpResult&) { ADD_FAILURE(); });
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return called; }));
    test::runUntil(
        base_.get(), [] { return false; }, 200ms);
    EXPECT_FALSE(client);
}

}  // namespace
}  // namespace dynamo::gateway
