#include "gateway/setup/setup_page.h"

#include "gateway/status/status_report.h"

namespace dynamo::gateway {
namespace {

constexpr std::string_view kHead = R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dynamo Gateway set-up</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;padding:1em;background:#f4f4f4;color:#222;max-width:48em}
h1{font-size:1.4em}h2{font-size:1.15em;margin:0 0 .5em}
.card{background:#fff;border-radius:8px;padding:1em;margin:0 0 1em;box-shadow:0 1px 3px #0002}
label{display:block;margin:.4em 0 .1em;font-size:.9em}
input,textarea{width:100%;box-sizing:border-box;font-size:1em;padding:.4em}
button{font-size:1em;padding:.5em 1em;margin:.6em .4em 0 0}
.errors{background:#fde;border-left:4px solid #c00}.message{background:#efe;border-left:4px solid #080}
code{background:#eee;padding:0 .2em;word-break:break-all}
</style></head><body>
<h1>Dynamo Gateway set-up</h1>
)";
constexpr std::string_view kTail = "</body></html>\n";

std::string csrfField(const std::string& csrf) {
    return "<input type=\"hidden\" name=\"csrf\" value=\"" + escapeHtml(csrf) + "\">";
}

std::string joined(const std::vector<std::string>& items, std::string_view separator) {
    std::string out;
    for (const auto& item : items)
        out += (out.empty() ? "" : std::string(separator)) + item;
    return out;
}

std::string field(std::string_view name, std::string_view label, const std::string& value,
                  std::string_view type = "text", std::string_view placeholder = "") {
    return "<label>" + std::string(label) + "<input type=\"" + std::string(type) + "\" name=\"" +
           std::string(name) + "\" value=\"" + escapeHtml(value) + "\" placeholder=\"" +
           escapeHtml(placeholder) + "\" autocomplete=\"off\"></label>\n";
}

std::string accountForm(const config::Account* account, const std::string& csrf) {
    const bool existing = account != nullptr;
    static const config::Account kEmpty;
    const config::Account& a = existing ? *account : kEmpty;
    std::string out =
        "<section class=\"card account\" data-username=\"" + escapeHtml(a.username) + "\">\n<h2>" +
        (existing ? "Account " + escapeHtml(a.username) : std::string("New account")) +
        "</h2>\n<form method=\"post\" action=\"/setup/account\">" + csrfField(csrf) +
        "<input type=\"hidden\" name=\"original\" value=\"" + escapeHtml(a.username) + "\">\n";
    out += field("username", "Device user name", a.username);
    out += field("password", "Device password", "", "password",
                 existing ? "unchanged when empty" : "");
    out += field("token", "Update token (42 characters)", "", "password",
                 existing ? "unchanged when empty" : "");
    out += field("hostnames", "Host names the device may update (blank = any)",
                 joined(a.hostnames, " "));
    out += field("ip_token", "IP Address Token (optional)", a.ipToken);
    out += field("names", "Names carrying this account's address (optional)", joined(a.names, " "));
    out += "<button type=\"submit\" name=\"action\" value=\"save\">" +
           std::string(existing ? "Save" : "Add account") + "</button>";
    if (existing)
        out += "<button type=\"submit\" name=\"action\" value=\"remove\">Remove</button>";
    return out + "</form></section>\n";
}

}  // namespace

std::string renderSetupWithoutPassword(const std::string& configPath) {
    return std::string(kHead) +
           "<section class=\"card\"><p>The set-up page has no administrator password yet. On the "
           "appliance, run:</p><p><code>sudo dynamo-gateway --config " +
           escapeHtml(configPath) +
           " --set-admin-password</code></p><p>then <code>sudo systemctl reload "
           "dynamo-gateway</code>, and open this page again.</p></section>\n" +
           std::string(kTail);
}

std::string renderSetupLogin(const std::string& csrf, const std::string& message) {
    std::string out(kHead);
    if (!message.empty())
        out += "<section class=\"card errors\"><p>" + escapeHtml(message) + "</p></section>\n";
    out += "<section class=\"card\"><form method=\"post\" action=\"/setup/login\">" +
           csrfField(csrf) + field("password", "Administrator password", "", "password") +
           "<button type=\"submit\">Log in</button></form></section>\n";
    return out + std::string(kTail);
}

std::string renderSetupPage(const SetupView& view) {
    std::string out(kHead);
    if (!view.errors.empty()) {
        out +=
            "<section class=\"card errors\"><p>The change was refused; the file is "
            "unchanged:</p><ul>";
        for (const auto& error : view.errors)
            out += "<li><code>" + escapeHtml(error) + "</code></li>";
        out += "</ul></section>\n";
    }
    if (!view.message.empty())
        out +=
            "<section class=\"card message\"><p>" + escapeHtml(view.message) + "</p></section>\n";

    const std::string address = escapeHtml(view.address);
    out +=
        "<section class=\"card instructions\"><h2>Using this gateway</h2>"
        "<p><b>Router:</b> in its DHCP (LAN) settings set the DNS server to <code>" +
        address +
        "</code> and nothing else, so every device asks this gateway.</p>"
        "<p><b>Device</b> (camera, NAS, router DDNS): service <code>DynDNS</code> "
        "(<code>members.dyndns.org</code>), the device user name and password of an "
        "account below, and its host name. A device that takes a server address may use "
        "<code>" +
        address + "</code>, port 80 or 8245 (HTTP) or 443 (HTTPS).</p></section>\n";

    for (const auto& account : view.accounts)
        out += accountForm(&account, view.csrf);
    out += accountForm(nullptr, view.csrf);

    out +=
        "<section class=\"card upstreams\"><h2>Upstream DNS servers</h2>"
        "<form method=\"post\" action=\"/setup/upstreams\">" +
        csrfField(view.csrf) +
        field("upstreams", "Addresses, separated by spaces (blank = those of /etc/resolv.conf)",
              joined(view.upstreams, " ")) +
        "<button type=\"submit\">Save</button></form></section>\n";
    out += "<section class=\"card\"><form method=\"post\" action=\"/setup/logout\">" +
           csrfField(view.csrf) + "<button type=\"submit\">Log out</button></form></section>\n";
    return out + std::string(kTail);
}

}  // namespace dynamo::gateway
