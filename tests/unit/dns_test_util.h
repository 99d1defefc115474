#pragma once
// A tiny builder for DNS test messages: readable tests without hex dumps, and nothing the codec
// under test could share a bug with (it writes every byte itself).

#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "resolver/dns_message.h"

namespace dynamo::dns::test {

using Bytes = std::vector<uint8_t>;

// "www.Example.com" → \3www\7Example\3com\0, case kept; "" or "." is the root.
inline Bytes wireName(std::string_view dotted) {
    Bytes out;
    while (!dotted.empty() && dotted != ".") {
        const size_t dot = dotted.find('.');
        const std::string_view label = dotted.substr(0, dot);
        out.push_back(static_cast<uint8_t>(label.size()));
        out.insert(out.end(), label.begin(), label.end());
        if (dot == std::string_view::npos)
            break;
        dotted.remove_prefix(dot + 1);
    }
    out.push_back(0);
    return out;
}

inline void put16(Bytes& out, uint16_t value) {
    out.push_back(static_cast<uint8_t>(value >> 8));
    out.push_back(static_cast<uint8_t>(value));
}

inline void put32(Bytes& out, uint32_t value) {
    put16(out, static_cast<uint16_t>(value >> 16));
    put16(out, static_cast<uint16_t>(value));
}

inline uint32_t get32(const Bytes& bytes, size_t offset) {
    return (uint32_t{bytes[offset]} << 24) | (uint32_t{bytes[offset + 1]} << 16) |
           (uint32_t{bytes[offset + 2]} << 8) | bytes[offset + 3];
}

// The pointer to the question name at offset 12 (RFC 1035 §4.1.4).
inline const Bytes kQnamePointer = {0xc0, 0x0c};

inline Bytes soaRdata(std::string_view mname, std::string_view rname, uint32_t minimum,
                      uint32_t serial = 2024010101) {
    Bytes out = wireName(mname);
    const Bytes r = wireName(rname);
    out.insert(out.end(), r.begin(), r.end());
    for (uint32_t value : {serial, 7200u, 3600u, 1209600u, minimum})
        put32(out, value);
    return out;
}

class MessageBuilder {
  public:
    MessageBuilder& id(uint16_t value) {
        id_ = value;
        return *this;
    }
    MessageBuilder& flags(uint16_t value) {
        flags_ = value;
        return *this;
    }
    // Marks the message an answer: QR, RD, RA and the rcode.
    MessageBuilder& response(Rcode rcode = Rcode::NoError) {
        flags_ = static_cast<uint16_t>(0x8180 | static_cast<uint16_t>(rcode));
        return *this;
    }
    MessageBuilder& question(std::string_view name, uint16_t qtype, uint16_t qclass = kClassIn) {
        question_ = wireName(name);
        put16(question_, qtype);
        put16(question_, qclass);
        qdcount_ = 1;
        return *this;
    }
    MessageBuilder& qdcount(uint16_t value) {
        qdcount_ = value;
        return *this;
    }
    // A record whose owner is given in wire form (kQnamePointer, wireName(...), or raw bytes).
    MessageBuilder& record(Section section, const Bytes& owner, uint16_t rrType, uint32_t ttl,
                           const Bytes& rdata, uint16_t rrClass = kClassIn) {
        Bytes rr = owner;
        put16(rr, rrType);
        put16(rr, rrClass);
        put32(rr, ttl);
        put16(rr, static_cast<uint16_t>(rdata.size()));
        rr.insert(rr.end(), rdata.begin(), rdata.end());
        return raw(section, rr);
    }
    MessageBuilder& answer(uint16_t rrType, uint32_t ttl, const Bytes& rdata) {
        return record(Section::Answer, kQnamePointer, rrType, ttl, rdata);
    }
    MessageBuilder& soa(uint32_t ttl, uint32_t minimum) {
        return record(Section::Authority, wireName("example.com"), type::SOA, ttl,
                      soaRdata("ns1.example.com", "hostmaster.example.com", minimum));
    }
    // OPT (RFC 6891 §6.1.2): owner root, CLASS = payload size, TTL = ext-rcode/version/DO.
    MessageBuilder& opt(uint16_t payload = 1232, bool dnssecOk = false,
                        Section section = Section::Additional, const Bytes& options = {}) {
        return record(section, Bytes{0}, type::OPT, dnssecOk ? 0x8000 : 0, options, payload);
    }
    MessageBuilder& raw(Section section, const Bytes& rr) {
        Bytes& target = sections_[static_cast<size_t>(section)];
        target.insert(target.end(), rr.begin(), rr.end());
        ++counts_[static_cast<size_t>(section)];
        return *this;
    }

    Bytes build() const {
        Bytes out;
        put16(out, id_);
        put16(out, flags_);
        put16(out, qdcount_);
        for (uint16_t count : counts_)
            put16(out, count);
        out.insert(out.end(), question_.begin(), question_.end());
        for (const Bytes& section : sections_)
            out.insert(out.end(), section.begin(), section.end());
        return out;
    }

  private:
    uint16_t id_ = 0x1234;
    uint16_t flags_ = 0x0100;  // a query with RD
    uint16_t qdcount_ = 0;
    Bytes question_;
    uint16_t counts_[3] = {0, 0, 0};
    Bytes sections_[3];
};

inline Message parseOrDie(const Bytes& bytes) {
    ParseResult result = parse(bytes);
    if (!result.message) {
        throw std::runtime_error(std::string("parse failed: ") + toString(result.error));
    }
    return std::move(*result.message);
}

}  // namespace dynamo::dns::test
