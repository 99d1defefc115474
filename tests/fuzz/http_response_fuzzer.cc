// libFuzzer target for the token-API client's HTTP response reader: whatever the service (or a
// captive portal, or an attacker on the path of a plain-http update_url) sends, the reader ends
// in one bounded answer or one error, and that answer does not depend on how TCP cut the bytes
// into segments. Without DYNAMO_FUZZ this links with replay_main.cc and ctest replays the
// committed corpus.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "gateway/updates/http_response_reader.h"

namespace {

using dynamo::gateway::HttpResponseReader;

struct Outcome {
    HttpResponseReader::State state;
    int status;
    std::string body;
    bool bodyTooLarge;
    std::string error;

    bool operator==(const Outcome&) const = default;
};

Outcome read(std::string_view input, const std::vector<size_t>& cuts) {
    HttpResponseReader reader;
    size_t from = 0;
    for (const size_t cut : cuts) {
        reader.feed(input.substr(from, cut - from));
        from = cut;
    }
    reader.feed(input.substr(from));
    const HttpResponseReader::State beforeEof = reader.state();
    reader.finishAtEof();

    // What holds for every response.
    FUZZ_CHECK(reader.state() != HttpResponseReader::State::Incomplete);
    FUZZ_CHECK(beforeEof == HttpResponseReader::State::Incomplete || reader.state() == beforeEof);
    FUZZ_CHECK(reader.body().size() <= HttpResponseReader::kMaxBodyBytes);
    if (reader.state() == HttpResponseReader::State::Complete) {
        // Interim 1xx responses are skipped or refused, never the answer.
        FUZZ_CHECK(reader.status() >= 200 && reader.status() <= 999);
        FUZZ_CHECK(reader.error().empty());
    } else {
        FUZZ_CHECK(!reader.error().empty());
        FUZZ_CHECK(!reader.bodyTooLarge());
    }

    // A finished reader reads nothing more.
    Outcome outcome{reader.state(), reader.status(), reader.body(), reader.bodyTooLarge(),
                    reader.error()};
    reader.feed(input);
    reader.finishAtEof();
    FUZZ_CHECK((Outcome{reader.state(), reader.status(), reader.body(), reader.bodyTooLarge(),
                        reader.error()}) == outcome);
    return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const Outcome whole = read(input, {});

    // The same bytes in segments: byte by byte for short inputs, else at cuts derived from the
    // input itself (deterministic, so a finding replays).
    std::vector<size_t> cuts;
    if (size <= 256) {
        for (size_t i = 1; i < size; ++i)
            cuts.push_back(i);
    } else {
        uint32_t state = 2166136261u;  // FNV-1a over the input picks the segment lengths
        for (const uint8_t byte : input.substr(0, 64))
            state = (state ^ byte) * 16777619u;
        for (size_t at = 0;;) {
            state = state * 1103515245u + 12345u;
            at += 1 + (state >> 16) % 97;
            if (at >= size)
                break;
            cuts.push_back(at);
        }
    }
    FUZZ_CHECK(read(input, cuts) == whole);
    if (size > 1)
        FUZZ_CHECK(read(input, {size / 2}) == whole);
    return 0;
}
