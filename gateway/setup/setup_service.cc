#include "gateway/setup/setup_service.h"

#include <algorithm>

#include "gateway/setup/admin_password.h"
#include "gateway/setup/config_file.h"
#include "gateway/setup/config_text.h"
#include "gateway/setup/setup_page.h"
#include "net/log.h"

namespace dynamo::gateway {
namespace {

using Form = std::map<std::string, std::string, std::less<>>;

std::string formValue(const Form& form, std::string_view name) {
    const auto it = form.find(name);
    return it == form.end() ? std::string() : it->second;
}

// "a.example b.example, c.example" → its words.
std::vector<std::string> words(std::string_view text) {
    std::vector<std::string> out;
    std::string word;
    for (const char c : text) {
        if (c == ' ' || c == ',' || c == '\n' || c == '\r' || c == '\t') {
            if (!word.empty())
                out.push_back(std::move(word));
            word.clear();
        } else {
            word += c;
        }
    }
    if (!word.empty())
        out.push_back(std::move(word));
    return out;
}

std::string sessionId(const HttpExchange& exchange) {
    return cookieValue(exchange.request().cookie, kSetupCookieName);
}

HttpResponse htmlResponse(int status, std::string body) {
    return {status,
            std::string(kSetupContentType),
            std::move(body),
            // The page holds a CSRF token and account names: not for any cache, not in a frame.
            {{"Cache-Control", "no-store"},
             {"X-Frame-Options", "DENY"},
             {"Content-Security-Policy",
              "default-src 'none'; style-src 'unsafe-inline'; "
              "form-action 'self'; frame-ancestors 'none'"}}};
}

}  // namespace

SetupService::SetupService(std::string configPath, Hooks hooks, SetupSessions::Random random)
    : configPath_(std::move(configPath)), hooks_(std::move(hooks)), sessions_(std::move(random)) {}

bool SetupService::handle(const std::shared_ptr<HttpExchange>& exchange) {
    const auto& request = exchange->request();
    const std::string& path = request.path;
    if (path != "/setup" && !path.starts_with("/setup/"))
        return false;
    const config::Config& running = hooks_.config();
    if (!running.gateway.adminPasswordHash) {
        exchange->reply(htmlResponse(200, renderSetupWithoutPassword(configPath_)));
        return true;
    }
    const auto now = std::chrono::steady_clock::now();
    const SetupSessions::Session* session = sessions_.find(sessionId(*exchange), now);
    const bool post = request.method == "POST";
    if (!post) {
        if (path != "/setup" && path != "/setup/") {
            exchange->reply({404, "text/plain", "not found\n", {}});
        } else if (session != nullptr && session->loggedIn) {
            servePage(exchange, *session, {}, 200);
        } else {
            serveLogin(exchange, "", 200);
        }
        return true;
    }
    // Every form carries its session's token: a POST without both is refused, whatever it is.
    const Form form = parseForm(request.body);
    if (session == nullptr || !constantTimeEquals(formValue(form, "csrf"), session->csrf)) {
        exchange->reply(
            {403, "text/plain", "forbidden: the form has expired, open /setup again\n", {}});
        return true;
    }
    if (path == "/setup/login") {
        login(exchange);
        return true;
    }
    if (!session->loggedIn) {
        exchange->reply({403, "text/plain", "forbidden: log in first\n", {}});
        return true;
    }
    Outcome outcome;
    if (path == "/setup/logout") {
        sessions_.close(session->id);
        exchange->reply({303,
                         "text/plain",
                         "logged out\n",
                         {{"Location", "/setup"},
                          {"Set-Cookie", sessionCookie("", SetupSessions::kLifetime)}}});
        return true;
    }
    if (path == "/setup/account") {
        outcome = saveAccount(form);
    } else if (path == "/setup/upstreams") {
        outcome = saveUpstreams(form);
    } else {
        exchange->reply({404, "text/plain", "not found\n", {}});
        return true;
    }
    servePage(exchange, *session, outcome, outcome.errors.empty() ? 200 : 400);
    return true;
}

void SetupService::serveLogin(const std::shared_ptr<HttpExchange>& exchange,
                              const std::string& message, int status) {
    const auto& session = sessions_.open(false, std::chrono::steady_clock::now());
    if (session.id.empty() || session.csrf.empty()) {
        exchange->reply({500, "text/plain", "no random numbers\n", {}});
        return;
    }
    auto response = htmlResponse(status, renderSetupLogin(session.csrf, message));
    response.headers.emplace_back("Set-Cookie",
                                  sessionCookie(session.id, SetupSessions::kLifetime));
    exchange->reply(response);
}

void SetupService::login(const std::shared_ptr<HttpExchange>& exchange) {
    const auto& request = exchange->request();
    const auto now = std::chrono::steady_clock::now();
    // As for update logins (docs/updates.md#throttle): a client on hold is not checked at all.
    if (const auto hold = throttle_.holding(request.client, now)) {
        throttle_.failed(request.client, now);
        serveLogin(exchange,
                   "Too many wrong passwords: wait " +
                       std::to_string(std::max<int64_t>(1, hold->count() / 1000)) +
                       " s and try again.",
                   429);
        return;
    }
    const Form form = parseForm(request.body);
    const config::Config& running = hooks_.config();
    if (!verifyAdminPassword(formValue(form, "password"), *running.gateway.adminPasswordHash)) {
        const auto hold = throttle_.failed(request.client, now);
        DLOG(Info) << "setup: wrong administrator password from " << request.client.toString();
        serveLogin(exchange,
                   hold.count() > 0
                       ? "Wrong password. Wait " +
                             std::to_string(std::max<int64_t>(1, hold.count() / 1000)) +
                             " s before the next try."
                       : std::string("Wrong password."),
                   403);
        return;
    }
    throttle_.succeeded(request.client, now);
    sessions_.close(sessionId(*exchange));
    // A new id for the logged-in session: an id set before log-in is never promoted.
    const auto& session = sessions_.open(true, now);
    DLOG(Info) << "setup: administrator logged in from " << request.client.toString();
    exchange->reply({303,
                     "text/plain",
                     "logged in\n",
                     {{"Location", "/setup"},
                      {"Set-Cookie", sessionCookie(session.id, SetupSessions::kLifetime)}}});
}

void SetupService::servePage(const std::shared_ptr<HttpExchange>& exchange,
                             const SetupSessions::Session& session, const Outcome& outcome,
                             int status) {
    const config::Config& running = hooks_.config();
    SetupView view;
    view.csrf = session.csrf;
    view.accounts = running.accounts;
    for (const auto& upstream : running.dns.upstreams)
        view.upstreams.push_back(upstream.toString());
    const auto& request = exchange->request();
    view.address = request.local ? request.local->toString() : "this appliance's address";
    view.message = outcome.message;
    view.errors = outcome.errors;
    exchange->reply(htmlResponse(status, renderSetupPage(view)));
}

SetupService::Outcome SetupService::applied(const std::string& what, bool written,
                                            std::vector<std::string> errors) {
    if (!written)
        return {{}, std::move(errors)};
    DLOG(Info) << "setup: " << what << "; reloading " << configPath_;
    if (!hooks_.reload())
        return {{},
                {configPath_ + " was written but the daemon refused to reload it (see the "
                               "log); the previous configuration still runs"}};
    return {what + "; the gateway uses it now.", {}};
}

SetupService::Outcome SetupService::saveAccount(const Form& form) {
    const std::string original = formValue(form, "original");
    const std::string action = formValue(form, "action");
    // The index is looked up in the file being edited, not the running configuration: the two
    // differ when the file was changed without a reload.
    size_t index = 0;
    config::Account account;
    account.username = formValue(form, "username");
    account.password = formValue(form, "password");
    account.token = formValue(form, "token");
    account.hostnames = words(formValue(form, "hostnames"));
    account.ipToken = formValue(form, "ip_token");
    account.names = words(formValue(form, "names"));
    const bool adding = original.empty();
    const bool removing = action == "remove";
    if (adding && removing)
        return {{}, {"nothing to remove"}};
    auto edit = [&](const std::string& text, std::string* error) -> std::optional<std::string> {
        if (adding)
            return appendAccount(text, account, error);
        auto current = config::parse(text, configPath_);
        const auto& accounts = current.config->accounts;
        const auto it = std::find_if(accounts.begin(), accounts.end(),
                                     [&](const auto& a) { return a.username == original; });
        if (it == accounts.end()) {
            *error = "no account '" + original + "' in the file any more";
            return std::nullopt;
        }
        index = static_cast<size_t>(it - accounts.begin());
        if (removing)
            return replaceAccount(text, index, std::nullopt, error);
        // Empty secret fields keep what the file has (the page never shows them).
        if (account.password.empty())
            account.password = it->password;
        if (account.token.empty())
            account.token = it->token;
        return replaceAccount(text, index, account, error);
    };
    // Hostnames and names are lower-cased by parse(): compare what the parser made of them.
    auto check = [&](const config::Config& next, std::vector<std::string>& errors) {
        const auto found =
            std::find_if(next.accounts.begin(), next.accounts.end(),
                         [&](const auto& a) { return a.username == account.username; });
        const bool gone = std::none_of(next.accounts.begin(), next.accounts.end(),
                                       [&](const auto& a) { return a.username == original; });
        const bool ok =
            removing ? gone
                     : found != next.accounts.end() && found->password == account.password &&
                           found->token == account.token && found->ipToken == account.ipToken;
        if (!ok)
            errors.push_back(configPath_ + ": the edit did not take; edit the file by hand");
    };
    const auto result = editConfigFile(configPath_, edit, check);
    const std::string name = removing ? original : account.username;
    return applied("account '" + name + "' " +
                       (removing ? "removed"
                        : adding ? "added"
                                 : "saved"),
                   result.written, result.errors);
}

SetupService::Outcome SetupService::saveUpstreams(const Form& form) {
    const std::vector<std::string> upstreams = words(formValue(form, "upstreams"));
    auto edit = [&](const std::string& text, std::string* error) {
        return setUpstreams(text, upstreams, error);
    };
    auto check = [](const config::Config&, std::vector<std::string>&) {};
    const auto result = editConfigFile(configPath_, edit, check);
    return applied("upstream DNS servers saved", result.written, result.errors);
}

}  // namespace dynamo::gateway
