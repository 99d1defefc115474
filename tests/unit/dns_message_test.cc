#include "resolver/dns_message.h"

#include <gtest/gtest.h>

#include "dns_test_util.h"

namespace dynamo::dns {
namespace {

using test::Bytes;
using test::kQnamePointer;
using test::MessageBuilder;
using test::parseOrDie;
using test::wireName;

const Bytes kAddress1 = {192, 0, 2, 1};
const Bytes kAddress2 = {192, 0, 2, 2};

ParseError parseError(const Bytes& bytes) {
    const ParseResult result = parse(bytes);
    EXPECT_FALSE(result.message.has_value());
    return result.error;
}

// ---------------------------------------------------------------------------------------------
// parse(): the good paths

TEST(DnsParse, Query) {
    const Bytes query = MessageBuilder().id(0xbeef).question("Members.DynDNS.org", type::A).build();
    const Message message = parseOrDie(query);
    EXPECT_EQ(message.header.id, 0xbeef);
    EXPECT_TRUE(message.header.rd());
    EXPECT_FALSE(message.header.qr());
    EXPECT_EQ(message.qname(), "members.dyndns.org");
    EXPECT_EQ(message.qnameWire, std::string("\7members\6dyndns\3org", 19) + '\0');
    EXPECT_EQ(message.qtype, type::A);
    EXPECT_EQ(message.qclass, kClassIn);
    EXPECT_EQ(message.questionEnd, query.size());
    EXPECT_FALSE(message.edns.has_value());
    EXPECT_TRUE(message.records.empty());
}

TEST(DnsParse, AnswerWithCompressionAndEdns) {
    const Bytes answer = MessageBuilder()
                             .response()
                             .question("www.example.com", type::A)
                             .answer(type::A, 300, kAddress1)
                             .answer(type::A, 200, kAddress2)
                             .record(Section::Authority, {0xc0, 0x10}, type::NS, 3600,
                                     Bytes{3, 'n', 's', '1', 0xc0, 0x10})
                             .opt(4096, true)
                             .build();
    const Message message = parseOrDie(answer);
    ASSERT_EQ(message.records.size(), 3u);
    EXPECT_EQ(message.records[0].section, Section::Answer);
    EXPECT_EQ(message.records[0].ttl, 300u);
    EXPECT_EQ(message.records[0].rdataLength, 4);
    EXPECT_EQ(message.records[0].ttlOffset, message.questionEnd + 2 + 4);
    EXPECT_EQ(Bytes(answer.begin() + static_cast<long>(message.records[1].rdataOffset),
                    answer.begin() + static_cast<long>(message.records[1].rdataOffset) + 4),
              kAddress2);
    EXPECT_EQ(message.records[2].section, Section::Authority);
    EXPECT_EQ(message.records[2].type, type::NS);
    ASSERT_TRUE(message.edns.has_value());
    EXPECT_EQ(message.edns->udpPayloadSize, 4096);
    EXPECT_TRUE(message.edns->dnssecOk);
    EXPECT_EQ(message.edns->version, 0);
    EXPECT_EQ(message.edns->offset, answer.size() - 11);
}

TEST(DnsParse, EdnsVersionAndExtendedRcode) {
    Bytes opt = {0};
    test::put16(opt, type::OPT);
    test::put16(opt, 1400);
    test::put32(opt, 0x01020000);  // extended rcode 1, version 2, DO clear
    test::put16(opt, 0);
    const Message message =
        parseOrDie(MessageBuilder().question("a.b", type::A).raw(Section::Additional, opt).build());
    ASSERT_TRUE(message.edns);
    EXPECT_EQ(message.edns->extendedRcode, 1);
    EXPECT_EQ(message.edns->version, 2);
    EXPECT_FALSE(message.edns->dnssecOk);
}

TEST(DnsParse, QnamePresentationEscapes) {
    // RFC 1035 §5.1: "." and "\" inside a label are escaped, non-printable bytes are \DDD.
    Bytes name = {5, 'A', '.', 'b', '\\', ' ', 2, 0xff, 'Z', 0};
    Bytes query;
    test::put16(query, 1);
    test::put16(query, 0);
    test::put16(query, 1);
    for (int i = 0; i < 3; ++i)
        test::put16(query, 0);
    query.insert(query.end(), name.begin(), name.end());
    test::put16(query, type::A);
    test::put16(query, kClassIn);
    const Message message = parseOrDie(query);
    EXPECT_EQ(message.qname(), "a\\.b\\\\\\032.\\255z");
    EXPECT_EQ(nameToWire(message.qname()), message.qnameWire);
}

TEST(DnsParse, RootQname) {
    const Message message = parseOrDie(MessageBuilder().question(".", type::NS).build());
    EXPECT_EQ(message.qname(), "");
    EXPECT_EQ(message.qnameWire, std::string(1, '\0'));
}

TEST(DnsParse, NameOf255BytesIsAccepted) {
    // 3 × (1 + 63) + (1 + 62) = 255 with the root byte... 192 + 62 + 1 = 255.
    const std::string name = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                             std::string(63, 'c') + "." + std::string(61, 'd');
    ASSERT_EQ(wireName(name).size(), 255u);
    const Message message = parseOrDie(MessageBuilder().question(name, type::A).build());
    EXPECT_EQ(message.qnameWire.size(), 255u);
    EXPECT_EQ(message.qname(), name);
}

TEST(DnsParse, NameOf256BytesIsRefused) {
    const std::string name = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                             std::string(63, 'c') + "." + std::string(62, 'd');
    ASSERT_EQ(wireName(name).size(), 256u);
    EXPECT_EQ(parseError(MessageBuilder().question(name, type::A).build()), ParseError::BadName);
}

TEST(DnsParse, CompressedNameOver255BytesIsRefused) {
    // The owner is 250 bytes of labels plus a pointer to a 19-byte name: each part fits, the
    // whole does not.
    const std::string longPart = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                                 std::string(63, 'c') + "." + std::string(57, 'd');
    Bytes owner = wireName(longPart);
    owner.pop_back();  // drop the root, continue with the pointer
    owner.insert(owner.end(), kQnamePointer.begin(), kQnamePointer.end());
    const Bytes answer = MessageBuilder()
                             .response()
                             .question("members.dyndns.org", type::A)
                             .record(Section::Answer, owner, type::A, 60, kAddress1)
                             .build();
    EXPECT_EQ(parseError(answer), ParseError::BadName);
}

// ---------------------------------------------------------------------------------------------
// parse(): every ParseError

TEST(DnsParse, TooShort) {
    EXPECT_EQ(parseError(Bytes{}), ParseError::TooShort);
    EXPECT_EQ(parseError(Bytes(11, 0)), ParseError::TooShort);
    EXPECT_FALSE(readHeader(Bytes(11, 0)).has_value());
    EXPECT_TRUE(readHeader(Bytes(12, 0)).has_value());
}

TEST(DnsParse, QuestionCountOtherThanOne) {
    EXPECT_EQ(parseError(Bytes(12, 0)), ParseError::BadQuestion);
    EXPECT_EQ(parseError(MessageBuilder().question("a.b", type::A).qdcount(2).build()),
              ParseError::BadQuestion);
}

TEST(DnsParse, TruncatedEverywhere) {
    const Bytes answer = MessageBuilder()
                             .response()
                             .question("www.example.com", type::A)
                             .answer(type::A, 300, kAddress1)
                             .build();
    // Every proper prefix past the header is either a truncated name/question or record.
    for (size_t size = kHeaderSize; size < answer.size(); ++size) {
        const Bytes prefix(answer.begin(), answer.begin() + static_cast<long>(size));
        EXPECT_EQ(parseError(prefix), ParseError::Truncated) << "size " << size;
    }
    EXPECT_TRUE(parse(answer).message.has_value());
}

TEST(DnsParse, RdlengthPastTheEnd) {
    Bytes answer = MessageBuilder()
                       .response()
                       .question("a.b", type::A)
                       .answer(type::A, 300, kAddress1)
                       .build();
    answer[answer.size() - 5] = 5;  // RDLENGTH 4 → 5
    EXPECT_EQ(parseError(answer), ParseError::Truncated);
}

TEST(DnsParse, CountsLargerThanTheRecords) {
    Bytes answer = MessageBuilder()
                       .response()
                       .question("a.b", type::A)
                       .answer(type::A, 300, kAddress1)
                       .build();
    answer[7] = 2;  // ANCOUNT 2, one record present
    EXPECT_EQ(parseError(answer), ParseError::Truncated);
    answer[7] = 0xff;
    answer[6] = 0xff;
    EXPECT_EQ(parseError(answer), ParseError::Truncated);
}

TEST(DnsParse, TrailingGarbage) {
    Bytes query = MessageBuilder().question("a.b", type::A).build();
    query.push_back(0);
    EXPECT_EQ(parseError(query), ParseError::TrailingGarbage);
}

TEST(DnsParse, LabelTypes0x40And0x80AreRefused) {
    for (uint8_t kind : {uint8_t{0x40}, uint8_t{0x80}}) {
        Bytes query = MessageBuilder().question("a.b", type::A).build();
        query[kHeaderSize] = kind | 1;
        EXPECT_EQ(parseError(query), ParseError::BadName) << int{kind};
    }
}

TEST(DnsParse, LabelOf64BytesIsRefused) {
    // 64 = 0x40 is the extended label type: a 64-byte label cannot even be written.
    EXPECT_EQ(parseError(MessageBuilder().question(std::string(64, 'x'), type::A).build()),
              ParseError::BadName);
    EXPECT_TRUE(parse(MessageBuilder().question(std::string(63, 'x'), type::A).build()).message);
}

Bytes answerWithOwner(const Bytes& owner) {
    return MessageBuilder()
        .response()
        .question("www.example.com", type::A)
        .record(Section::Answer, owner, type::A, 60, kAddress1)
        .build();
}

TEST(DnsParse, PointerBackwardsIsAccepted) {
    EXPECT_TRUE(parse(answerWithOwner(kQnamePointer)).message);
    EXPECT_TRUE(parse(answerWithOwner({0xc0, 0x10})).message);  // "example.com" inside qname
    EXPECT_TRUE(parse(answerWithOwner({3, 'f', 'o', 'o', 0xc0, 0x0c})).message);
}

TEST(DnsParse, PointerToItselfIsALoop) {
    // The owner starts right after the 21-byte question at 12 + 21 = 33.
    EXPECT_EQ(parseError(answerWithOwner({0xc0, 33})), ParseError::BadName);
}

TEST(DnsParse, PointerForwardIsRefused) {
    EXPECT_EQ(parseError(answerWithOwner({0xc0, 40})), ParseError::BadName);
    EXPECT_EQ(parseError(answerWithOwner({0xff, 0xff})), ParseError::BadName);
}

TEST(DnsParse, PointerBackIntoItsOwnLabelsIsALoop) {
    // \3foo then a pointer to the \3foo: the pointer points backwards from its own position,
    // but reading from its target runs into it again. Refused because the target is not
    // before the start of the segment being read.
    EXPECT_EQ(parseError(answerWithOwner({3, 'f', 'o', 'o', 0xc0, 33})), ParseError::BadName);
}

TEST(DnsParse, TwoPointersPointingAtEachOther) {
    // Record 1's RDATA holds a pointer to record 2's owner, which points back at it: the first
    // jump goes forward, so it is refused whichever is read first.
    Bytes answer = MessageBuilder()
                       .response()
                       .question("www.example.com", type::A)
                       .record(Section::Answer, kQnamePointer, type::CNAME, 60, {0xc0, 47})
                       .record(Section::Answer, {0xc0, 45}, type::A, 60, kAddress1)
                       .build();
    // Record 1: owner at 33 (2 bytes), fixed 10, RDATA at 45; record 2's owner at 47.
    ASSERT_EQ(answer[45], 0xc0);
    ASSERT_EQ(answer[47], 0xc0);
    EXPECT_EQ(parseError(answer), ParseError::BadName);
}

TEST(DnsParse, PointerIntoATtlFieldIsRefused) {
    // Found by the fuzzer: an owner pointing into the previous record's TTL (offset 33 + 2 + 4
    // + 2 = 41, its low half) reads "\1," as a label. The cache rewrites TTLs in place, which
    // would rewrite this name too.
    const Bytes answer = MessageBuilder()
                             .response()
                             .question("www.example.com", type::A)
                             .answer(type::A, 0x0200012c, kAddress1)
                             .record(Section::Answer, {0xc0, 41}, type::A, 60, kAddress2)
                             .build();
    ASSERT_EQ(answer[41], 0x01);
    EXPECT_EQ(parseError(answer), ParseError::BadName);
}

TEST(DnsParse, PointerIntoRdataNameIsAccepted) {
    // A CNAME target's labels are a legitimate pointer target (the usual CNAME-chain layout).
    const Bytes answer = MessageBuilder()
                             .response()
                             .question("www.example.com", type::A)
                             .answer(type::CNAME, 60, {3, 'c', 'd', 'n', 0xc0, 0x10})
                             .record(Section::Answer, {0xc0, 45}, type::A, 60, kAddress1)
                             .build();
    EXPECT_TRUE(parse(answer).message);
}

TEST(DnsParse, PointerIntoHeaderIsRefused) {
    EXPECT_EQ(parseError(answerWithOwner({0xc0, 0x02})), ParseError::BadName);
}

TEST(DnsParse, PointerChainIsBounded) {
    // Record 1's RDATA is a chain: p[0] → qname, p[i] → p[i-1]. Record 2's owner points at the
    // last link. Each jump is legal on its own; the chain length is what is bounded.
    const auto build = [](int links) {
        const size_t rdataStart = 12 + 21 + 2 + 10;
        Bytes rdata = kQnamePointer;
        for (int i = 1; i < links; ++i) {
            const size_t previous = rdataStart + 2 * static_cast<size_t>(i - 1);
            rdata.push_back(static_cast<uint8_t>(0xc0 | (previous >> 8)));
            rdata.push_back(static_cast<uint8_t>(previous));
        }
        const size_t last = rdataStart + 2 * static_cast<size_t>(links - 1);
        return MessageBuilder()
            .response()
            .question("www.example.com", type::A)
            .record(Section::Answer, kQnamePointer, 0xff00, 60, rdata)
            .record(Section::Answer,
                    {static_cast<uint8_t>(0xc0 | (last >> 8)), static_cast<uint8_t>(last)}, type::A,
                    60, kAddress1)
            .build();
    };
    EXPECT_TRUE(parse(build(100)).message);
    EXPECT_EQ(parseError(build(200)), ParseError::BadName);
}

TEST(DnsParse, OptOutsideTheAdditionalSection) {
    EXPECT_EQ(
        parseError(
            MessageBuilder().question("a.b", type::A).opt(1232, false, Section::Answer).build()),
        ParseError::BadOpt);
    EXPECT_EQ(
        parseError(
            MessageBuilder().question("a.b", type::A).opt(1232, false, Section::Authority).build()),
        ParseError::BadOpt);
}

TEST(DnsParse, TwoOpts) {
    EXPECT_EQ(parseError(MessageBuilder().question("a.b", type::A).opt().opt().build()),
              ParseError::BadOpt);
}

TEST(DnsParse, OptNotAtRoot) {
    EXPECT_EQ(parseError(MessageBuilder()
                             .question("a.b", type::A)
                             .record(Section::Additional, kQnamePointer, type::OPT, 0, {}, 1232)
                             .build()),
              ParseError::BadOpt);
}

TEST(DnsParse, ErrorNames) {
    EXPECT_STREQ(toString(ParseError::TrailingGarbage), "trailing garbage");
    EXPECT_STREQ(toString(ParseError::BadOpt), "bad OPT record");
}

// ---------------------------------------------------------------------------------------------
// Names in presentation form

TEST(DnsNames, NameToWire) {
    EXPECT_EQ(nameToWire("Members.DynDNS.org."), std::string("\7members\6dyndns\3org", 19) + '\0');
    EXPECT_EQ(nameToWire("members.dyndns.org"), nameToWire("MEMBERS.DYNDNS.ORG."));
    EXPECT_EQ(nameToWire(""), std::string(1, '\0'));
    EXPECT_EQ(nameToWire("."), std::string(1, '\0'));
    EXPECT_EQ(nameToWire("a\\.b"), std::string("\3a.b", 4) + '\0');
    EXPECT_EQ(nameToWire("\\065"), std::string("\1a", 2) + '\0');  // 'A', lower-cased
    EXPECT_FALSE(nameToWire("a..b"));
    EXPECT_FALSE(nameToWire(".a"));
    EXPECT_FALSE(nameToWire("a\\"));
    EXPECT_FALSE(nameToWire("\\25"));
    EXPECT_FALSE(nameToWire("\\256"));
    EXPECT_FALSE(nameToWire(std::string(64, 'x')));
    EXPECT_TRUE(nameToWire(std::string(63, 'x')));
}

TEST(DnsNames, WireToPresentationRoundTrip) {
    for (const char* name : {"members.dyndns.org", "a\\.b.c", "x\\\\y", "\\000\\255.z", ""}) {
        const auto wire = nameToWire(name);
        ASSERT_TRUE(wire) << name;
        EXPECT_EQ(wireToPresentation(*wire), name);
    }
}

// ---------------------------------------------------------------------------------------------
// Header helpers, UDP size

TEST(DnsHeader, SetAndGetId) {
    Bytes query = MessageBuilder().id(1).question("a.b", type::A).build();
    setId(query, 0xabcd);
    EXPECT_EQ(getId(query), 0xabcd);
    EXPECT_EQ(query[0], 0xab);
    EXPECT_EQ(query[1], 0xcd);
}

TEST(DnsHeader, MaxUdpAnswerSize) {
    const auto sizeFor = [](std::optional<uint16_t> payload) {
        MessageBuilder builder;
        builder.question("a.b", type::A);
        if (payload)
            builder.opt(*payload);
        return maxUdpAnswerSize(parseOrDie(builder.build()));
    };
    EXPECT_EQ(sizeFor(std::nullopt), 512u);
    EXPECT_EQ(sizeFor(0), 512u);  // RFC 6891 §6.2.5: below 512 means 512
    EXPECT_EQ(sizeFor(100), 512u);
    EXPECT_EQ(sizeFor(1000), 1000u);
    EXPECT_EQ(sizeFor(1232), 1232u);
    EXPECT_EQ(sizeFor(4096), 1232u);
}

// ---------------------------------------------------------------------------------------------
// truncated()

TEST(DnsTruncated, KeepsQuestionAndOptAndSetsTc) {
    MessageBuilder builder;
    builder.response(Rcode::NoError).id(77).question("Big.Example.com", type::TXT);
    for (int i = 0; i < 5; ++i)
        builder.answer(type::TXT, 60, Bytes(200, 'x'));
    const Bytes answer = builder.opt(1232, true).build();
    const Message parsed = parseOrDie(answer);

    const Bytes cut = truncated(answer, parsed);
    const Message message = parseOrDie(cut);
    EXPECT_TRUE(message.header.tc());
    EXPECT_TRUE(message.header.qr());
    EXPECT_EQ(message.header.id, 77);
    EXPECT_EQ(message.header.ancount, 0);
    EXPECT_EQ(message.header.nscount, 0);
    EXPECT_EQ(message.header.arcount, 1);
    EXPECT_TRUE(message.records.empty());
    ASSERT_TRUE(message.edns);
    EXPECT_TRUE(message.edns->dnssecOk);
    EXPECT_EQ(message.edns->udpPayloadSize, 1232);
    EXPECT_EQ(
        Bytes(cut.begin() + kHeaderSize, cut.begin() + static_cast<long>(message.questionEnd)),
        Bytes(answer.begin() + kHeaderSize,
              answer.begin() + static_cast<long>(parsed.questionEnd)));
    EXPECT_LE(cut.size(), 512u);
}

TEST(DnsTruncated, WithoutOpt) {
    const Bytes answer =
        MessageBuilder().response(Rcode::NxDomain).question("a.b", type::A).soa(300, 60).build();
    const Message message = parseOrDie(truncated(answer, parseOrDie(answer)));
    EXPECT_TRUE(message.header.tc());
    EXPECT_EQ(message.header.rcode(), static_cast<uint8_t>(Rcode::NxDomain));
    EXPECT_EQ(message.header.arcount, 0);
    EXPECT_FALSE(message.edns);
}

// ---------------------------------------------------------------------------------------------
// errorResponse()

TEST(DnsErrorResponse, EchoesQuestionAndOpt) {
    const Bytes query =
        MessageBuilder().id(0x4242).question("Www.Example.COM", type::AAAA).opt(4096, true).build();
    const Message parsedQuery = parseOrDie(query);
    const Bytes reply = errorResponse(query, &parsedQuery, Rcode::ServFail);
    const Message message = parseOrDie(reply);
    EXPECT_EQ(message.header.id, 0x4242);
    EXPECT_TRUE(message.header.qr());
    EXPECT_TRUE(message.header.ra());
    EXPECT_TRUE(message.header.rd());
    EXPECT_FALSE(message.header.aa());
    EXPECT_EQ(message.header.rcode(), static_cast<uint8_t>(Rcode::ServFail));
    EXPECT_EQ(message.qtype, type::AAAA);
    // The question as the client wrote it, case included.
    EXPECT_EQ(
        Bytes(reply.begin() + kHeaderSize, reply.begin() + static_cast<long>(message.questionEnd)),
        Bytes(query.begin() + kHeaderSize,
              query.begin() + static_cast<long>(parsedQuery.questionEnd)));
    ASSERT_TRUE(message.edns);
    EXPECT_EQ(message.edns->udpPayloadSize, kMaxUdpPayload);
    EXPECT_TRUE(message.edns->dnssecOk);
    EXPECT_EQ(message.edns->version, 0);
}

TEST(DnsErrorResponse, WithoutOpt) {
    const Bytes query = MessageBuilder().flags(0).question("a.b", type::A).build();
    const Message parsedQuery = parseOrDie(query);
    const Message message = parseOrDie(errorResponse(query, &parsedQuery, Rcode::Refused));
    EXPECT_FALSE(message.edns);
    EXPECT_FALSE(message.header.rd());
    EXPECT_EQ(message.header.rcode(), static_cast<uint8_t>(Rcode::Refused));
    EXPECT_EQ(message.header.arcount, 0);
}

TEST(DnsErrorResponse, CopiesOpcode) {
    const Bytes query = MessageBuilder().flags(0x1100).question("a.b", type::A).build();  // STATUS
    const Message parsedQuery = parseOrDie(query);
    const Message message = parseOrDie(errorResponse(query, &parsedQuery, Rcode::NotImp));
    EXPECT_EQ(message.header.opcode(), 2);
    EXPECT_EQ(message.header.rcode(), static_cast<uint8_t>(Rcode::NotImp));
}

TEST(DnsErrorResponse, UnparsedQueryGetsTheHeaderOnly) {
    Bytes garbage = MessageBuilder().id(0x0102).question("a.b", type::A).build();
    garbage.push_back(1);  // trailing garbage
    const Bytes reply = errorResponse(garbage, nullptr, Rcode::FormErr);
    ASSERT_EQ(reply.size(), kHeaderSize);
    const Header header = *readHeader(reply);
    EXPECT_EQ(header.id, 0x0102);
    EXPECT_TRUE(header.qr());
    EXPECT_TRUE(header.rd());
    EXPECT_EQ(header.rcode(), static_cast<uint8_t>(Rcode::FormErr));
    EXPECT_EQ(header.qdcount, 0);
    EXPECT_EQ(header.ancount + header.nscount + header.arcount, 0);
    // Even a runt gets a well-formed header back.
    EXPECT_EQ(errorResponse(Bytes{0xaa}, nullptr, Rcode::FormErr).size(), kHeaderSize);
}

// RFC 8906 §8.1.4 asks with a header-only query: NOTIMP must not need a question.
TEST(DnsNotImpResponse, HeaderOnlyQueryWithAndWithoutOpt) {
    const Bytes bare = MessageBuilder().id(0x0909).flags(0x7900).build();  // opcode 15, RD
    const Bytes reply = notImpResponse(bare);
    ASSERT_EQ(reply.size(), kHeaderSize);
    const Header header = *readHeader(reply);
    EXPECT_EQ(header.id, 0x0909);
    EXPECT_TRUE(header.qr());
    EXPECT_EQ(header.opcode(), 15);
    EXPECT_TRUE(header.rd());
    EXPECT_EQ(header.rcode(), static_cast<uint8_t>(Rcode::NotImp));

    const Bytes withOpt = MessageBuilder().flags(0x7800).opt(1232, true).build();
    const Bytes optReply = notImpResponse(withOpt);
    const Header optHeader = *readHeader(optReply);
    EXPECT_EQ(optHeader.qdcount, 0);
    EXPECT_EQ(optHeader.arcount, 1);
    EXPECT_FALSE(optHeader.rd());
    ASSERT_EQ(optReply.size(), kHeaderSize + 11);
    EXPECT_EQ(optReply[kHeaderSize + 2], type::OPT);
    EXPECT_EQ(optReply[kHeaderSize + 7], 0x80);  // DO echoed (RFC 3225 §3)
}

TEST(DnsNotImpResponse, EchoesTheQuestionAndFallsBackToTheHeader) {
    const Bytes query = MessageBuilder().flags(0x7800).question("a.b", type::A).opt().build();
    const Message message = parseOrDie(notImpResponse(query));
    EXPECT_EQ(message.qname(), "a.b");
    EXPECT_TRUE(message.edns);
    Bytes garbage = query;
    garbage.push_back(0);
    EXPECT_EQ(notImpResponse(garbage).size(), kHeaderSize);
}

TEST(DnsClearFlags, ClearsOnlyTheGivenBits) {
    Bytes query = MessageBuilder().flags(0x0330).question("a.b", type::A).build();
    clearFlags(query, flag::kTc);
    EXPECT_EQ(readHeader(query)->flags, 0x0130);
}

// ---------------------------------------------------------------------------------------------
// cacheableTtl()

std::optional<uint32_t> ttlOf(const Bytes& answer) {
    return cacheableTtl(answer, parseOrDie(answer));
}

TEST(DnsCacheableTtl, PositiveIsTheSmallestTtl) {
    EXPECT_EQ(ttlOf(MessageBuilder()
                        .response()
                        .question("a.b", type::A)
                        .answer(type::A, 300, kAddress1)
                        .answer(type::A, 120, kAddress2)
                        .record(Section::Additional, wireName("ns.b"), type::A, 90, kAddress1)
                        .opt()
                        .build()),
              90u);
}

TEST(DnsCacheableTtl, NxDomainUsesSoaTtlOrMinimum) {
    // RFC 2308 §5: min(SOA TTL, SOA MINIMUM).
    EXPECT_EQ(ttlOf(MessageBuilder()
                        .response(Rcode::NxDomain)
                        .question("x.b", type::A)
                        .soa(3600, 300)
                        .build()),
              300u);
    EXPECT_EQ(ttlOf(MessageBuilder()
                        .response(Rcode::NxDomain)
                        .question("x.b", type::A)
                        .soa(60, 300)
                        .build()),
              60u);
}

TEST(DnsCacheableTtl, NoDataUsesSoa) {
    EXPECT_EQ(ttlOf(MessageBuilder().response().question("a.b", type::AAAA).soa(900, 600).build()),
              600u);
}

TEST(DnsCacheableTtl, SoaWithCompressedNames) {
    // MNAME and RNAME both compressed against the question: MINIMUM must still be found.
    Bytes rdata = {3,   'n', 's', '1', 0xc0, 0x0c, 10,  'h',  'o', 's',
                   't', 'm', 'a', 's', 't',  'e',  'r', 0xc0, 0x0c};
    for (uint32_t value : {1u, 2u, 3u, 4u, 42u})
        test::put32(rdata, value);
    const Bytes answer = MessageBuilder()
                             .response(Rcode::NxDomain)
                             .question("example.org", type::A)
                             .record(Section::Authority, kQnamePointer, type::SOA, 3600, rdata)
                             .build();
    EXPECT_EQ(ttlOf(answer), 42u);
}

TEST(DnsCacheableTtl, NegativeWithoutSoaIsNotCached) {
    EXPECT_EQ(ttlOf(MessageBuilder().response(Rcode::NxDomain).question("x.b", type::A).build()),
              std::nullopt);
    // A referral: NOERROR, no answer, NS but no SOA.
    EXPECT_EQ(ttlOf(MessageBuilder()
                        .response()
                        .question("x.b", type::A)
                        .record(Section::Authority, wireName("b"), type::NS, 3600, wireName("ns.b"))
                        .build()),
              std::nullopt);
}

TEST(DnsCacheableTtl, CnameChainEndingInNxDomain) {
    EXPECT_EQ(ttlOf(MessageBuilder()
                        .response(Rcode::NxDomain)
                        .question("a.b", type::A)
                        .answer(type::CNAME, 30, wireName("gone.b"))
                        .soa(3600, 300)
                        .build()),
              30u);
}

TEST(DnsCacheableTtl, TruncatedIsNotCached) {
    Bytes answer = MessageBuilder()
                       .response()
                       .question("a.b", type::A)
                       .answer(type::A, 300, kAddress1)
                       .build();
    answer[2] |= 0x02;  // TC
    EXPECT_EQ(ttlOf(answer), std::nullopt);
}

TEST(DnsCacheableTtl, OtherRcodesAreNotCached) {
    for (Rcode rcode : {Rcode::ServFail, Rcode::Refused, Rcode::FormErr, Rcode::NotImp}) {
        EXPECT_EQ(
            ttlOf(MessageBuilder().response(rcode).question("a.b", type::A).soa(60, 60).build()),
            std::nullopt);
    }
}

TEST(DnsCacheableTtl, ExtendedRcodeIsNotCached) {
    Bytes opt = {0};
    test::put16(opt, type::OPT);
    test::put16(opt, 1232);
    test::put32(opt, 0x01000000);  // BADVERS = 16: extended 1, header 0
    test::put16(opt, 0);
    EXPECT_EQ(ttlOf(MessageBuilder()
                        .response()
                        .question("a.b", type::A)
                        .answer(type::A, 300, kAddress1)
                        .raw(Section::Additional, opt)
                        .build()),
              std::nullopt);
}

TEST(DnsCacheableTtl, MalformedSoaIsNotCached) {
    EXPECT_EQ(ttlOf(MessageBuilder()
                        .response(Rcode::NxDomain)
                        .question("a.b", type::A)
                        .record(Section::Authority, wireName("b"), type::SOA, 60, {0, 0, 1, 2})
                        .build()),
              std::nullopt);
    // MNAME running past RDATA into the next bytes.
    EXPECT_EQ(ttlOf(MessageBuilder()
                        .response(Rcode::NxDomain)
                        .question("a.b", type::A)
                        .record(Section::Authority, wireName("b"), type::SOA, 60, {3, 'a', 'b'})
                        .record(Section::Additional, Bytes{0}, type::A, 60, kAddress1)
                        .build()),
              std::nullopt);
}

TEST(DnsCacheableTtl, TtlWithTopBitIsZero) {
    // RFC 2181 §8.
    EXPECT_EQ(ttlOf(MessageBuilder()
                        .response()
                        .question("a.b", type::A)
                        .answer(type::A, 0x80000000u, kAddress1)
                        .build()),
              0u);
}

// ---------------------------------------------------------------------------------------------
// decrementTtls(), capTtls()

TEST(DnsTtls, DecrementNotBelowZeroAndOptUntouched) {
    Bytes answer = MessageBuilder()
                       .response()
                       .question("a.b", type::A)
                       .answer(type::A, 300, kAddress1)
                       .answer(type::A, 10, kAddress2)
                       .opt(1232, true)
                       .build();
    const Message parsed = parseOrDie(answer);
    decrementTtls(answer, parsed.records, 20);
    const Message after = parseOrDie(answer);
    EXPECT_EQ(after.records[0].ttl, 280u);
    EXPECT_EQ(after.records[1].ttl, 0u);
    ASSERT_TRUE(after.edns);
    EXPECT_TRUE(after.edns->dnssecOk);  // the OPT "TTL" holds flags, not a TTL
}

TEST(DnsTtls, Cap) {
    Bytes answer = MessageBuilder()
                       .response()
                       .question("a.b", type::A)
                       .answer(type::A, 300, kAddress1)
                       .answer(type::A, 10, kAddress2)
                       .build();
    capTtls(answer, parseOrDie(answer).records, 60);
    const Message after = parseOrDie(answer);
    EXPECT_EQ(after.records[0].ttl, 60u);
    EXPECT_EQ(after.records[1].ttl, 10u);
}

// ---------------------------------------------------------------------------------------------
// ResponseWriter

TEST(DnsResponseWriter, PositiveAnswer) {
    const Bytes query =
        MessageBuilder().id(9).flags(0x0110).question("Members.DynDNS.org", type::A).build();
    const Message parsedQuery = parseOrDie(query);
    ResponseWriter writer(query, parsedQuery);
    writer.addAnswer(type::A, 60, kAddress1);
    const Bytes reply = writer.finish();
    const Message message = parseOrDie(reply);
    EXPECT_EQ(message.header.id, 9);
    EXPECT_TRUE(message.header.qr());
    EXPECT_TRUE(message.header.aa());
    EXPECT_TRUE(message.header.ra());
    EXPECT_TRUE(message.header.rd());
    EXPECT_TRUE(message.header.cd());
    EXPECT_EQ(message.header.rcode(), 0);
    ASSERT_EQ(message.records.size(), 1u);
    EXPECT_EQ(message.records[0].ttl, 60u);
    EXPECT_EQ(reply[message.questionEnd], 0xc0);  // owner compressed to the question
    EXPECT_EQ(reply[kHeaderSize + 1], 'M');       // case as the client wrote it
    EXPECT_EQ(cacheableTtl(reply, message), 60u);
}

TEST(DnsResponseWriter, NegativeAnswerWithSoaAndOpt) {
    const Bytes query = MessageBuilder().question("members.dyndns.org", 65).opt(4096, true).build();
    const Message parsedQuery = parseOrDie(query);
    ResponseWriter writer(query, parsedQuery);
    writer.addSyntheticSoa(60);
    writer.setRcode(Rcode::NoError);
    const Bytes reply = writer.finish();
    const Message message = parseOrDie(reply);
    EXPECT_EQ(message.header.ancount, 0);
    EXPECT_EQ(message.header.nscount, 1);
    ASSERT_EQ(message.records.size(), 1u);
    EXPECT_EQ(message.records[0].type, type::SOA);
    EXPECT_EQ(message.records[0].section, Section::Authority);
    ASSERT_TRUE(message.edns);
    EXPECT_TRUE(message.edns->dnssecOk);
    EXPECT_EQ(message.edns->udpPayloadSize, kMaxUdpPayload);
    EXPECT_EQ(cacheableTtl(reply, message), 60u);
}

TEST(DnsResponseWriter, AnswerAfterSoaKeepsSectionOrder) {
    const Bytes query = MessageBuilder().question("a.b", type::A).build();
    const Message parsedQuery = parseOrDie(query);
    ResponseWriter writer(query, parsedQuery);
    writer.addSyntheticSoa(30);
    writer.addAnswer(type::A, 30, kAddress1);
    const Message message = parseOrDie(writer.finish());
    ASSERT_EQ(message.records.size(), 2u);
    EXPECT_EQ(message.records[0].section, Section::Answer);
    EXPECT_EQ(message.records[1].section, Section::Authority);
}

TEST(DnsResponseWriter, SoaForALongNameStaysUnder255Bytes) {
    const std::string name = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                             std::string(63, 'c') + "." + std::string(61, 'd');
    const Bytes query = MessageBuilder().question(name, type::MX).build();
    const Message parsedQuery = parseOrDie(query);
    ResponseWriter writer(query, parsedQuery);
    writer.addSyntheticSoa(60);
    const Bytes reply = writer.finish();
    const Message message = parseOrDie(reply);
    EXPECT_EQ(cacheableTtl(reply, message), 60u);
}

TEST(DnsEdnsOption, RemovesOnlyTheGivenOptionAndFixesRdlength) {
    const Bytes cookie = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
    const Bytes nsid = {0, 3, 0, 0};
    Bytes options = cookie;
    options.insert(options.end(), nsid.begin(), nsid.end());
    const Bytes message = MessageBuilder()
                              .response()
                              .question("example.com", type::A)
                              .answer(type::A, 60, {192, 0, 2, 1})
                              .opt(1232, true, Section::Additional, options)
                              .build();
    const Message parsed = parseOrDie(message);
    const auto stripped = withoutEdnsOption(message, parsed, edns_option::kCookie);
    ASSERT_TRUE(stripped);
    ASSERT_EQ(stripped->size(), message.size() - cookie.size());
    const Message reparsed = parseOrDie(*stripped);
    ASSERT_TRUE(reparsed.edns);
    EXPECT_TRUE(reparsed.edns->dnssecOk);
    EXPECT_EQ(reparsed.edns->udpPayloadSize, 1232);
    ASSERT_EQ(reparsed.records.size(), 1u);
    EXPECT_EQ(reparsed.records[0].ttlOffset, parsed.records[0].ttlOffset);
    // RDLENGTH is now the NSID option's 4 bytes, which end the message.
    EXPECT_EQ(Bytes(stripped->end() - 6, stripped->end()), (Bytes{0, 4, 0, 3, 0, 0}));
}

TEST(DnsEdnsOption, WithoutTheOptionOrWithoutOptTheBytesAreUnchanged) {
    const Bytes plain = MessageBuilder().response().question("example.com", type::A).build();
    EXPECT_EQ(withoutEdnsOption(plain, parseOrDie(plain), edns_option::kCookie), plain);
    const Bytes nsid = MessageBuilder()
                           .response()
                           .question("example.com", type::A)
                           .opt(1232, false, Section::Additional, {0, 3, 0, 0})
                           .build();
    EXPECT_EQ(withoutEdnsOption(nsid, parseOrDie(nsid), edns_option::kCookie), nsid);
}

TEST(DnsEdnsOption, RefusesMalformedOptionsAndAnOptBeforeOtherRecords) {
    const Bytes overrun = MessageBuilder()
                              .response()
                              .question("example.com", type::A)
                              .opt(1232, false, Section::Additional, {0, 10, 0, 9, 1, 2})
                              .build();
    EXPECT_FALSE(withoutEdnsOption(overrun, parseOrDie(overrun), edns_option::kCookie));
    const Bytes notLast =
        MessageBuilder()
            .response()
            .question("example.com", type::A)
            .opt(1232, false, Section::Additional, {0, 10, 0, 2, 1, 2})
            .record(Section::Additional, test::kQnamePointer, type::A, 60, {192, 0, 2, 1})
            .build();
    EXPECT_FALSE(withoutEdnsOption(notLast, parseOrDie(notLast), edns_option::kCookie));
}

}  // namespace
}  // namespace dynamo::dns
