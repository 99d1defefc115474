#include "gateway/address/upnp_igd.h"

#include <algorithm>

#include "net/ascii.h"
#include "net/log.h"

namespace dynamo::gateway {

namespace {

bool isSpace(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// What may go into a request line unchanged: printable ASCII, no space (RFC 9112 §3.2).
bool isPathText(std::string_view path) {
    return !path.empty() && path.size() <= kMaxUrlLength &&
           std::all_of(path.begin(), path.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

int decimalDigit(char c) {
    return c >= '0' && c <= '9' ? c - '0' : -1;
}

struct Element {
    size_t contentBegin;
    size_t contentEnd;
    size_t end;  // just after the end tag
};

// The next element named localName at or after `from`. Linear in the input for each element
// found: comments, processing instructions, CDATA and declarations are skipped whole; a tag's
// attributes may hold '>' inside quotes.
std::optional<Element> findElement(std::string_view xml, std::string_view localName, size_t from) {
    size_t i = from;
    while (i < xml.size()) {
        i = xml.find('<', i);
        if (i == std::string_view::npos)
            return std::nullopt;
        const std::string_view rest = xml.substr(i);
        std::string_view closer;
        if (rest.starts_with("<!--"))
            closer = "-->";
        else if (rest.starts_with("<![CDATA["))
            closer = "]]>";
        else if (rest.starts_with("<?"))
            closer = "?>";
        else if (rest.starts_with("<!") || rest.starts_with("</"))
            closer = ">";
        if (!closer.empty()) {
            const size_t end = xml.find(closer, i + 2);
            if (end == std::string_view::npos)
                return std::nullopt;
            i = end + closer.size();
            continue;
        }
        size_t nameEnd = i + 1;
        while (nameEnd < xml.size() && !isSpace(xml[nameEnd]) && xml[nameEnd] != '>' &&
               xml[nameEnd] != '/')
            ++nameEnd;
        const std::string_view name = xml.substr(i + 1, nameEnd - i - 1);
        size_t tagEnd = nameEnd;
        char quote = 0;
        for (; tagEnd < xml.size(); ++tagEnd) {
            const char c = xml[tagEnd];
            if (quote != 0) {
                if (c == quote)
                    quote = 0;
            } else if (c == '"' || c == '\'') {
                quote = c;
            } else if (c == '>') {
                break;
            }
        }
        if (tagEnd >= xml.size())
            return std::nullopt;
        const size_t colon = name.rfind(':');
        const std::string_view local =
            colon == std::string_view::npos ? name : name.substr(colon + 1);
        if (name.empty() || local != localName) {
            i = tagEnd + 1;
            continue;
        }
        if (xml[tagEnd - 1] == '/')  // <name/>: empty
            return Element{tagEnd + 1, tagEnd + 1, tagEnd + 1};
        for (size_t k = tagEnd + 1;;) {
            k = xml.find("</", k);
            if (k == std::string_view::npos)
                return std::nullopt;
            if (xml.substr(k + 2, name.size()) == name) {
                size_t m = k + 2 + name.size();
                while (m < xml.size() && isSpace(xml[m]))
                    ++m;
                if (m < xml.size() && xml[m] == '>')
                    return Element{tagEnd + 1, k, m + 1};
            }
            k += 2;
        }
    }
    return std::nullopt;
}

// The five predefined entities and ASCII character references (XML 1.0 §4.6, §4.1); anything
// else stays as written (and then fails to parse as an address or a URL).
std::string decodeEntities(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '&') {
            out += text[i];
            continue;
        }
        const size_t semi = text.find(';', i);
        if (semi == std::string_view::npos || semi - i > 8) {
            out += text[i];
            continue;
        }
        const std::string_view entity = text.substr(i + 1, semi - i - 1);
        char decoded = 0;
        if (entity == "amp")
            decoded = '&';
        else if (entity == "lt")
            decoded = '<';
        else if (entity == "gt")
            decoded = '>';
        else if (entity == "quot")
            decoded = '"';
        else if (entity == "apos")
            decoded = '\'';
        else if (entity.size() >= 2 && entity[0] == '#') {
            const bool hex = entity[1] == 'x';
            unsigned value = 0;
            bool ok = entity.size() > (hex ? 2u : 1u);
            for (size_t k = hex ? 2 : 1; ok && k < entity.size(); ++k) {
                const int digit = hex ? net::hexValue(entity[k]) : decimalDigit(entity[k]);
                ok = digit >= 0;
                value = value * (hex ? 16u : 10u) + static_cast<unsigned>(digit);
            }
            if (ok && value >= 0x20 && value < 0x7f)
                decoded = static_cast<char>(value);
        }
        if (decoded == 0) {
            out += text[i];
            continue;
        }
        out += decoded;
        i = semi;
    }
    return out;
}

std::optional<std::string> elementText(std::string_view xml, const Element& element) {
    return std::string(net::trimWhitespace(decodeEntities(
        xml.substr(element.contentBegin, element.contentEnd - element.contentBegin))));
}

}  // namespace

std::string ssdpSearch(std::string_view searchTarget, std::string_view host) {
    std::string out = "M-SEARCH * HTTP/1.1\r\nHOST: ";
    out += host;
    // MX 1: a device waits at most a second before it answers a multicast search (§1.3.2).
    out += "\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: ";
    out += searchTarget;
    out += "\r\n\r\n";
    return out;
}

std::optional<std::string> ssdpLocation(std::string_view datagram) {
    bool first = true;
    while (!datagram.empty()) {
        const size_t eol = datagram.find('\n');
        std::string_view line = datagram.substr(0, eol);
        datagram = eol == std::string_view::npos ? std::string_view() : datagram.substr(eol + 1);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        if (first) {
            first = false;
            if (!net::startsWithIgnoreCase(line, "HTTP/1.1 200") &&
                !net::startsWithIgnoreCase(line, "HTTP/1.0 200"))
                return std::nullopt;
            continue;
        }
        if (line.empty())
            break;
        const size_t colon = line.find(':');
        if (colon == std::string_view::npos)
            continue;
        if (!net::equalsIgnoreCase(net::trimWhitespace(line.substr(0, colon)), "location"))
            continue;
        const std::string_view value = net::trimWhitespace(line.substr(colon + 1));
        if (value.empty() || value.size() > kMaxUrlLength)
            return std::nullopt;
        return std::string(value);
    }
    return std::nullopt;
}

std::string HttpUrl::hostHeader() const {
    return host.toString() + ":" + std::to_string(port);
}

std::string HttpUrl::toString() const {
    return "http://" + hostHeader() + path;
}

std::optional<HttpUrl> parseHttpUrl(std::string_view text) {
    if (text.size() > kMaxUrlLength || !net::startsWithIgnoreCase(text, "http://"))
        return std::nullopt;
    text.remove_prefix(7);
    const size_t hash = text.find('#');
    if (hash != std::string_view::npos)
        text = text.substr(0, hash);
    const size_t slash = text.find_first_of("/?");
    const std::string_view authority = text.substr(0, slash);
    HttpUrl url;
    if (slash != std::string_view::npos)
        url.path = std::string(text.substr(slash));
    if (url.path.front() == '?')
        url.path.insert(0, "/");
    std::string_view host = authority;
    const size_t colon = authority.find(':');
    if (colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        const std::string_view port = authority.substr(colon + 1);
        if (port.empty() || port.size() > 5 ||
            !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
            return std::nullopt;
        const unsigned long value = std::stoul(std::string(port));
        if (value == 0 || value > 65535)
            return std::nullopt;
        url.port = static_cast<uint16_t>(value);
    }
    const auto ip = net::IpAddress::parse(host);
    if (!ip || !ip->isV4() || !isPathText(url.path))
        return std::nullopt;
    url.host = *ip;
    return url;
}

std::optional<HttpUrl> resolveUrl(const HttpUrl& base, std::string_view reference) {
    reference = net::trimWhitespace(reference);
    if (reference.empty() || reference.size() > kMaxUrlLength)
        return std::nullopt;
    if (net::startsWithIgnoreCase(reference, "http://"))
        return parseHttpUrl(reference);
    if (reference.starts_with("//") || reference.find("://") != std::string_view::npos)
        return std::nullopt;  // another scheme, or a network-path reference to another host
    HttpUrl url = base;
    if (reference.front() == '/') {
        url.path = std::string(reference);
    } else {
        const std::string_view basePath =
            std::string_view(base.path).substr(0, std::string_view(base.path).find('?'));
        url.path =
            std::string(basePath.substr(0, basePath.rfind('/') + 1)) + std::string(reference);
    }
    if (!isPathText(url.path))
        return std::nullopt;
    return url;
}

std::vector<WanService> wanServices(std::string_view description, const HttpUrl& location) {
    HttpUrl base = location;
    // UDA 1.0 devices may name a URLBase that relative URLs resolve against (UDA 1.1 §2.3
    // deprecates it, and most devices leave it out).
    if (const auto urlBase = findElement(description, "URLBase", 0)) {
        if (const auto parsed = parseHttpUrl(*elementText(description, *urlBase)))
            base = *parsed;
    }
    std::vector<WanService> found;
    size_t from = 0;
    // Bounded in count as the description is in size: a device lists a handful of services.
    for (int seen = 0; seen < 64 && found.size() < kMaxServices; ++seen) {
        const auto service = findElement(description, "service", from);
        if (!service)
            break;
        from = service->end;
        const std::string_view body =
            description.substr(service->contentBegin, service->contentEnd - service->contentBegin);
        const auto typeElement = findElement(body, "serviceType", 0);
        const auto controlElement = findElement(body, "controlURL", 0);
        if (!typeElement || !controlElement)
            continue;
        const std::string type = *elementText(body, *typeElement);
        if (std::find(std::begin(kWanServiceTypes), std::end(kWanServiceTypes), type) ==
            std::end(kWanServiceTypes))
            continue;
        const auto control = resolveUrl(base, *elementText(body, *controlElement));
        if (!control)
            continue;
        found.push_back(WanService{type, *control});
    }
    auto rank = [](const WanService& s) {
        return std::find(std::begin(kWanServiceTypes), std::end(kWanServiceTypes), s.serviceType) -
               std::begin(kWanServiceTypes);
    };
    std::stable_sort(found.begin(), found.end(),
                     [&](const WanService& a, const WanService& b) { return rank(a) < rank(b); });
    return found;
}

std::string httpGet(const HttpUrl& url) {
    return "GET " + url.path + " HTTP/1.1\r\nHost: " + url.hostHeader() +
           "\r\nConnection: close\r\nAccept: text/xml\r\n\r\n";
}

std::string soapGetExternalIpAddress(const WanService& service) {
    const std::string body =
        "<?xml version=\"1.0\"?>\r\n"
        "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" "
        "s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>"
        "<u:GetExternalIPAddress xmlns:u=\"" +
        service.serviceType + "\"></u:GetExternalIPAddress></s:Body></s:Envelope>\r\n";
    return "POST " + service.control.path + " HTTP/1.1\r\nHost: " + service.control.hostHeader() +
           "\r\nContent-Type: text/xml; charset=\"utf-8\"\r\nSOAPAction: \"" + service.serviceType +
           "#GetExternalIPAddress\"\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\nConnection: close\r\n\r\n" + body;
}

SoapAnswer parseGetExternalIpAddress(int httpStatus, std::string_view body) {
    SoapAnswer answer;
    if (httpStatus != 200) {
        // A SOAP fault carries a UPnPError (UDA 1.1 §3.2.2): its code says more than "500".
        const auto code = xmlElementText(body, "errorCode");
        if (httpStatus == 500 && code) {
            answer.error = "UPnP error " + log::printable(*code, 8);
            if (const auto description = xmlElementText(body, "errorDescription"))
                answer.error += ": " + log::printable(*description, 64);
        } else {
            answer.error = "HTTP " + std::to_string(httpStatus);
        }
        return answer;
    }
    const auto text = xmlElementText(body, "NewExternalIPAddress");
    if (!text) {
        answer.error = "no NewExternalIPAddress in the answer";
        return answer;
    }
    const auto address = net::IpAddress::parse(*text);
    if (text->empty() || (address && address->isV4() && address->isUnspecified())) {
        // miniupnpd says 0.0.0.0 when its WAN address is private or reserved; other routers say
        // nothing while they have no WAN connection.
        answer.error = "the router reports no external address (" +
                       (text->empty() ? std::string("empty") : *text) + ")";
        return answer;
    }
    if (!address || !address->isV4()) {
        answer.error = "NewExternalIPAddress is not an IPv4 address: " + log::printable(*text, 48);
        return answer;
    }
    answer.address = *address;
    return answer;
}

std::optional<std::string> xmlElementText(std::string_view xml, std::string_view localName) {
    const auto element = findElement(xml, localName, 0);
    if (!element)
        return std::nullopt;
    return elementText(xml, *element);
}

}  // namespace dynamo::gateway
