// libFuzzer target for the DNS codec, cache and interception: whatever parses must survive every
// transformation the query path applies to it, and every output we build must parse again.
// Without DYNAMO_FUZZ this links with replay_main.cc and ctest replays the committed corpus.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "config/config.h"
#include "fuzz_check.h"
#include "resolver/dns_cache.h"
#include "resolver/dns_message.h"
#include "resolver/intercept.h"

namespace {

using namespace dynamo;

dns::Message reparse(const std::vector<uint8_t>& bytes) {
    dns::ParseResult result = dns::parse(bytes);
    if (!result.message) {
        std::fprintf(stderr, "our own output does not parse: %s\n", dns::toString(result.error));
        std::abort();
    }
    return std::move(*result.message);
}

void exerciseCodec(std::span<const uint8_t> input, const dns::Message& message) {
    // The question round-trips through presentation form.
    FUZZ_CHECK(dns::nameToWire(message.qname()) == message.qnameWire);
    FUZZ_CHECK(message.questionEnd <= input.size());

    const std::vector<uint8_t> cut = dns::truncated(input, message);
    const dns::Message cutMessage = reparse(cut);
    FUZZ_CHECK(cutMessage.header.tc());
    FUZZ_CHECK(cutMessage.records.empty());
    FUZZ_CHECK(cutMessage.edns.has_value() == message.edns.has_value());
    FUZZ_CHECK(cutMessage.qnameWire == message.qnameWire);

    for (dns::Rcode rcode : {dns::Rcode::ServFail, dns::Rcode::Refused}) {
        const dns::Message error = reparse(dns::errorResponse(input, &message, rcode));
        FUZZ_CHECK(error.header.rcode() == static_cast<uint8_t>(rcode));
        FUZZ_CHECK(error.qnameWire == message.qnameWire);
    }
    const std::vector<uint8_t> bare = dns::errorResponse(input, nullptr, dns::Rcode::FormErr);
    FUZZ_CHECK(bare.size() == dns::kHeaderSize);

    (void)dns::cacheableTtl(input, message);
    const size_t udp = dns::maxUdpAnswerSize(message);
    FUZZ_CHECK(udp >= dns::kMaxUdpPayloadWithoutEdns && udp <= dns::kMaxUdpPayload);

    std::vector<uint8_t> copy(input.begin(), input.end());
    dns::decrementTtls(copy, message.records, 3600);
    const dns::Message decremented = reparse(copy);
    FUZZ_CHECK(decremented.records.size() == message.records.size());
    dns::capTtls(copy, message.records, 60);
    for (const dns::RecordRef& record : reparse(copy).records)
        FUZZ_CHECK(record.ttl <= 60);

    // Removing the COOKIE keeps the message parseable, its records where they were.
    if (auto stripped = dns::withoutEdnsOption(input, message, dns::edns_option::kCookie)) {
        const dns::Message without = reparse(*stripped);
        FUZZ_CHECK(without.records.size() == message.records.size());
        FUZZ_CHECK(without.edns.has_value() == message.edns.has_value());
        FUZZ_CHECK(stripped->size() <= input.size());
    }
}

void exerciseCache(std::span<const uint8_t> input, const dns::Message& message) {
    // The input as both query and answer: store() must accept or refuse it without harm, and
    // whatever lookup() returns must parse.
    auto now = std::chrono::steady_clock::time_point(std::chrono::hours(1));
    dns::DnsCache cache(4, [&now] { return now; });
    cache.store(message, input, message);
    now += std::chrono::seconds(2);
    if (auto hit = cache.lookup(input, message)) {
        const dns::Message served = reparse(*hit);
        FUZZ_CHECK(served.header.id == message.header.id);
        FUZZ_CHECK(served.records.size() == message.records.size());
    }
    // The presentation form leads back to the key: erase() must find whatever was stored.
    cache.erase(message.qname());
    FUZZ_CHECK(cache.size() == 0);
}

void exerciseInterception(std::span<const uint8_t> input, const dns::Message& message) {
    config::InterceptConfig config;
    config.answerIpv6.mode = config::InterceptAnswer::Mode::Auto;
    config.names.push_back("*." + message.qname());
    const resolver::Interceptor interceptor(config);
    (void)interceptor.matches(message);
    const auto local = *net::IpAddress::parse("192.0.2.53");
    const std::vector<net::IpAddress> hosts = {*net::IpAddress::parse("2001:db8::53")};
    const std::vector<uint8_t> bytes = interceptor.answer(input, message, local, hosts);
    const dns::Message answer = reparse(bytes);
    FUZZ_CHECK(answer.qnameWire == message.qnameWire);
    FUZZ_CHECK(answer.header.qr());
    // Every authoritative answer, positive or NODATA, is cacheable for exactly the TTL.
    if (answer.header.rcode() == static_cast<uint8_t>(dns::Rcode::NoError)) {
        FUZZ_CHECK(answer.header.aa());
        FUZZ_CHECK(dns::cacheableTtl(bytes, answer) == config.ttl);
    } else {
        FUZZ_CHECK(answer.header.rcode() == static_cast<uint8_t>(dns::Rcode::Refused));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::span<const uint8_t> input(data, size);
    (void)dns::readHeader(input);
    const dns::ParseResult result = dns::parse(input);
    if (!result.message)
        return 0;
    exerciseCodec(input, *result.message);
    exerciseCache(input, *result.message);
    exerciseInterception(input, *result.message);
    return 0;
}
