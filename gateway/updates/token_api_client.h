#pragma once
// The real TokenApi (SPEC §6 "Token-API client"): one `GET <update_url><token>[?ip=A.B.C.D]`
// per call, over HTTPS with certificate and host-name verification (system store plus
// dynamo.ca_file), SNI and TLS >= 1.2, or over plain HTTP when update_url says http://.
//
// One call, step by step (each step is bounded by the one dynamo.timeout timer of the call):
//   resolve the host through our own c-ares channel (dns.upstreams; never getaddrinfo, never
//   this daemon's interception) → connect to each IPv4 address in turn until one accepts →
//   TLS handshake (verified) → write the request → read one bounded HTTP/1.1 response.
//
// Why a small HTTP/1.1 client of our own instead of evhttp's: libevent 2.1's evhttp client
// reports a refused connection, a failed TLS handshake and a reset alike (a request callback
// with no status), resolves names itself when given one, and may not be freed from inside its
// own callbacks. We need to tell DnsFailed / ConnectFailed / TlsFailed / Timeout apart, to
// carry the certificate error to the log, and to cancel at any moment. The answer we read is
// one status code, so the client is small: one request, Connection: close, bounded headers and
// body (HttpResponseReader below).
//
// One thread, one event_base, no locks. A call's `done` always runs from its own deferred
// event, never inside update() and never inside a c-ares or bufferevent callback, so `done`
// may destroy the client.

#include <event2/event.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "gateway/updates/token_api.h"
#include "net/handles.h"
#include "net/socket_address.h"

struct ares_addrinfo;

namespace dynamo::net {
class AresChannel;
}

namespace dynamo::gateway {

// The parts of dynamo.update_url a request needs.
struct UpdateUrl {
    bool tls = true;   // https
    std::string host;  // lower-case; an IP literal without brackets
    uint16_t port = 443;
    std::string hostHeader;  // "host", "host:port", "[::1]:port"
    std::string origin;      // "https://host[:port]", what precedes the path in a full URL
    std::optional<net::IpAddress> literal;  // the host when it is an IP address

    // http:// or https://, a host, an optional port, an optional path; no user info, no query,
    // no fragment (the token is appended to the path). nullopt with *error otherwise.
    static std::optional<UpdateUrl> parse(std::string_view url, std::string* error);
};

// One HTTP/1.1 response (RFC 9112), fed as it arrives. Bounded: at most kMaxHeaderBytes of
// status line and header fields (and as much again of chunked framing and trailers) and at
// most kMaxBodyBytes of body. Content-Length, chunked transfer coding and read-until-close
// bodies; interim 1xx responses are skipped.
class HttpResponseReader {
  public:
    static constexpr size_t kMaxHeaderBytes = 16 * 1024;
    static constexpr size_t kMaxBodyBytes = 4 * 1024;

    enum class State { Incomplete, Complete, Error };

    State feed(std::string_view bytes);
    // The peer closed the connection: completes a read-until-close body, an error otherwise
    // (a response cut short).
    State finishAtEof();

    State state() const { return state_; }
    // From the status line on; 0 before.
    int status() const { return status_; }
    const std::string& body() const { return body_; }
    // With State::Error: what was wrong, for the log.
    const std::string& error() const { return error_; }
    // The body was longer than kMaxBodyBytes: status() is meaningful, body() is not the body.
    bool bodyTooLarge() const { return bodyTooLarge_; }

  private:
    enum class Phase {
        Head,
        IdentityBody,
        UntilClose,
        ChunkSize,
        ChunkData,
        ChunkDataEnd,
        Trailers
    };

    State fail(std::string message);
    State complete();
    bool parseHead(std::string_view head);
    bool appendBody(std::string_view bytes);
    // Takes one line (without CR LF) off the front of pending_; false when none is whole yet.
    bool takeLine(std::string* line);

    State state_ = State::Incomplete;
    Phase phase_ = Phase::Head;
    std::string pending_;  // bytes received and not parsed yet
    int status_ = 0;
    uint64_t remaining_ = 0;   // of a Content-Length body or of the current chunk
    size_t framingBytes_ = 0;  // chunk-size lines and trailers, bounded like the head
    std::string body_;
    std::string error_;
    bool bodyTooLarge_ = false;
};

class TokenApiClient final : public TokenApi {
  public:
    // nullptr and *error set for a bad update_url, an unreadable ca_file or upstreams c-ares
    // refuses. dnsServers: where the update host is resolved (config dns.upstreams).
    static std::unique_ptr<TokenApiClient> create(event_base* base,
                                                  const config::DynamoConfig& config,
                                                  std::vector<net::SocketAddress> dnsServers,
                                                  std::string* error);
    // Cancels every call in flight without calling it back.
    ~TokenApiClient() override;
    TokenApiClient(const TokenApiClient&) = delete;
    TokenApiClient& operator=(const TokenApiClient&) = delete;

    void update(const std::string& token, const std::optional<net::IpAddress>& ip,
                Done done) override;

    // Calls started and not yet called back (for the status page and tests).
    size_t inFlight() const { return calls_.size(); }

  private:
    struct Call;
    struct AresQuery;

    TokenApiClient(event_base* base, const config::DynamoConfig& config, UpdateUrl url);

    static void onTimeout(evutil_socket_t fd, short what, void* arg);
    static void onResolved(void* arg, int status, int timeouts, ares_addrinfo* result);
    static void onConnectable(evutil_socket_t fd, short what, void* arg);
    static void onRead(bufferevent* bev, void* arg);
    static void onEvent(bufferevent* bev, short what, void* arg);
    static void onFinish(evutil_socket_t fd, short what, void* arg);

    Call* findCall(uint64_t id);
    void connectNext(Call& call);
    void startSession(Call& call, net::UniqueFd socket);
    void sendRequest(Call& call);
    void readResponse(Call& call);
    void onPeerClosed(Call& call, short what);
    // Ends the call's I/O now and schedules `done` with this result.
    void finish(Call& call, TokenApiResult result);

    event_base* base_;
    std::string updateUrl_;  // as configured, for building URLs and for the log
    UpdateUrl url_;
    std::chrono::seconds timeout_;
    net::SslCtxPtr sslCtx_;                  // null for http://
    std::unique_ptr<net::AresChannel> dns_;  // null when the host is an IP literal
    std::unordered_map<uint64_t, std::unique_ptr<Call>> calls_;
    uint64_t nextId_ = 1;
};

}  // namespace dynamo::gateway
