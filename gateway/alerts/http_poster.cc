#include "gateway/alerts/http_poster.h"

namespace dynamo::gateway {

std::unique_ptr<HttpPoster> HttpPoster::create(event_base* base,
                                               const std::optional<std::string>& caFile,
                                               std::vector<net::SocketAddress> dnsServers,
                                               std::chrono::seconds timeout, std::string* error) {
    HttpClient::Options options;
    options.purpose = "alerts";
    options.caFile = caFile;
    options.dnsServers = std::move(dnsServers);
    options.timeout = timeout;
    auto http = HttpClient::create(base, std::move(options), error);
    if (!http)
        return nullptr;
    return std::unique_ptr<HttpPoster>(new HttpPoster(std::move(http)));
}

void HttpPoster::post(const std::string& url, const Headers& headers,
                      const std::string& contentType, const std::string& body, Done done) {
    HttpRequest request;
    request.method = HttpRequest::Method::Post;
    request.url = url;
    request.headers = headers;
    request.contentType = contentType;
    request.body = body;
    http_->request(request, [done = std::move(done)](const HttpResult& http) {
        PostResult result;
        if (http.answered()) {
            result.httpStatus = http.status;
            result.delivered = http.status >= 200 && http.status < 300;
            result.detail = "HTTP " + std::to_string(http.status);
        } else {
            result.detail = http.detail;
        }
        if (done)
            done(result);  // may destroy the poster
    });
}

}  // namespace dynamo::gateway
