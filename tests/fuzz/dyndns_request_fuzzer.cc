// Fuzzes the DynDNS request path of compat/: the input is an HTTP request as a device writes it
// ("GET /nic/update?hostname=... HTTP/1.0", headers, blank line, body), split here the way the
// listener would, then parsed, authenticated, checked and answered. Never crashes; the
// invariants below abort so the fuzzer reports a broken one.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "compat/credentials.h"
#include "compat/dyndns_reply.h"
#include "compat/form.h"
#include "compat/hostname.h"
#include "compat/http_request.h"
#include "compat/publish_address.h"
#include "compat/token_api.h"
#include "compat/update_request.h"
#include "fuzz_check.h"
#include "net/ascii.h"

namespace {

using namespace dynamo;

std::string_view nextLine(std::string_view& text) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    if (!line.empty() && line.back() == '\r')
        line.remove_suffix(1);
    return line;
}

compat::HttpRequest splitRequest(std::string_view text) {
    compat::HttpRequest request;
    std::string_view line = nextLine(text);
    const size_t firstSpace = line.find(' ');
    request.method = std::string(line.substr(0, firstSpace));
    std::string_view target =
        firstSpace == std::string_view::npos ? std::string_view{} : line.substr(firstSpace + 1);
    target = target.substr(0, target.find(' '));
    const size_t question = target.find('?');
    request.path = std::string(target.substr(0, question));
    if (question != std::string_view::npos)
        request.query = std::string(target.substr(question + 1));

    while (!text.empty()) {
        const std::string_view header = nextLine(text);
        if (header.empty())
            break;
        const size_t colon = header.find(':');
        if (colon == std::string_view::npos)
            continue;
        const std::string_view name = header.substr(0, colon);
        const std::string_view value = net::trimWhitespace(header.substr(colon + 1));
        if (net::equalsIgnoreCase(name, "authorization"))
            request.authorization = value;
        if (net::equalsIgnoreCase(name, "content-type"))
            request.contentType = value;
    }
    request.body = std::string(text);
    return request;
}

const std::vector<config::Account>& accounts() {
    static const std::vector<config::Account> kAccounts{
        {"device-user", "device-pass", "1234567890ABCDEFGHIJKLMNOPQRSTUVWXYZ123456", {}},
        {"camera",
         "s3cret:with:colons",
         "ABCDEFGHIJKLMNOPQRSTUVWXYZ1234567890abcdef",
         {"cam.example.org", "nas.example.org"}},
    };
    return kAccounts;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const compat::HttpRequest request = splitRequest(text);

    const compat::ParsedUpdate parsed = compat::parseUpdate(request);
    if (parsed.status == compat::ParsedUpdate::Status::Ok) {
        const compat::UpdateRequest& update = parsed.request;
        FUZZ_CHECK(update.hostnames.size() <= compat::kMaxHostnames + 1);
        for (const config::Account& account : accounts()) {
            const compat::HostnameCheck check = compat::checkHostnames(update.hostnames, account);
            if (check.request == compat::HostnameCheck::Request::Ok) {
                FUZZ_CHECK(check.hosts.size() == update.hostnames.size());
            }
            const auto published = compat::addressToPublish(update.myip);
            FUZZ_CHECK(!published || compat::isPublicIpv4(*published));
            const auto ip = compat::replyAddress(published, std::nullopt, update.myip);
            for (const auto outcome :
                 {compat::UpdateOutcome::Updated, compat::UpdateOutcome::Failed}) {
                const compat::DyndnsReply reply = check.anyAccepted()
                                                      ? compat::replyFor(check, outcome, ip)
                                                      : compat::replyFor(check);
                FUZZ_CHECK(reply.httpStatus == 200 && !reply.body.empty());
                FUZZ_CHECK(reply.body.find("badauth") == std::string::npos);
                FUZZ_CHECK(reply.body.back() != '\n');
            }
            (void)compat::buildUpdateUrl("https://update01-dynamo.kisolabs.net/", account.token,
                                         published);
        }
        if (update.credentials)
            (void)compat::findAccount(accounts(), *update.credentials);
    }

    // The pieces on their own, with the raw bytes: a header value, a token-API body, a form.
    (void)compat::parseBasicAuthorization(text);
    (void)compat::parseTokenApiBody(text);
    compat::Form form;
    form.parse(text);
    FUZZ_CHECK(form.params().size() <= compat::Form::kMaxParams);
    (void)compat::parseMyIp(text);
    return 0;
}
