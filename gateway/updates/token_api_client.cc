// The connection itself (c-ares, connect, verified TLS, the bounded response) is HttpClient's;
// http_client.cc says why the gateway speaks HTTP/1.1 itself instead of through libevent's
// evhttp client.

#include "gateway/updates/token_api_client.h"

#include <algorithm>

#include "compat/token_api.h"
#include "gateway/updates/http_response_reader.h"
#include "gateway/updates/update_url.h"
#include "net/log.h"

namespace dynamo::gateway {
namespace {

// A short, printable excerpt of what the service sent, for the log. The token is cut out
// first: an error page may echo the request path back.
std::string excerpt(std::string_view body, std::string_view token) {
    std::string text(body);
    if (!token.empty()) {
        const std::string redacted = log::maskSecret(token);
        for (size_t at = text.find(token); at != std::string::npos;
             at = text.find(token, at + redacted.size()))
            text.replace(at, token.size(), redacted);
    }
    return log::printable(text, 80);
}

TokenApiResult::Transport transportFor(HttpFailure failure) {
    switch (failure) {
        case HttpFailure::None:
            return TokenApiResult::Transport::Ok;
        case HttpFailure::DnsFailed:
            return TokenApiResult::Transport::DnsFailed;
        case HttpFailure::TlsFailed:
            return TokenApiResult::Transport::TlsFailed;
        case HttpFailure::Timeout:
            return TokenApiResult::Transport::Timeout;
        // Refused stays in the detail ("Connection refused"); to the scheduler an answer that
        // is not HTTP is a failed exchange like a reset, and the URL was checked by create().
        case HttpFailure::ConnectRefused:
        case HttpFailure::ConnectFailed:
        case HttpFailure::BadResponse:
        case HttpFailure::BadUrl:
            break;
    }
    return TokenApiResult::Transport::ConnectFailed;
}

TokenApiResult resultFor(const HttpResult& http, std::string_view token) {
    TokenApiResult result;
    result.transport = transportFor(http.failure);
    if (!http.answered()) {
        result.detail = http.detail;
        return result;
    }
    result.httpStatus = http.status;
    if (http.bodyTooLarge) {
        result.code = compat::TokenApiCode::Unknown;
        result.detail = "HTTP " + std::to_string(result.httpStatus) + ", body longer than " +
                        std::to_string(HttpResponseReader::kMaxBodyBytes) + " bytes";
    } else if (result.httpStatus == 200) {
        result.code = compat::parseTokenApiBody(http.body);
        if (result.code == compat::TokenApiCode::Unknown)
            result.detail = "unexpected body: \"" + excerpt(http.body, token) + "\"";
    } else {
        result.detail =
            "HTTP " + std::to_string(result.httpStatus) + ": \"" + excerpt(http.body, token) + "\"";
    }
    return result;
}

}  // namespace

std::unique_ptr<TokenApiClient> TokenApiClient::create(event_base* base,
                                                       const config::DynamoConfig& config,
                                                       std::vector<net::SocketAddress> dnsServers,
                                                       std::string* error) {
    auto url = UpdateUrl::parse(config.updateUrl, error);
    if (!url)
        return nullptr;
    HttpClient::Options options;
    options.purpose = "the token API";
    options.tls = url->tls;
    options.resolve = !url->literal;
    options.caFile = config.caFile;
    options.dnsServers = std::move(dnsServers);
    // IPv4 only: without ?ip= the service publishes the address the call comes from, and an
    // A record needs an IPv4 one (docs/updates.md#address-to-publish).
    options.ipv4Only = true;
    options.timeout = config.timeout;
    auto http = HttpClient::create(base, std::move(options), error);
    if (!http)
        return nullptr;
    return std::unique_ptr<TokenApiClient>(new TokenApiClient(config.updateUrl, std::move(http)));
}

TokenApiClient::TokenApiClient(std::string updateUrl, std::unique_ptr<HttpClient> http)
    : updateUrl_(std::move(updateUrl)), http_(std::move(http)) {}

// HttpClient's destructor cancels every call in flight without calling it back.
TokenApiClient::~TokenApiClient() = default;

void TokenApiClient::update(const std::string& token, const std::optional<net::IpAddress>& ip,
                            Done done) {
    HttpRequest request;
    request.url = compat::buildUpdateUrl(updateUrl_, token, ip);
    request.headers = {{"Accept", "text/plain, */*"}};
    std::string logUrl = compat::buildUpdateUrl(updateUrl_, "", ip);
    logUrl.insert(std::min(logUrl.find('?'), logUrl.size()), log::maskSecret(token));
    DLOG(Debug) << "token API: GET " << logUrl;
    http_->request(request, [done = std::move(done), token,
                             logUrl = std::move(logUrl)](const HttpResult& http) {
        const TokenApiResult result = resultFor(http, token);
        DLOG(Debug) << "token API: " << logUrl << ": "
                    << (result.transport == TokenApiResult::Transport::Ok
                            ? "HTTP " + std::to_string(result.httpStatus) + " " +
                                  std::string(compat::toString(result.code))
                            : std::string("failed"))
                    << (result.detail.empty() ? "" : ": ") << result.detail;
        if (done)
            done(result);  // may destroy the client: nothing of it is used after this
    });
}

}  // namespace dynamo::gateway
