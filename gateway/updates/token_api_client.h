#pragma once
// The real TokenApi (docs/updates.md#token-api-client): one `GET <update_url><token>[?ip=A.B.C.D]`
// per call, over HTTPS with certificate and host-name verification (system store plus
// dynamo.ca_file), SNI and TLS >= 1.2, or over plain HTTP when update_url says http://.
//
// One call, step by step (each step is bounded by the one dynamo.timeout timer of the call):
//   resolve the host through our own c-ares channel (dns.upstreams; never getaddrinfo, never
//   this daemon's interception) → connect to each IPv4 address in turn until one accepts →
//   TLS handshake (verified) → write the request → read one bounded HTTP/1.1 response.
//
// A small HTTP/1.1 client of our own (one request, Connection: close, the answer read by
// HttpResponseReader) rather than libevent's evhttp client: token_api_client.cc says why, with
// what was tried.
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
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "gateway/updates/token_api.h"
#include "gateway/updates/update_url.h"
#include "net/handles.h"
#include "net/socket_address.h"

struct ares_addrinfo;

namespace dynamo::net {
class AresChannel;
}

namespace dynamo::gateway {

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
