#pragma once
// The DNS wire codec (RFC 1035 §4, RFC 6891 for EDNS). c-ares 1.18 has no record API, so this
// is ours. Pure code: bytes in, values or bytes out; no sockets, no clocks. Every input is
// untrusted: parsing checks every length, count and compression pointer and never asserts.

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo::dns {

inline constexpr size_t kHeaderSize = 12;
inline constexpr size_t kMaxUdpPayloadWithoutEdns = 512;  // RFC 1035 §4.2.1
inline constexpr size_t kMaxUdpPayload = 1232;            // DNS flag day 2020 default
inline constexpr size_t kMaxNameLength = 255;             // wire form, RFC 1035 §3.1

namespace type {
inline constexpr uint16_t A = 1;
inline constexpr uint16_t NS = 2;
inline constexpr uint16_t CNAME = 5;
inline constexpr uint16_t SOA = 6;
inline constexpr uint16_t PTR = 12;
inline constexpr uint16_t MX = 15;
inline constexpr uint16_t TXT = 16;
inline constexpr uint16_t AAAA = 28;
inline constexpr uint16_t SRV = 33;
inline constexpr uint16_t OPT = 41;
inline constexpr uint16_t SVCB = 64;
inline constexpr uint16_t HTTPS = 65;
inline constexpr uint16_t ANY = 255;
}  // namespace type
inline constexpr uint16_t kClassIn = 1;

// Header flag bits (RFC 1035 §4.1.1, RFC 4035 §3.2 for AD and CD), as in Header::flags.
namespace flag {
inline constexpr uint16_t kQr = 0x8000;
inline constexpr uint16_t kAa = 0x0400;
inline constexpr uint16_t kTc = 0x0200;
inline constexpr uint16_t kRd = 0x0100;
inline constexpr uint16_t kRa = 0x0080;
inline constexpr uint16_t kAd = 0x0020;
inline constexpr uint16_t kCd = 0x0010;
}  // namespace flag

enum class Rcode : uint8_t {
    NoError = 0,
    FormErr = 1,
    ServFail = 2,
    NxDomain = 3,
    NotImp = 4,
    Refused = 5,
};

enum class Section : uint8_t { Answer, Authority, Additional };

// The fixed 12-byte header (RFC 1035 §4.1.1).
struct Header {
    uint16_t id = 0;
    uint16_t flags = 0;
    uint16_t qdcount = 0;
    uint16_t ancount = 0;
    uint16_t nscount = 0;
    uint16_t arcount = 0;

    bool qr() const { return flags & 0x8000; }
    uint8_t opcode() const { return (flags >> 11) & 0x0f; }
    bool aa() const { return flags & 0x0400; }
    bool tc() const { return flags & 0x0200; }
    bool rd() const { return flags & 0x0100; }
    bool ra() const { return flags & 0x0080; }
    bool ad() const { return flags & 0x0020; }
    bool cd() const { return flags & 0x0010; }
    uint8_t rcode() const { return flags & 0x000f; }
};

// Reads the header; nullopt when fewer than 12 bytes.
std::optional<Header> readHeader(std::span<const uint8_t> message);

// The OPT pseudo-record (RFC 6891 §6.1.2).
struct Edns {
    uint16_t udpPayloadSize = 0;  // the requestor's size, as sent (values below 512 mean 512)
    uint8_t extendedRcode = 0;
    uint8_t version = 0;
    bool dnssecOk = false;  // DO
    size_t offset = 0;      // where the OPT RR starts in the message
};

// One resource record found while walking the message (OPT excluded).
struct RecordRef {
    Section section;
    uint16_t type;
    uint16_t rclass;
    uint32_t ttl;
    size_t ttlOffset;    // where the 4-byte TTL sits, for rewriting it in place
    size_t rdataOffset;  // where RDATA starts
    uint16_t rdataLength;
};

// An uncompressed wire-form name of at most kMaxNameLength bytes, held inline: parsing a
// question allocates nothing (every query is parsed, so this is the hot path's name type).
class WireName {
  public:
    WireName() = default;
    // Only the bytes in use are copied.
    WireName(const WireName& other) : size_(other.size_) {
        std::copy_n(other.bytes_.data(), size_, bytes_.data());
    }
    WireName& operator=(const WireName& other) {
        if (this != &other) {
            size_ = other.size_;
            std::copy_n(other.bytes_.data(), size_, bytes_.data());
        }
        return *this;
    }

    std::string_view view() const { return {bytes_.data(), size_}; }
    operator std::string_view() const { return view(); }  // NOLINT: a name is its bytes
    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    const char* data() const { return bytes_.data(); }
    void clear() { size_ = 0; }
    // The caller keeps the total within kMaxNameLength (readName checks before appending).
    void push_back(char c) { bytes_[size_++] = c; }
    // `length` bytes with ASCII letters lower-cased (RFC 4343: case-insensitive, ASCII only).
    void appendLower(const uint8_t* bytes, size_t length) {
        char* out = bytes_.data() + size_;
        for (size_t i = 0; i < length; ++i) {
            const uint8_t c = bytes[i];
            out[i] = static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
        }
        size_ = static_cast<uint16_t>(size_ + length);
    }

    friend bool operator==(const WireName& a, const WireName& b) { return a.view() == b.view(); }
    friend bool operator==(const WireName& a, std::string_view b) { return a.view() == b; }

  private:
    std::array<char, kMaxNameLength> bytes_;  // only the first size_ bytes are meaningful
    uint16_t size_ = 0;
};

// A message whose every section has been walked and bounds-checked.
struct Message {
    Header header;
    // The first question: the uncompressed wire form with ASCII letters lower-cased (the
    // cache key, and what interception and local names compare).
    WireName qnameWire;
    // Its presentation form, lower-case, no trailing dot ("" for the root), with RFC 1035 §5.1
    // escapes for '.', '\\' and non-printable bytes. Built on demand: most queries never
    // need it.
    std::string qname() const;
    uint16_t qtype = 0;
    uint16_t qclass = 0;
    size_t questionEnd = 0;  // offset just past the question section
    std::optional<Edns> edns;
    std::vector<RecordRef> records;  // answer, authority, additional order; OPT not included
};

enum class ParseError {
    TooShort,        // fewer than 12 bytes
    BadName,         // label too long, name too long, pointer out of range or looping
    Truncated,       // a section or record runs past the end
    BadQuestion,     // QDCOUNT is not 1 (we only handle single-question messages)
    BadOpt,          // more than one OPT, or OPT outside the additional section or not at root
    TrailingGarbage  // bytes left after the last record
};

struct ParseResult {
    std::optional<Message> message;
    ParseError error = ParseError::TooShort;  // meaningful when message is empty
};

// Walks the whole message. For queries and answers alike.
ParseResult parse(std::span<const uint8_t> bytes);
// The same into `message`, whose record list keeps its capacity from message to message (the
// forwarded answer's parse allocates nothing); false, and `message` meaningless, when
// parse() would fail.
bool parseInto(std::span<const uint8_t> bytes, Message& message);

// For logs and tests.
const char* toString(ParseError error);

// A presentation-form name ("Example.COM", "example.com.", "a\\.b", "\\065") in uncompressed
// wire form with ASCII letters lower-cased, comparable with Message::qnameWire; nullopt when it
// is malformed (empty label, label over 63 bytes, name over 255 bytes, bad escape). "" and "."
// are the root.
std::optional<std::string> nameToWire(std::string_view presentation);
// The inverse for an uncompressed wire name: lower-case presentation form, no trailing dot.
std::string wireToPresentation(std::string_view wire);
// The same into `out` (cleared first), whose capacity a caller can reuse from query to query.
void wireToPresentation(std::string_view wire, std::string& out);

// Header fields rewritten in place; the caller guarantees at least 12 bytes.
void setId(std::span<uint8_t> message, uint16_t id);
uint16_t getId(std::span<const uint8_t> message);
void clearFlags(std::span<uint8_t> message, uint16_t flags);  // flag::k* bits

// A 16-bit field in network byte order, for the code that builds RDATA.
void appendUint16(std::vector<uint8_t>& out, uint16_t value);
// Whether wire name `suffix` is `name` minus one or more whole leading labels: the test behind
// "*.example.net" patterns (RFC 4592 §2.1.1: a wildcard matches only names below its parent).
bool isStrictlyBelow(std::string_view name, std::string_view suffix);

// The largest answer a client can take over UDP: 512 without EDNS, else its advertised size
// clamped to [512, kMaxUdpPayload] (RFC 6891 §7, docs/dns.md#truncation).
size_t maxUdpAnswerSize(const Message& query);

// The answer cut down to header, question and OPT with TC=1 (RFC 2181 §9; RFC 6891 §7 keeps
// OPT), for a UDP client that cannot take the whole answer.
std::vector<uint8_t> truncated(std::span<const uint8_t> answer, const Message& parsedAnswer);

// An error answer to a query: same ID, opcode and RD; QR=1, RA=1, the given rcode; the question
// echoed and an OPT added (payload kMaxUdpPayload, DO copied) when the query had them. With
// query == nullptr (it did not parse) only the header is sent back, QDCOUNT 0.
std::vector<uint8_t> errorResponse(std::span<const uint8_t> queryBytes, const Message* query,
                                   Rcode rcode);

// NOTIMP to a query whose opcode we do not serve (RFC 1035 §4.1.1), whatever its question
// count: RFC 8906 §8.1.4 probes with a header-only query (QDCOUNT 0). Same ID, opcode and RD;
// QR=1, RA=1; the question echoed when there is one, and an OPT (RFC 6891 §7) when the
// query's sections walk and carry one; else the bare header.
std::vector<uint8_t> notImpResponse(std::span<const uint8_t> queryBytes);

// BADVERS (RFC 6891 §6.1.3) to a query whose EDNS version we do not implement (> 0): the
// question echoed and an OPT of version 0, the version we speak.
std::vector<uint8_t> badVersResponse(std::span<const uint8_t> queryBytes, const Message& query);

// How long an answer may be cached, per RFC 2308 for negative answers: the smallest TTL of its
// records for a positive answer; for NXDOMAIN or NODATA min(SOA TTL, SOA MINIMUM) of the
// authority SOA; nullopt when it must not be cached (no SOA on a negative answer, TC set, an
// rcode other than NOERROR/NXDOMAIN). SERVFAIL's short caching is the cache's policy, not this.
std::optional<uint32_t> cacheableTtl(std::span<const uint8_t> answer, const Message& parsed);

namespace edns_option {
inline constexpr uint16_t kCookie = 10;  // RFC 7873 §4
}  // namespace edns_option

// `message` with every EDNS option `code` removed from its OPT RDATA (RFC 6891 §6.1.2) and
// RDLENGTH fixed; an unchanged copy when it has no OPT or no such option. nullopt when the
// option is there but cannot be removed safely: the OPT RDATA does not walk as options, or the
// OPT is not the message's last record (a later name could point past it, RFC 1035 §4.1.4,
// and the shift would break it). Record offsets before the OPT do not move.
std::optional<std::vector<uint8_t>> withoutEdnsOption(std::span<const uint8_t> message,
                                                      const Message& parsed, uint16_t code);

// Subtracts `elapsed` seconds from every TTL (OPT excluded), not below zero (RFC 1035 §3.2.1).
void decrementTtls(std::span<uint8_t> answer, const std::vector<RecordRef>& records,
                   uint32_t elapsed);
// Lowers every TTL above `maxTtl` to it (OPT excluded): a cache never promises data for longer
// than it keeps it.
void capTtls(std::span<uint8_t> answer, const std::vector<RecordRef>& records, uint32_t maxTtl);
// Sets every TTL (OPT excluded) to `ttl`: stale data goes out with one short TTL (RFC 8767 §4).
void setTtls(std::span<uint8_t> answer, const std::vector<RecordRef>& records, uint32_t ttl);

// Builds an authoritative answer to `query` for interception: ID, opcode, RD and CD copied,
// QR=1, AA=1, RA=1, the question echoed as the client sent it. Record owners point at the
// question name (compression pointer to offset 12).
class ResponseWriter {
  public:
    // `buffer`: storage to build in (cleared; its capacity is reused), returned by finish().
    ResponseWriter(std::span<const uint8_t> queryBytes, const Message& query,
                   std::vector<uint8_t> buffer = {});

    void setRcode(Rcode rcode);
    void addAnswer(uint16_t type, uint32_t ttl, std::span<const uint8_t> rdata);
    // The same with another owner (`ownerWire`: an uncompressed wire name), for the records a
    // CNAME leads to (RFC 1034 §4.3.2 step 3a).
    void addAnswer(std::string_view ownerWire, uint16_t type, uint32_t ttl,
                   std::span<const uint8_t> rdata);
    // A synthetic SOA for the question name in the authority section, so negative answers can
    // be cached (RFC 2308 §3): MNAME = qname, RNAME = hostmaster.qname, MINIMUM = ttl.
    void addSyntheticSoa(uint32_t ttl);
    // Appends OPT when the query had one (payload kMaxUdpPayload, DO copied) and returns bytes.
    std::vector<uint8_t> finish();

  private:
    // Type, class IN, TTL, RDLENGTH and RDATA after an owner name already written.
    void appendRecordAfterOwner(uint16_t rrType, uint32_t ttl, std::span<const uint8_t> rdata);
    std::vector<uint8_t> bytes_;
    std::vector<uint8_t> authority_;  // kept apart so answers and SOA may be added in any order
    const Message& query_;
    uint16_t ancount_ = 0;
    uint16_t nscount_ = 0;
};

}  // namespace dynamo::dns
