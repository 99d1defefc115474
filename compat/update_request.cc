#include "compat/update_request.h"

#include "compat/form.h"
#include "compat/hostname.h"
#include "net/ascii.h"

namespace dynamo::compat {
namespace {

enum class Endpoint { None, Update, Legacy };

// A client configured with an HTTP proxy sends the target in absolute form ("GET
// http://members.dyndns.org/nic/update?..."); RFC 9112 §3.2.2: a server must accept it.
std::string_view pathOf(std::string_view target) {
    for (const std::string_view scheme : {"http://", "https://"}) {
        if (target.size() >= scheme.size() &&
            net::equalsIgnoreCase(target.substr(0, scheme.size()), scheme)) {
            const size_t slash = target.find('/', scheme.size());
            return slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
        }
    }
    return target;
}

Endpoint endpointOf(std::string_view path) {
    if (path == "/nic/update" || path == "/v3/update")
        return Endpoint::Update;
    if (path == "/nic/dyndns" || path == "/nic/statdns")
        return Endpoint::Legacy;
    return Endpoint::None;
}

bool isFormBody(std::string_view contentType) {
    contentType = net::trimWhitespace(contentType.substr(0, contentType.find(';')));
    return contentType.empty() ||
           net::equalsIgnoreCase(contentType, "application/x-www-form-urlencoded");
}

}  // namespace

ParsedUpdate parseUpdate(const HttpRequest& request) {
    ParsedUpdate parsed;
    const Endpoint endpoint = endpointOf(pathOf(request.path));
    if (endpoint == Endpoint::None) {
        parsed.status = ParsedUpdate::Status::NotFound;
        return parsed;
    }
    const bool isPost = request.method == "POST";
    if (request.method != "GET" && !isPost) {
        parsed.status = ParsedUpdate::Status::MethodNotAllowed;
        return parsed;
    }

    Form params;
    params.parse(request.query);
    if (isPost && isFormBody(request.contentType))
        params.parse(request.body);

    std::optional<std::string_view> names = params.get("hostname");
    if (endpoint == Endpoint::Legacy) {
        if (const auto hostId = params.get("host_id"))
            names = hostId;
    }
    parsed.status = ParsedUpdate::Status::Ok;
    parsed.request.hostnames = splitHostnames(names.value_or(""));
    parsed.request.myip = parseMyIp(params.get("myip"));
    parsed.request.credentials = findCredentials(request.authorization, params);
    return parsed;
}

}  // namespace dynamo::compat
