#include "gateway/address/whoami_reply.h"

#include <string_view>

#include "gateway/address/address_text.h"

namespace dynamo::gateway {
namespace {

constexpr uint16_t kTypeA = 1;
constexpr uint16_t kTypeTxt = 16;
constexpr size_t kHeaderSize = 12;

uint16_t read16(std::span<const uint8_t> data, size_t at) {
    return static_cast<uint16_t>((data[at] << 8) | data[at + 1]);
}

// Past a name at `at` (labels or a compression pointer, RFC 1035 §4.1.4); nullopt when it runs
// off the end. The name itself is not needed: c-ares matched the question already.
std::optional<size_t> skipName(std::span<const uint8_t> data, size_t at) {
    for (size_t labels = 0; labels < 128; ++labels) {
        if (at >= data.size())
            return std::nullopt;
        const uint8_t length = data[at];
        if ((length & 0xC0) == 0xC0)
            return at + 2 <= data.size() ? std::optional<size_t>(at + 2) : std::nullopt;
        if ((length & 0xC0) != 0)
            return std::nullopt;
        if (length == 0)
            return at + 1;
        at += 1 + length;
    }
    return std::nullopt;
}

std::string rcodeText(unsigned rcode) {
    switch (rcode) {
        case 2:
            return "SERVFAIL";
        case 3:
            return "NXDOMAIN";
        case 5:
            return "REFUSED";
        default:
            return "rcode " + std::to_string(rcode);
    }
}

}  // namespace

WhoamiReply parseWhoamiReply(std::span<const uint8_t> reply, uint16_t type) {
    WhoamiReply result;
    if (reply.size() < kHeaderSize) {
        result.error = "short reply";
        return result;
    }
    const unsigned rcode = reply[3] & 0x0F;
    if (rcode != 0) {
        result.error = rcodeText(rcode);
        return result;
    }
    const uint16_t questions = read16(reply, 4);
    const uint16_t answers = read16(reply, 6);
    size_t at = kHeaderSize;
    for (uint16_t i = 0; i < questions; ++i) {
        auto next = skipName(reply, at);
        if (!next || *next + 4 > reply.size()) {
            result.error = "malformed reply";
            return result;
        }
        at = *next + 4;
    }
    bool sawType = false;
    for (uint16_t i = 0; i < answers; ++i) {
        auto next = skipName(reply, at);
        if (!next || *next + 10 > reply.size()) {
            result.error = "malformed reply";
            return result;
        }
        const uint16_t recordType = read16(reply, *next);
        const uint16_t length = read16(reply, *next + 8);
        const size_t data = *next + 10;
        if (data + length > reply.size()) {
            result.error = "malformed reply";
            return result;
        }
        const auto rdata = reply.subspan(data, length);
        at = data + length;
        if (recordType != type)
            continue;
        sawType = true;
        if (type == kTypeA && length == 4) {
            result.address = net::IpAddress::parse(
                std::to_string(rdata[0]) + "." + std::to_string(rdata[1]) + "." +
                std::to_string(rdata[2]) + "." + std::to_string(rdata[3]));
            return result;
        }
        if (type == kTypeTxt) {
            // RFC 1035 §3.3.14: one or more <character-string>s, each a length and its bytes.
            for (size_t s = 0; s < rdata.size();) {
                const size_t textLength = rdata[s];
                if (s + 1 + textLength > rdata.size())
                    break;
                const std::string_view text(reinterpret_cast<const char*>(rdata.data() + s + 1),
                                            textLength);
                if (auto address = parseBareIpv4(text)) {
                    result.address = address;
                    return result;
                }
                s += 1 + textLength;
            }
        }
    }
    result.error = sawType ? "the answer holds no IPv4 address" : "no answer of the type asked";
    return result;
}

}  // namespace dynamo::gateway
