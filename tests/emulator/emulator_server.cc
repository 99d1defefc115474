#include "tests/emulator/emulator_server.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <utility>

#include "net/log.h"

namespace dynamo::emulator {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

std::string uriDecode(std::string_view text, bool plusIsSpace) {
    const std::string input(text);
    size_t size = 0;
    char* decoded = evhttp_uridecode(input.c_str(), plusIsSpace ? 1 : 0, &size);
    if (decoded == nullptr)
        return {};
    std::string result(decoded, size);
    std::free(decoded);
    return result;
}

// application/x-www-form-urlencoded, leniently: a key without '=' has an empty value (evhttp's
// own parser rejects the whole query for that, and devices do send such queries).
Params parseForm(std::string_view text) {
    Params params;
    while (!text.empty()) {
        const size_t amp = text.find('&');
        const std::string_view piece = text.substr(0, amp);
        text = amp == std::string_view::npos ? std::string_view() : text.substr(amp + 1);
        if (piece.empty())
            continue;
        const size_t eq = piece.find('=');
        const std::string_view key = piece.substr(0, eq);
        const std::string_view value =
            eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1);
        params.emplace_back(uriDecode(key, true), uriDecode(value, true));
    }
    return params;
}

std::optional<std::string> findParam(const Params& params, std::string_view key) {
    for (const auto& [name, value] : params) {
        if (name == key)
            return value;
    }
    return std::nullopt;
}

std::string bodyText(evhttp_request* request) {
    evbuffer* input = evhttp_request_get_input_buffer(request);
    std::string body(evbuffer_get_length(input), '\0');
    if (!body.empty())
        evbuffer_copyout(input, body.data(), body.size());
    return body;
}

bool isFormBody(evhttp_request* request) {
    const char* type =
        evhttp_find_header(evhttp_request_get_input_headers(request), "Content-Type");
    if (type == nullptr)
        return true;
    const std::string_view form = "application/x-www-form-urlencoded";
    std::string_view value(type);
    if (value.size() < form.size())
        return false;
    for (size_t i = 0; i < form.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(value[i])) != form[i])
            return false;
    }
    return true;
}

// Query parameters, then (for a form POST) body parameters: the first `ip` found wins.
Params requestParams(evhttp_request* request) {
    const char* query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(request));
    Params params = parseForm(query ? query : "");
    if (evhttp_request_get_command(request) == EVHTTP_REQ_POST && isFormBody(request)) {
        Params body = parseForm(bodyText(request));
        params.insert(params.end(), body.begin(), body.end());
    }
    return params;
}

const char* methodName(evhttp_request* request) {
    switch (evhttp_request_get_command(request)) {
        case EVHTTP_REQ_GET:
            return "GET";
        case EVHTTP_REQ_POST:
            return "POST";
        case EVHTTP_REQ_HEAD:
            return "HEAD";
        default:
            return "OTHER";
    }
}

void reply(evhttp_request* request, int status, const char* reason, std::string_view body,
           const char* contentType = "text/plain") {
    evkeyvalq* headers = evhttp_request_get_output_headers(request);
    evhttp_add_header(headers, "Content-Type", contentType);
    evbuffer* buffer = evbuffer_new();
    if (buffer == nullptr) {
        evhttp_send_error(request, HTTP_INTERNAL, nullptr);
        return;
    }
    evbuffer_add(buffer, body.data(), body.size());
    evhttp_send_reply(request, status, reason, buffer);
    evbuffer_free(buffer);
}

void replyJson(evhttp_request* request, std::string_view json) {
    reply(request, HTTP_OK, "OK", json, "application/json");
}

// JSON string literal; bytes >= 0x80 are escaped one by one (as Latin-1), so the output is
// valid JSON whatever bytes a client sent in its User-Agent or path.
void appendJsonString(std::string& out, std::string_view text) {
    out.push_back('"');
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (byte < 0x20 || byte >= 0x7f) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(byte));
            out += escaped;
        } else {
            out.push_back(c);
        }
    }
    out.push_back('"');
}

std::string jsonNumber(double value) {
    char text[64];
    std::snprintf(text, sizeof text, "%.3f", value);
    return text;
}

std::optional<double> parseNumber(std::string_view text) {
    double value = 0;
    const char* end = text.data() + text.size();
    auto [ptr, error] = std::from_chars(text.data(), end, value);
    if (text.empty() || error != std::errc() || ptr != end || !std::isfinite(value)) {
        return std::nullopt;
    }
    return value;
}

std::string sslError() {
    const unsigned long code = ERR_get_error();
    if (code == 0)
        return "unknown TLS error";
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    return text;
}

timeval toTimeval(double seconds) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(seconds);
    tv.tv_usec = static_cast<suseconds_t>((seconds - static_cast<double>(tv.tv_sec)) * 1e6);
    return tv;
}

}  // namespace

EmulatorServer::EmulatorServer(event_base* base, TokenService& service)
    : base_(base), service_(service) {}

EmulatorServer::~EmulatorServer() {
    // Hand back what is still waiting: a detached request is freed by evhttp_send_reply
    // itself, an attached one with its connection by evhttp_free (see the header).
    for (auto& pending : pending_) {
        pending.timer.reset();
        reply(pending.request, HTTP_OK, "OK", pending.body);
    }
    pending_.clear();
    http_.reset();
}

std::string EmulatorServer::start(const ServerOptions& options) {
    http_.reset(evhttp_new(base_));
    if (!http_)
        return "cannot create the HTTP server";
    if (!options.tlsCert.empty()) {
        sslCtx_.reset(SSL_CTX_new(TLS_server_method()));
        if (!sslCtx_)
            return "TLS: " + sslError();
        SSL_CTX_set_min_proto_version(sslCtx_.get(), TLS1_2_VERSION);
        if (SSL_CTX_use_certificate_chain_file(sslCtx_.get(), options.tlsCert.c_str()) != 1) {
            return options.tlsCert + ": " + sslError();
        }
        if (SSL_CTX_use_PrivateKey_file(sslCtx_.get(), options.tlsKey.c_str(), SSL_FILETYPE_PEM) !=
            1) {
            return options.tlsKey + ": " + sslError();
        }
        if (SSL_CTX_check_private_key(sslCtx_.get()) != 1) {
            return options.tlsKey + ": does not match " + options.tlsCert;
        }
        evhttp_set_bevcb(http_.get(), &EmulatorServer::makeTlsBufferEvent, this);
    }
    evhttp_set_allowed_methods(http_.get(), EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_max_headers_size(http_.get(), static_cast<ev_ssize_t>(options.maxHeaderBytes));
    evhttp_set_max_body_size(http_.get(), static_cast<ev_ssize_t>(options.maxBodyBytes));
    evhttp_set_timeout(http_.get(), options.timeoutSeconds);
    evhttp_set_gencb(http_.get(), &EmulatorServer::onRequest, this);

    const std::string host = options.listen.ip().toString();
    evhttp_bound_socket* socket =
        evhttp_bind_socket_with_handle(http_.get(), host.c_str(), options.listen.port());
    if (socket == nullptr)
        return "cannot listen on " + options.listen.toString();
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    if (getsockname(evhttp_bound_socket_get_fd(socket), reinterpret_cast<sockaddr*>(&storage),
                    &length) != 0) {
        return "getsockname failed";
    }
    auto bound = net::SocketAddress::fromSockaddr(reinterpret_cast<sockaddr*>(&storage), length);
    if (!bound)
        return "getsockname: unexpected address family";
    bound_ = *bound;
    return "";
}

bufferevent* EmulatorServer::makeTlsBufferEvent(event_base* base, void* arg) {
    auto* self = static_cast<EmulatorServer*>(arg);
    net::SslPtr ssl(SSL_new(self->sslCtx_.get()));
    if (!ssl)
        return nullptr;
    // With BEV_OPT_CLOSE_ON_FREE the bufferevent owns the SSL and frees it with itself.
    bufferevent* bev = bufferevent_openssl_socket_new(
        base, -1, ssl.get(), BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (bev == nullptr)
        return nullptr;
    ssl.release();
    // Clients that close without close_notify (curl, Python) are not an error here.
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

double EmulatorServer::now() const {
    const auto wall = std::chrono::system_clock::now().time_since_epoch();
    return std::chrono::duration<double>(wall).count() + clockOffset_;
}

void EmulatorServer::onRequest(evhttp_request* request, void* arg) {
    auto* self = static_cast<EmulatorServer*>(arg);
    char* peerHost = nullptr;
    ev_uint16_t peerPort = 0;
    evhttp_connection_get_peer(evhttp_request_get_connection(request), &peerHost, &peerPort);
    const net::IpAddress source =
        net::IpAddress::parse(peerHost ? peerHost : "").value_or(net::IpAddress()).unmapped();
    const std::string sourceText = net::SocketAddress(source, peerPort).toString();

    const char* rawPath = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(request));
    const std::string path = rawPath ? rawPath : "";
    if (path.starts_with("/_control/")) {
        if (!source.isLoopback()) {
            reply(request, 403, "Forbidden", "control API: loopback only\n");
            return;
        }
        self->handleControl(request, path);
        return;
    }
    self->handleApi(request, source, sourceText);
}

void EmulatorServer::handleApi(evhttp_request* request, const net::IpAddress& source,
                               const std::string& sourceText) {
    const char* rawPath = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(request));
    const std::string path = rawPath ? rawPath : "";
    const std::string token = uriDecode(path.empty() ? path : path.substr(1), false);
    const Params params = requestParams(request);

    Call call;
    call.token = token;
    call.ip = findParam(params, "ip");
    call.source = source;
    call.now = now();
    const Outcome outcome = service_.handle(call);

    CallRecord record;
    record.time = call.now;
    record.token = token;
    record.method = methodName(request);
    record.path = path;
    record.ip = call.ip;
    record.source = sourceText;
    const char* agent = evhttp_find_header(evhttp_request_get_input_headers(request), "User-Agent");
    record.userAgent = agent ? agent : "";
    record.delay = outcome.delaySeconds;
    switch (outcome.action) {
        case Action::Answer:
            record.status = HTTP_OK;
            record.code = outcome.code;
            break;
        case Action::Garbage:
            record.status = HTTP_OK;
            record.code = outcome.code;
            break;
        case Action::Http500:
            record.status = HTTP_INTERNAL;
            record.code = "HTTP 500";
            break;
        case Action::Drop:
            record.status = 0;
            record.code = "DROP";
            break;
    }
    DLOG(Info) << record.method << " /" << log::maskSecret(token)
               << " ip=" << record.ip.value_or("-") << " from " << sourceText << " -> "
               << record.code
               << (outcome.delaySeconds > 0
                       ? " (delayed " + jsonNumber(outcome.delaySeconds) + " s)"
                       : "");
    calls_.push_back(std::move(record));

    switch (outcome.action) {
        case Action::Answer:
        case Action::Garbage:
            if (outcome.delaySeconds > 0) {
                sendLater(request, outcome.code, outcome.delaySeconds);
            } else {
                reply(request, HTTP_OK, "OK", outcome.code);
            }
            return;
        case Action::Http500:
            reply(request, HTTP_INTERNAL, "Internal Server Error", "internal error\n");
            return;
        case Action::Drop: {
            // Shut the socket down under libevent's feet, then hand the request back with an
            // answer that can never be written: the write fails (EPIPE; SIGPIPE is ignored by
            // main), and libevent frees connection and request on its own error path. Freeing
            // the connection from inside its own request callback would be a use-after-free.
            bufferevent* bev =
                evhttp_connection_get_bufferevent(evhttp_request_get_connection(request));
            if (bev != nullptr && bufferevent_getfd(bev) >= 0) {
                ::shutdown(bufferevent_getfd(bev), SHUT_RDWR);
            }
            reply(request, HTTP_OK, "OK", "");
            return;
        }
    }
}

void EmulatorServer::sendLater(evhttp_request* request, std::string body, double seconds) {
    auto& pending = pending_.emplace_back();
    pending.server = this;
    pending.request = request;
    pending.body = std::move(body);
    pending.self = std::prev(pending_.end());
    pending.timer.reset(evtimer_new(base_, &EmulatorServer::onSlowTimer, &pending));
    const timeval delay = toTimeval(seconds);
    if (!pending.timer || evtimer_add(pending.timer.get(), &delay) != 0) {
        reply(request, HTTP_OK, "OK", pending.body);
        pending_.erase(pending.self);
    }
}

void EmulatorServer::onSlowTimer(evutil_socket_t /*fd*/, short /*events*/, void* arg) {
    auto* pending = static_cast<PendingReply*>(arg);
    reply(pending->request, HTTP_OK, "OK", pending->body);
    pending->server->pending_.erase(
        pending->self);  // frees the timer we are running in: libevent allows it
}

void EmulatorServer::handleControl(evhttp_request* request, const std::string& path) {
    const bool isPost = evhttp_request_get_command(request) == EVHTTP_REQ_POST;
    auto wrongMethod = [&](const char* allowed) {
        evhttp_add_header(evhttp_request_get_output_headers(request), "Allow", allowed);
        reply(request, 405, "Method Not Allowed", "method not allowed\n");
    };
    auto badRequest = [&](const std::string& problem) {
        reply(request, HTTP_BADREQUEST, "Bad Request", problem + "\n");
    };
    const Params params = requestParams(request);

    if (path == "/_control/calls") {
        if (isPost)
            return wrongMethod("GET");
        return replyJson(request, callsJson());
    }
    if (path == "/_control/tokens") {
        if (isPost)
            return wrongMethod("GET");
        return replyJson(request, tokensJson());
    }
    if (path == "/_control/token") {
        if (!isPost)
            return wrongMethod("POST");
        const auto token = findParam(params, "token");
        const auto modeText = findParam(params, "mode");
        const auto address = findParam(params, "address");
        if (!token || token->size() != kTokenLength) {
            return badRequest("token: must be 42 characters");
        }
        std::optional<ModeSpec> mode;
        if (modeText) {
            mode = parseMode(*modeText);
            if (!mode)
                return badRequest("mode: unknown \"" + *modeText + "\"");
        }
        if (address && !isDottedIpv4(*address))
            return badRequest("address: not IPv4");
        if (mode || !service_.tokens().contains(*token)) {
            service_.setToken(*token, mode.value_or(ModeSpec{}));
        }
        if (address)
            service_.setAddress(*token, *address);
        return reply(request, HTTP_OK, "OK", "ok\n");
    }
    if (path == "/_control/reset") {
        if (!isPost)
            return wrongMethod("POST");
        calls_.clear();
        service_.clearWindows();
        if (findParam(params, "addresses").value_or("0") != "0")
            service_.clearAddresses();
        return reply(request, HTTP_OK, "OK", "ok\n");
    }
    if (path == "/_control/clock") {
        if (!isPost)
            return wrongMethod("POST");
        const auto advance = parseNumber(findParam(params, "advance").value_or(""));
        if (!advance)
            return badRequest("advance: expected a number of seconds");
        clockOffset_ += *advance;
        return replyJson(request, "{\"offset\": " + jsonNumber(clockOffset_) + "}");
    }
    reply(request, HTTP_NOTFOUND, "Not Found", "unknown control path\n");
}

std::string EmulatorServer::callsJson() const {
    std::string out = "[";
    for (const auto& call : calls_) {
        if (out.size() > 1)
            out += ",";
        out += "\n {\"time\": " + jsonNumber(call.time) + ", \"token\": ";
        appendJsonString(out, call.token);
        out += ", \"method\": ";
        appendJsonString(out, call.method);
        out += ", \"path\": ";
        appendJsonString(out, call.path);
        out += ", \"ip\": ";
        if (call.ip) {
            appendJsonString(out, *call.ip);
        } else {
            out += "null";
        }
        out += ", \"source\": ";
        appendJsonString(out, call.source);
        out += ", \"status\": " + std::to_string(call.status) + ", \"code\": ";
        appendJsonString(out, call.code);
        out += ", \"delay\": " + jsonNumber(call.delay) + ", \"user_agent\": ";
        appendJsonString(out, call.userAgent);
        out += ", \"tls\": ";
        out += sslCtx_ ? "true" : "false";
        out += "}";
    }
    out += "\n]\n";
    return out;
}

std::string EmulatorServer::tokensJson() const {
    std::string out = "{";
    for (const auto& [token, state] : service_.tokens()) {
        if (out.size() > 1)
            out += ",";
        out += "\n ";
        appendJsonString(out, token);
        out += ": {\"mode\": ";
        appendJsonString(out, modeName(state.mode));
        out += ", \"address\": ";
        if (state.address) {
            appendJsonString(out, *state.address);
        } else {
            out += "null";
        }
        out += ", \"last_call\": ";
        out += state.lastCall ? jsonNumber(*state.lastCall) : "null";
        out += "}";
    }
    out += "\n}\n";
    return out;
}

}  // namespace dynamo::emulator
