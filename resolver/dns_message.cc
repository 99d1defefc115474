#include "resolver/dns_message.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "net/ascii.h"

namespace dynamo::dns {

namespace {

constexpr size_t kMaxLabelLength = 63;  // RFC 1035 §2.3.4
// Every jump must land strictly before the segment it leaves (see readName), so loops are
// impossible already; this bound only caps the work one hostile name can cause. A legal name
// has at most 127 labels, so it never needs more jumps than that.
constexpr int kMaxPointerJumps = 127;
constexpr size_t kFixedRrSize = 10;  // TYPE, CLASS, TTL, RDLENGTH after the owner name
constexpr uint16_t kFlagQr = 0x8000;
constexpr uint16_t kFlagAa = 0x0400;
constexpr uint16_t kFlagTc = 0x0200;
constexpr uint16_t kFlagRd = 0x0100;
constexpr uint16_t kFlagRa = 0x0080;
constexpr uint16_t kFlagCd = 0x0010;
constexpr uint16_t kOpcodeMask = 0x7800;
constexpr uint32_t kEdnsDo = 0x8000;                           // RFC 3225, in the OPT TTL field
constexpr uint16_t kPointerToQuestion = 0xc000 | kHeaderSize;  // RFC 1035 §4.1.4

uint16_t read16(std::span<const uint8_t> bytes, size_t offset) {
    return static_cast<uint16_t>((bytes[offset] << 8) | bytes[offset + 1]);
}

uint32_t read32(std::span<const uint8_t> bytes, size_t offset) {
    return (uint32_t{bytes[offset]} << 24) | (uint32_t{bytes[offset + 1]} << 16) |
           (uint32_t{bytes[offset + 2]} << 8) | uint32_t{bytes[offset + 3]};
}

void write16(std::span<uint8_t> bytes, size_t offset, uint16_t value) {
    bytes[offset] = static_cast<uint8_t>(value >> 8);
    bytes[offset + 1] = static_cast<uint8_t>(value);
}

void write32(std::span<uint8_t> bytes, size_t offset, uint32_t value) {
    bytes[offset] = static_cast<uint8_t>(value >> 24);
    bytes[offset + 1] = static_cast<uint8_t>(value >> 16);
    bytes[offset + 2] = static_cast<uint8_t>(value >> 8);
    bytes[offset + 3] = static_cast<uint8_t>(value);
}

void append16(std::vector<uint8_t>& out, uint16_t value) {
    out.push_back(static_cast<uint8_t>(value >> 8));
    out.push_back(static_cast<uint8_t>(value));
}

void append32(std::vector<uint8_t>& out, uint32_t value) {
    append16(out, static_cast<uint16_t>(value >> 16));
    append16(out, static_cast<uint16_t>(value));
}

struct NameResult {
    std::optional<ParseError> error;
    size_t end = 0;         // offset just past the name where it appears (past its first pointer)
    size_t wireLength = 0;  // of the uncompressed name: 1 for the root
};

// Reads a possibly compressed name at `offset` (RFC 1035 §4.1.4). `wire`, when given, receives
// the uncompressed name with letters lower-cased.
//
// Loops: a pointer must target an offset strictly before the start of the segment being read
// (the name's own start, or the previous pointer's target). Segment starts then strictly
// decrease, so decoding terminates; a pointer that merely points "backwards" from its own
// position is not enough (labels read from its target could run into the same pointer again).
// Every legal compressor satisfies the rule: a suffix can only be pointed at after it was
// written. Pointers into the 12-byte header are refused too: no name lives there, and it keeps
// the question (whose segment starts at 12) free of pointers, so it can be copied verbatim.
//
// `ttls`, when given, are the records read so far: a name that borrows bytes of one of their
// TTL fields through a pointer is refused (see borrowsTtl).
bool borrowsTtl(const std::vector<RecordRef>& records, size_t start, size_t end);

NameResult readName(std::span<const uint8_t> bytes, size_t offset, WireName* wire,
                    const std::vector<RecordRef>* ttls = nullptr) {
    NameResult result;
    size_t segmentStart = offset;
    size_t position = offset;
    size_t wireLength = 0;
    int jumps = 0;
    bool jumped = false;
    if (wire)
        wire->clear();
    while (true) {
        if (position >= bytes.size())
            return {ParseError::Truncated, 0, 0};
        const uint8_t length = bytes[position];
        const uint8_t kind = length & 0xc0;
        if (kind == 0xc0) {
            if (position + 1 >= bytes.size())
                return {ParseError::Truncated, 0, 0};
            const size_t target = ((length & 0x3fu) << 8) | bytes[position + 1];
            if (target < kHeaderSize || target >= segmentStart || ++jumps > kMaxPointerJumps) {
                return {ParseError::BadName, 0, 0};
            }
            if (!jumped)
                result.end = position + 2;
            else if (ttls && borrowsTtl(*ttls, segmentStart, position + 2))
                return {ParseError::BadName, 0, 0};
            jumped = true;
            segmentStart = target;
            position = target;
            continue;
        }
        // 0x40 (extended labels, RFC 6891 §5 deprecated them) and 0x80 are not in use.
        if (kind != 0)
            return {ParseError::BadName, 0, 0};
        wireLength += 1 + length;
        if (wireLength > kMaxNameLength)
            return {ParseError::BadName, 0, 0};
        if (length == 0) {
            if (!jumped)
                result.end = position + 1;
            else if (ttls && borrowsTtl(*ttls, segmentStart, position + 1))
                return {ParseError::BadName, 0, 0};
            if (wire)
                wire->push_back('\0');
            result.wireLength = wireLength;
            return result;
        }
        if (position + 1 + length > bytes.size())
            return {ParseError::Truncated, 0, 0};
        if (wire)
            wire->appendLower(&bytes[position], 1 + length);  // the length byte is no letter
        position += 1 + length;
    }
}

// The OPT RR rewritten from scratch (root owner, same CLASS/TTL/RDATA), since its owner could
// in theory be a pointer that would dangle in a new message.
void appendOptCopy(std::vector<uint8_t>& out, std::span<const uint8_t> bytes, const Edns& edns) {
    const NameResult owner = readName(bytes, edns.offset, nullptr);
    const size_t fixed = owner.end;
    const uint16_t rdlength = read16(bytes, fixed + 8);
    out.push_back(0);
    append16(out, type::OPT);
    out.insert(out.end(), bytes.begin() + static_cast<std::ptrdiff_t>(fixed + 2),
               bytes.begin() + static_cast<std::ptrdiff_t>(fixed + kFixedRrSize + rdlength));
}

// Our own OPT (RFC 6891 §6.1): payload kMaxUdpPayload, version 0, DO echoed (RFC 3225 §3).
// Our OPT (RFC 6891 §6.1.2): root owner, our payload size; TTL = extended rcode, version 0, DO.
void appendOwnOpt(std::vector<uint8_t>& out, bool dnssecOk, uint8_t extendedRcode = 0) {
    const uint8_t opt[] = {0,
                           0,
                           static_cast<uint8_t>(type::OPT),
                           static_cast<uint8_t>(kMaxUdpPayload >> 8),
                           static_cast<uint8_t>(kMaxUdpPayload & 0xff),
                           extendedRcode,
                           0,
                           static_cast<uint8_t>(dnssecOk ? kEdnsDo >> 8 : 0),
                           0,
                           0,
                           0};
    out.insert(out.end(), opt, opt + sizeof opt);
}

void appendHeader(std::vector<uint8_t>& out, uint16_t id, uint16_t flags, uint16_t qdcount,
                  uint16_t ancount, uint16_t nscount, uint16_t arcount) {
    const uint8_t header[kHeaderSize] = {
        static_cast<uint8_t>(id >> 8),      static_cast<uint8_t>(id),
        static_cast<uint8_t>(flags >> 8),   static_cast<uint8_t>(flags),
        static_cast<uint8_t>(qdcount >> 8), static_cast<uint8_t>(qdcount),
        static_cast<uint8_t>(ancount >> 8), static_cast<uint8_t>(ancount),
        static_cast<uint8_t>(nscount >> 8), static_cast<uint8_t>(nscount),
        static_cast<uint8_t>(arcount >> 8), static_cast<uint8_t>(arcount)};
    out.insert(out.end(), header, header + kHeaderSize);
}

std::vector<uint8_t> headerBytes(uint16_t id, uint16_t flags, uint16_t qdcount, uint16_t ancount,
                                 uint16_t nscount, uint16_t arcount) {
    std::vector<uint8_t> out;
    out.reserve(kMaxUdpPayloadWithoutEdns);
    appendHeader(out, id, flags, qdcount, ancount, nscount, arcount);
    return out;
}

void appendQuestion(std::vector<uint8_t>& out, std::span<const uint8_t> bytes,
                    const Message& message) {
    out.insert(out.end(), bytes.begin() + kHeaderSize,
               bytes.begin() + static_cast<std::ptrdiff_t>(message.questionEnd));
}

// RFC 2181 §8: a TTL with the top bit set is to be treated as zero.
uint32_t effectiveTtl(uint32_t ttl) {
    return ttl > 0x7fffffffu ? 0 : ttl;
}

// Whether a pointer made a name borrow bytes [start, end) of a TTL field. The RFC only lets
// pointers target earlier names, but parsers that check nothing more accept a pointer into a
// TTL; the cache rewrites TTLs in place (decrementTtls, capTtls), which would then rewrite that
// name, perhaps into one that no longer parses. Refused, as no real compressor produces it.
// Pointers only go backwards, so the records read before the name hold every TTL it could
// borrow; `records` are in message order, so their TTL offsets ascend.
bool borrowsTtl(const std::vector<RecordRef>& records, size_t start, size_t end) {
    // The first TTL field ending after `start`; it overlaps when it begins before `end`.
    const auto ttl = std::lower_bound(
        records.begin(), records.end(), start,
        [](const RecordRef& record, size_t offset) { return record.ttlOffset + 4 <= offset; });
    return ttl != records.end() && ttl->ttlOffset < end;
}

}  // namespace

std::optional<Header> readHeader(std::span<const uint8_t> message) {
    if (message.size() < kHeaderSize)
        return std::nullopt;
    Header header;
    header.id = read16(message, 0);
    header.flags = read16(message, 2);
    header.qdcount = read16(message, 4);
    header.ancount = read16(message, 6);
    header.nscount = read16(message, 8);
    header.arcount = read16(message, 10);
    return header;
}

namespace {

// parse() into `message` (whose records' capacity is reused), and with questionOptional a
// message of QDCOUNT 0 too (questionEnd = 12, no name), for answering a header-only query of
// an opcode we do not serve. nullopt when the message is sound.
std::optional<ParseError> parseMessage(std::span<const uint8_t> bytes, bool questionOptional,
                                       Message& message) {
    const auto fail = [](ParseError error) { return std::optional<ParseError>(error); };
    const std::optional<Header> header = readHeader(bytes);
    if (!header)
        return fail(ParseError::TooShort);
    // RFC 9619: QDCOUNT is 1 in practice; 0 (cookie-only queries) and >1 are not served here.
    const bool noQuestion = questionOptional && header->qdcount == 0;
    if (header->qdcount != 1 && !noQuestion)
        return fail(ParseError::BadQuestion);

    message.header = *header;
    message.qnameWire = WireName();
    message.qtype = message.qclass = 0;
    message.edns.reset();
    message.records.clear();
    message.questionEnd = kHeaderSize;
    if (!noQuestion) {
        const NameResult qname = readName(bytes, kHeaderSize, &message.qnameWire);
        if (qname.error)
            return fail(*qname.error);
        if (qname.end + 4 > bytes.size())
            return fail(ParseError::Truncated);
        message.qtype = read16(bytes, qname.end);
        message.qclass = read16(bytes, qname.end + 2);
        message.questionEnd = qname.end + 4;
    }

    size_t position = message.questionEnd;
    const uint32_t total = uint32_t{header->ancount} + header->nscount + header->arcount;
    for (uint32_t i = 0; i < total; ++i) {
        const Section section = i < header->ancount ? Section::Answer
                                : i < uint32_t{header->ancount} + header->nscount
                                    ? Section::Authority
                                    : Section::Additional;
        const size_t start = position;
        const NameResult name = readName(bytes, position, nullptr, &message.records);
        if (name.error)
            return fail(*name.error);
        if (name.end + kFixedRrSize > bytes.size())
            return fail(ParseError::Truncated);
        RecordRef record{};
        record.section = section;
        record.type = read16(bytes, name.end);
        record.rclass = read16(bytes, name.end + 2);
        record.ttlOffset = name.end + 4;
        record.ttl = read32(bytes, record.ttlOffset);
        record.rdataLength = read16(bytes, name.end + 8);
        record.rdataOffset = name.end + kFixedRrSize;
        if (record.rdataOffset + record.rdataLength > bytes.size()) {
            return fail(ParseError::Truncated);
        }
        position = record.rdataOffset + record.rdataLength;
        if (record.type == type::OPT) {
            // RFC 6891 §6.1.1: at most one OPT, only in the additional section, owner root.
            // Its options are not checked: they pass through to the upstream untouched.
            if (section != Section::Additional || message.edns || name.wireLength != 1) {
                return fail(ParseError::BadOpt);
            }
            Edns edns;
            edns.udpPayloadSize = record.rclass;
            edns.extendedRcode = static_cast<uint8_t>(record.ttl >> 24);
            edns.version = static_cast<uint8_t>(record.ttl >> 16);
            edns.dnssecOk = (record.ttl & kEdnsDo) != 0;
            edns.offset = start;
            message.edns = edns;
            continue;
        }
        // Reserved at the first record, not before: a query (a question and an OPT) then
        // allocates nothing.
        if (message.records.empty())
            message.records.reserve(std::min<size_t>(total - i, bytes.size() / (kFixedRrSize + 1)));
        message.records.push_back(record);
    }
    if (position != bytes.size())
        return fail(ParseError::TrailingGarbage);
    return std::nullopt;
}

ParseResult parseMessage(std::span<const uint8_t> bytes, bool questionOptional) {
    Message message;
    if (const auto error = parseMessage(bytes, questionOptional, message))
        return ParseResult{std::nullopt, *error};
    return ParseResult{std::move(message), ParseError::TooShort};
}

}  // namespace

ParseResult parse(std::span<const uint8_t> bytes) {
    return parseMessage(bytes, false);
}

bool parseInto(std::span<const uint8_t> bytes, Message& message) {
    return !parseMessage(bytes, false, message).has_value();
}

const char* toString(ParseError error) {
    switch (error) {
        case ParseError::TooShort:
            return "too short";
        case ParseError::BadName:
            return "bad name";
        case ParseError::Truncated:
            return "truncated";
        case ParseError::BadQuestion:
            return "bad question count";
        case ParseError::BadOpt:
            return "bad OPT record";
        case ParseError::TrailingGarbage:
            return "trailing garbage";
    }
    return "unknown";
}

std::optional<std::string> nameToWire(std::string_view presentation) {
    std::string wire;
    if (presentation.empty() || presentation == ".")
        return std::string(1, '\0');
    std::string label;
    const auto endLabel = [&]() {
        if (label.empty() || label.size() > kMaxLabelLength)
            return false;
        wire.push_back(static_cast<char>(label.size()));
        wire += label;
        label.clear();
        return true;
    };
    for (size_t i = 0; i < presentation.size(); ++i) {
        const char c = presentation[i];
        if (c == '.') {
            if (!endLabel())
                return std::nullopt;
            continue;
        }
        if (c != '\\') {
            label.push_back(net::lowerAscii(c));
            continue;
        }
        // RFC 1035 §5.1: \X is X literally, \DDD is the octet with that decimal value.
        if (++i >= presentation.size())
            return std::nullopt;
        const char next = presentation[i];
        if (next >= '0' && next <= '9') {
            if (i + 2 >= presentation.size())
                return std::nullopt;
            unsigned value = 0;
            for (size_t k = 0; k < 3; ++k) {
                const char digit = presentation[i + k];
                if (digit < '0' || digit > '9')
                    return std::nullopt;
                value = value * 10 + static_cast<unsigned>(digit - '0');
            }
            if (value > 255)
                return std::nullopt;
            label.push_back(net::lowerAscii(static_cast<char>(value)));
            i += 2;
        } else {
            label.push_back(net::lowerAscii(next));
        }
    }
    // A trailing dot already closed the last label; without one, close it now. Empty labels
    // ("a..b", ".a") were refused by endLabel().
    if (!label.empty() && !endLabel())
        return std::nullopt;
    wire.push_back('\0');
    if (wire.size() > kMaxNameLength)
        return std::nullopt;
    return wire;
}

std::string wireToPresentation(std::string_view wire) {
    std::string out;
    wireToPresentation(wire, out);
    return out;
}

std::string Message::qname() const {
    return wireToPresentation(qnameWire);
}

void wireToPresentation(std::string_view wire, std::string& out) {
    // Written through a pointer and cut to size once (this runs per intercepted query, and
    // push_back per character was its main cost): at most 4 characters per wire byte (\DDD).
    out.resize(4 * wire.size());
    char* text = out.data();
    size_t size = 0;
    size_t position = 0;
    while (position < wire.size()) {
        const auto length = static_cast<uint8_t>(wire[position]);
        if (length == 0 || position + 1 + length > wire.size())
            break;
        if (size != 0)
            text[size++] = '.';
        for (size_t i = 0; i < length; ++i) {
            const auto c = static_cast<uint8_t>(net::lowerAscii(wire[position + 1 + i]));
            // RFC 1035 §5.1: escape the label separator and the escape character; bytes that
            // are not printable ASCII (space included, as dig does) become \DDD.
            if (c == '.' || c == '\\') {
                text[size++] = '\\';
                text[size++] = static_cast<char>(c);
            } else if (c <= 0x20 || c >= 0x7f) {
                text[size++] = '\\';
                text[size++] = static_cast<char>('0' + c / 100);
                text[size++] = static_cast<char>('0' + c / 10 % 10);
                text[size++] = static_cast<char>('0' + c % 10);
            } else {
                text[size++] = static_cast<char>(c);
            }
        }
        position += 1 + length;
    }
    out.resize(size);
}

void setId(std::span<uint8_t> message, uint16_t id) {
    write16(message, 0, id);
}

uint16_t getId(std::span<const uint8_t> message) {
    return read16(message, 0);
}

void appendUint16(std::vector<uint8_t>& out, uint16_t value) {
    append16(out, value);
}

bool isStrictlyBelow(std::string_view name, std::string_view suffix) {
    if (name.size() <= suffix.size() || !name.ends_with(suffix))
        return false;
    // Walk the labels: the suffix must start on a label boundary, not inside a label that
    // happens to end with the same bytes ("\005xample" vs "ample").
    size_t position = 0;
    const size_t start = name.size() - suffix.size();
    while (position < start)
        position += 1 + static_cast<uint8_t>(name[position]);
    return position == start;
}

void clearFlags(std::span<uint8_t> message, uint16_t flags) {
    write16(message, 2, static_cast<uint16_t>(read16(message, 2) & ~flags));
}

size_t maxUdpAnswerSize(const Message& query) {
    if (!query.edns)
        return kMaxUdpPayloadWithoutEdns;
    // RFC 6891 §6.2.5: values below 512 are treated as 512; above our ceiling, the flag-day
    // 1232 avoids IP fragmentation.
    return std::clamp<size_t>(query.edns->udpPayloadSize, kMaxUdpPayloadWithoutEdns,
                              kMaxUdpPayload);
}

std::vector<uint8_t> truncated(std::span<const uint8_t> answer, const Message& parsedAnswer) {
    const Header& h = parsedAnswer.header;
    std::vector<uint8_t> out = headerBytes(h.id, static_cast<uint16_t>(h.flags | kFlagTc), 1, 0, 0,
                                           parsedAnswer.edns ? 1 : 0);
    appendQuestion(out, answer, parsedAnswer);
    if (parsedAnswer.edns)
        appendOptCopy(out, answer, *parsedAnswer.edns);
    return out;
}

std::vector<uint8_t> errorResponse(std::span<const uint8_t> queryBytes, const Message* query,
                                   Rcode rcode) {
    const uint16_t id = queryBytes.size() >= 2 ? read16(queryBytes, 0) : 0;
    const uint16_t queryFlags = queryBytes.size() >= 4 ? read16(queryBytes, 2) : 0;
    const auto flags = static_cast<uint16_t>(kFlagQr | (queryFlags & (kOpcodeMask | kFlagRd)) |
                                             kFlagRa | static_cast<uint16_t>(rcode));
    if (!query)
        return headerBytes(id, flags, 0, 0, 0, 0);
    std::vector<uint8_t> out = headerBytes(id, flags, 1, 0, 0, query->edns ? 1 : 0);
    appendQuestion(out, queryBytes, *query);
    if (query->edns)
        appendOwnOpt(out, query->edns->dnssecOk);
    return out;
}

std::vector<uint8_t> notImpResponse(std::span<const uint8_t> queryBytes) {
    const ParseResult parsed = parseMessage(queryBytes, true);
    if (!parsed.message)
        return errorResponse(queryBytes, nullptr, Rcode::NotImp);
    const Message& query = *parsed.message;
    if (query.header.qdcount == 1)
        return errorResponse(queryBytes, &query, Rcode::NotImp);
    std::vector<uint8_t> out = errorResponse(queryBytes, nullptr, Rcode::NotImp);
    if (query.edns) {
        out[11] = 1;  // ARCOUNT 1
        appendOwnOpt(out, query.edns->dnssecOk);
    }
    return out;
}

std::vector<uint8_t> badVersResponse(std::span<const uint8_t> queryBytes, const Message& query) {
    // BADVERS is 16: its upper 8 bits (1) go in OPT, its lower 4 (0) in the header.
    std::vector<uint8_t> out = errorResponse(queryBytes, nullptr, Rcode::NoError);
    out[5] = 1;   // QDCOUNT 1
    out[11] = 1;  // ARCOUNT 1
    appendQuestion(out, queryBytes, query);
    appendOwnOpt(out, query.edns && query.edns->dnssecOk, 1);
    return out;
}

std::optional<uint32_t> cacheableTtl(std::span<const uint8_t> answer, const Message& parsed) {
    if (parsed.header.tc())
        return std::nullopt;  // RFC 2181 §9: never cache a partial answer
    // An extended rcode (BADVERS, BADCOOKIE...) makes the full rcode something other than the
    // header's four bits say (RFC 6891 §6.1.3).
    if (parsed.edns && parsed.edns->extendedRcode != 0)
        return std::nullopt;
    const auto rcode = static_cast<Rcode>(parsed.header.rcode());
    if (rcode != Rcode::NoError && rcode != Rcode::NxDomain)
        return std::nullopt;

    std::optional<uint32_t> answerMin;
    std::optional<uint32_t> allMin;
    for (const RecordRef& record : parsed.records) {
        const uint32_t ttl = effectiveTtl(record.ttl);
        allMin = std::min(allMin.value_or(ttl), ttl);
        if (record.section == Section::Answer)
            answerMin = std::min(answerMin.value_or(ttl), ttl);
    }
    if (rcode == Rcode::NoError && answerMin)
        return allMin;

    // Negative (NXDOMAIN, or NOERROR without answers = NODATA): RFC 2308 §5 caches it for
    // min(SOA TTL, SOA MINIMUM) of the authority SOA, and not at all without one (§5: "negative
    // responses without SOA records SHOULD NOT be cached"; a referral lands here too).
    for (const RecordRef& record : parsed.records) {
        if (record.section != Section::Authority || record.type != type::SOA)
            continue;
        // SOA RDATA (RFC 1035 §3.3.13): MNAME and RNAME, both compressible, then SERIAL,
        // REFRESH, RETRY, EXPIRE, MINIMUM as 32-bit values.
        const size_t rdataEnd = record.rdataOffset + record.rdataLength;
        const std::span<const uint8_t> upToRdataEnd = answer.first(rdataEnd);
        const NameResult mname = readName(upToRdataEnd, record.rdataOffset, nullptr);
        if (mname.error)
            return std::nullopt;
        const NameResult rname = readName(upToRdataEnd, mname.end, nullptr);
        if (rname.error || rname.end + 20 != rdataEnd)
            return std::nullopt;
        const uint32_t minimum = effectiveTtl(read32(answer, rname.end + 16));
        uint32_t ttl = std::min(effectiveTtl(record.ttl), minimum);
        // A CNAME chain ending in NXDOMAIN/NODATA: the CNAMEs must not outlive their TTLs.
        if (answerMin)
            ttl = std::min(ttl, *answerMin);
        return ttl;
    }
    return std::nullopt;
}

std::optional<std::vector<uint8_t>> withoutEdnsOption(std::span<const uint8_t> message,
                                                      const Message& parsed, uint16_t code) {
    std::vector<uint8_t> out(message.begin(), message.end());
    if (!parsed.edns)
        return out;
    const NameResult owner = readName(message, parsed.edns->offset, nullptr);
    if (owner.error || owner.end + kFixedRrSize > message.size())
        return std::nullopt;  // parse() walked it: cannot happen for a parsed message
    const size_t rdlengthOffset = owner.end + 8;
    const size_t rdataStart = owner.end + kFixedRrSize;
    const size_t rdataEnd = rdataStart + read16(message, rdlengthOffset);
    if (rdataEnd > message.size())
        return std::nullopt;

    // RFC 6891 §6.1.2: RDATA is a sequence of {OPTION-CODE, OPTION-LENGTH, OPTION-DATA}.
    std::vector<uint8_t> kept;
    bool found = false;
    for (size_t position = rdataStart; position < rdataEnd;) {
        if (position + 4 > rdataEnd)
            return std::nullopt;
        const uint16_t optionCode = read16(message, position);
        const size_t next = position + 4 + read16(message, position + 2);
        if (next > rdataEnd)
            return std::nullopt;
        if (optionCode == code) {
            found = true;
        } else {
            kept.insert(kept.end(), message.begin() + static_cast<std::ptrdiff_t>(position),
                        message.begin() + static_cast<std::ptrdiff_t>(next));
        }
        position = next;
    }
    if (!found)
        return out;
    if (rdataEnd != message.size())
        return std::nullopt;
    out.resize(rdataStart);
    out.insert(out.end(), kept.begin(), kept.end());
    write16(out, rdlengthOffset, static_cast<uint16_t>(kept.size()));
    return out;
}

void decrementTtls(std::span<uint8_t> answer, const std::vector<RecordRef>& records,
                   uint32_t elapsed) {
    for (const RecordRef& record : records) {
        if (record.ttlOffset + 4 > answer.size())
            continue;
        const uint32_t ttl = effectiveTtl(read32(answer, record.ttlOffset));
        write32(answer, record.ttlOffset, ttl > elapsed ? ttl - elapsed : 0);
    }
}

void capTtls(std::span<uint8_t> answer, const std::vector<RecordRef>& records, uint32_t maxTtl) {
    for (const RecordRef& record : records) {
        if (record.ttlOffset + 4 > answer.size())
            continue;
        const uint32_t ttl = effectiveTtl(read32(answer, record.ttlOffset));
        write32(answer, record.ttlOffset, std::min(ttl, maxTtl));
    }
}

void setTtls(std::span<uint8_t> answer, const std::vector<RecordRef>& records, uint32_t ttl) {
    for (const RecordRef& record : records) {
        if (record.ttlOffset + 4 <= answer.size())
            write32(answer, record.ttlOffset, ttl);
    }
}

ResponseWriter::ResponseWriter(std::span<const uint8_t> queryBytes, const Message& query,
                               std::vector<uint8_t> buffer)
    : bytes_(std::move(buffer)), query_(query) {
    const auto flags = static_cast<uint16_t>(
        kFlagQr | kFlagAa | kFlagRa | (query.header.flags & (kOpcodeMask | kFlagRd | kFlagCd)));
    bytes_.clear();
    bytes_.reserve(kMaxUdpPayloadWithoutEdns);
    appendHeader(bytes_, query.header.id, flags, 1, 0, 0, 0);
    appendQuestion(bytes_, queryBytes, query);
}

void ResponseWriter::setRcode(Rcode rcode) {
    bytes_[3] = static_cast<uint8_t>((bytes_[3] & 0xf0) | static_cast<uint8_t>(rcode));
}

void ResponseWriter::addAnswer(uint16_t rrType, uint32_t ttl, std::span<const uint8_t> rdata) {
    // Owner: a pointer to the question name at offset 12 (RFC 1035 §4.1.4). Class IN even for a
    // QCLASS * question: the data we synthesize is IN data.
    append16(bytes_, kPointerToQuestion);
    appendRecordAfterOwner(rrType, ttl, rdata);
}

void ResponseWriter::addAnswer(std::string_view ownerWire, uint16_t rrType, uint32_t ttl,
                               std::span<const uint8_t> rdata) {
    if (ownerWire == query_.qnameWire) {
        addAnswer(rrType, ttl, rdata);
        return;
    }
    bytes_.insert(bytes_.end(), ownerWire.begin(), ownerWire.end());
    appendRecordAfterOwner(rrType, ttl, rdata);
}

void ResponseWriter::appendRecordAfterOwner(uint16_t rrType, uint32_t ttl,
                                            std::span<const uint8_t> rdata) {
    const auto length = static_cast<uint16_t>(rdata.size());
    const uint8_t fixed[kFixedRrSize] = {
        static_cast<uint8_t>(rrType >> 8),   static_cast<uint8_t>(rrType),
        static_cast<uint8_t>(kClassIn >> 8), static_cast<uint8_t>(kClassIn),
        static_cast<uint8_t>(ttl >> 24),     static_cast<uint8_t>(ttl >> 16),
        static_cast<uint8_t>(ttl >> 8),      static_cast<uint8_t>(ttl),
        static_cast<uint8_t>(length >> 8),   static_cast<uint8_t>(length)};
    bytes_.insert(bytes_.end(), fixed, fixed + kFixedRrSize);
    bytes_.insert(bytes_.end(), rdata.begin(), rdata.end());
    ++ancount_;
}

void ResponseWriter::addSyntheticSoa(uint32_t ttl) {
    static constexpr char kHostmaster[] = "hostmaster";
    constexpr size_t kHostmasterLength = sizeof kHostmaster - 1;
    std::vector<uint8_t> rdata;
    append16(rdata, kPointerToQuestion);  // MNAME = qname
    // RNAME = hostmaster.qname, unless that would exceed 255 bytes (a long name under a
    // wildcard); then qname itself, still a valid mailbox name.
    if (query_.qnameWire.size() + 1 + kHostmasterLength <= kMaxNameLength) {
        rdata.push_back(static_cast<uint8_t>(kHostmasterLength));
        rdata.insert(rdata.end(), kHostmaster, kHostmaster + kHostmasterLength);
    }
    append16(rdata, kPointerToQuestion);
    append32(rdata, 1);      // SERIAL
    append32(rdata, 3600);   // REFRESH
    append32(rdata, 600);    // RETRY
    append32(rdata, 86400);  // EXPIRE
    append32(rdata, ttl);    // MINIMUM: the negative TTL (RFC 2308 §4)
    append16(authority_, kPointerToQuestion);
    append16(authority_, type::SOA);
    append16(authority_, kClassIn);
    append32(authority_, ttl);
    append16(authority_, static_cast<uint16_t>(rdata.size()));
    authority_.insert(authority_.end(), rdata.begin(), rdata.end());
    ++nscount_;
}

std::vector<uint8_t> ResponseWriter::finish() {
    std::vector<uint8_t> out = std::move(bytes_);
    if (!authority_.empty())
        out.insert(out.end(), authority_.begin(), authority_.end());
    if (query_.edns)
        appendOwnOpt(out, query_.edns->dnssecOk);
    write16(out, 6, ancount_);
    write16(out, 8, nscount_);
    write16(out, 10, query_.edns ? 1 : 0);
    bytes_.clear();
    authority_.clear();
    ancount_ = 0;
    nscount_ = 0;
    return out;
}

}  // namespace dynamo::dns
