// HttpResponseReader: one HTTP/1.1 response (RFC 9112) from bytes as a connection delivers
// them. Every case is fed whole, byte by byte and split in two at every position: a TCP segment
// may end anywhere, and the result must not depend on where.

#include "gateway/updates/http_response_reader.h"

#include <gtest/gtest.h>

#include <vector>

namespace dynamo::gateway {
namespace {

struct ReaderCase {
    const char* name;
    std::string input;
    HttpResponseReader::State state;  // after feeding, then EOF
    int status;
    std::string body;
};

TEST(HttpResponseReaderTest, Table) {
    using State = HttpResponseReader::State;
    const std::string big(HttpResponseReader::kMaxHeaderBytes, 'a');
    const std::vector<ReaderCase> cases = {
        {"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nUP,OK", State::Complete,
         200, "UP,OK"},
        {"bare LF", "HTTP/1.0 200 OK\nContent-Length: 2\n\nNC", State::Complete, 200, "NC"},
        {"until close", "HTTP/1.1 200 OK\r\n\r\nNC\n", State::Complete, 200, "NC\n"},
        {"chunked",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nUP,\r\n2\r\nOK\r\n0\r\nT: "
         "1\r\n\r\n",
         State::Complete, 200, "UP,OK"},
        {"interim 100",
         "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nTF",
         State::Complete, 200, "TF"},
        {"204", "HTTP/1.1 204 No Content\r\n\r\n", State::Complete, 204, ""},
        {"no reason phrase", "HTTP/1.1 503\r\nContent-Length: 0\r\n\r\n", State::Complete, 503, ""},
        {"not http", "SSH-2.0-OpenSSH\r\n\r\n", State::Error, 0, ""},
        {"cut short", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nUP", State::Error, 200, "UP"},
        {"nothing", "", State::Error, 0, ""},
        {"conflicting lengths",
         "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nNC", State::Error, 200,
         ""},
        {"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", State::Error,
         200, ""},
        {"folding", "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", State::Error, 200, ""},
        {"empty header line", "HTTP/1.1 200 OK\n\r\nContent-Length: 2\r\n\r\nNC", State::Error, 200,
         ""},
        {"huge head", "HTTP/1.1 200 OK\r\nX: " + big + "\r\n\r\n", State::Error, 0, ""},
    };
    for (const ReaderCase& c : cases) {
        // Byte by byte: every boundary is a possible TCP segment boundary.
        HttpResponseReader reader;
        for (const char byte : c.input)
            reader.feed(std::string_view(&byte, 1));
        reader.finishAtEof();
        EXPECT_EQ(reader.state(), c.state) << c.name << ": " << reader.error();
        EXPECT_EQ(reader.status(), c.status) << c.name;
        if (c.state == State::Complete) {
            EXPECT_EQ(reader.body(), c.body) << c.name;
        }
    }
}

// Regression: an empty line inside the head was read with line.front() (undefined behaviour).
TEST(HttpResponseReaderTest, AnEmptyLineInsideTheHeadIsAnError) {
    HttpResponseReader reader;
    reader.feed("HTTP/1.1 200 OK\n\r\nContent-Length: 2\r\n\r\nNC");
    EXPECT_EQ(reader.state(), HttpResponseReader::State::Error);
    EXPECT_EQ(reader.error(), "empty line in the header section");
}

TEST(HttpResponseReaderTest, ABodyOverTheLimitStopsReadingButKeepsTheStatus) {
    HttpResponseReader chunked;
    chunked.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1001\r\n");
    EXPECT_EQ(chunked.state(), HttpResponseReader::State::Complete);
    EXPECT_TRUE(chunked.bodyTooLarge());

    HttpResponseReader declared;
    declared.feed("HTTP/1.1 500 Oops\r\nContent-Length: 99999\r\n\r\n");
    EXPECT_EQ(declared.state(), HttpResponseReader::State::Complete);
    EXPECT_TRUE(declared.bodyTooLarge());
    EXPECT_EQ(declared.status(), 500);

    HttpResponseReader untilClose;
    untilClose.feed("HTTP/1.1 200 OK\r\n\r\n");
    untilClose.feed(std::string(HttpResponseReader::kMaxBodyBytes + 1, 'x'));
    EXPECT_EQ(untilClose.state(), HttpResponseReader::State::Complete);
    EXPECT_TRUE(untilClose.bodyTooLarge());
}

struct Case {
    const char* name;
    std::string input;  // then EOF
    HttpResponseReader::State state;
    int status;
    std::string body;           // checked when Complete and not too large
    bool bodyTooLarge = false;  // checked when Complete
};

struct Outcome {
    HttpResponseReader::State state;
    int status;
    std::string body;
    bool bodyTooLarge;
    std::string error;
};

Outcome readAll(const std::vector<std::string_view>& pieces) {
    HttpResponseReader reader;
    for (const std::string_view piece : pieces)
        reader.feed(piece);
    reader.finishAtEof();
    return {reader.state(), reader.status(), reader.body(), reader.bodyTooLarge(), reader.error()};
}

void expectCase(const Case& c) {
    using State = HttpResponseReader::State;
    const std::string_view input = c.input;
    const Outcome whole = readAll({input});
    EXPECT_EQ(whole.state, c.state) << c.name << ": " << whole.error;
    EXPECT_EQ(whole.status, c.status) << c.name;
    if (c.state == State::Complete) {
        EXPECT_EQ(whole.bodyTooLarge, c.bodyTooLarge) << c.name;
        if (c.bodyTooLarge) {
            EXPECT_EQ(whole.body, "") << c.name;
        } else {
            EXPECT_EQ(whole.body, c.body) << c.name;
        }
    } else if (c.state == State::Error) {
        EXPECT_FALSE(whole.error.empty()) << c.name;
    }

    std::vector<std::string_view> bytes;
    for (size_t i = 0; i < input.size(); ++i)
        bytes.push_back(input.substr(i, 1));
    std::vector<std::vector<std::string_view>> splits = {bytes};
    if (input.size() <= 512) {
        for (size_t at = 1; at < input.size(); ++at)
            splits.push_back({input.substr(0, at), input.substr(at)});
    }
    for (const auto& pieces : splits) {
        const Outcome split = readAll(pieces);
        const std::string where = std::string(c.name) + " in " + std::to_string(pieces.size()) +
                                  " pieces, first " + std::to_string(pieces.front().size());
        EXPECT_EQ(split.state, whole.state) << where << ": " << split.error;
        EXPECT_EQ(split.status, whole.status) << where;
        EXPECT_EQ(split.body, whole.body) << where;
        EXPECT_EQ(split.bodyTooLarge, whole.bodyTooLarge) << where;
    }
}

TEST(HttpResponseReaderTest, ContentLength) {
    using State = HttpResponseReader::State;
    const std::vector<Case> cases = {
        {"exact", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nUP,OK", State::Complete, 200,
         "UP,OK"},
        {"what follows the body is not read", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nNCzz",
         State::Complete, 200, "NC"},
        {"zero", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", State::Complete, 200, ""},
        {"name in any case", "HTTP/1.1 200 OK\r\ncontent-LENGTH:2\r\n\r\nNC", State::Complete, 200,
         "NC"},
        {"the same length twice",
         "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nNC", State::Complete,
         200, "NC"},
        // RFC 9112 §6.3 rule 5: differing lengths are an unrecoverable error (request smuggling).
        {"two different lengths",
         "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nCONTENT-LENGTH: 2\r\n\r\nNC", State::Error, 200,
         ""},
        {"a list", "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nNC", State::Error, 200, ""},
        {"negative", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nNC", State::Error, 200, ""},
        {"hex", "HTTP/1.1 200 OK\r\nContent-Length: 0x2\r\n\r\nNC", State::Error, 200, ""},
        {"empty", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\nNC", State::Error, 200, ""},
        {"19 digits", "HTTP/1.1 200 OK\r\nContent-Length: 1000000000000000000\r\n\r\n",
         State::Error, 200, ""},
        {"truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nUP,", State::Error, 200,
         ""},
        {"truncated head", "HTTP/1.1 200 OK\r\nContent-Len", State::Error, 0, ""},
        {"at the limit",
         "HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n" +
             std::string(HttpResponseReader::kMaxBodyBytes, 'x'),
         State::Complete, 200, std::string(HttpResponseReader::kMaxBodyBytes, 'x')},
        {"oversize, declared", "HTTP/1.1 200 OK\r\nContent-Length: 4097\r\n\r\nxx", State::Complete,
         200, "", true},
        {"transfer-encoding wins",
         "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: "
         "chunked\r\n\r\n2\r\nNC\r\n0\r\n\r\n",
         State::Complete, 200, "NC"},
        {"304 has no body", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
         State::Complete, 304, ""},
    };
    for (const Case& c : cases)
        expectCase(c);
}

TEST(HttpResponseReaderTest, Chunked) {
    using State = HttpResponseReader::State;
    const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    const std::vector<Case> cases = {
        {"plain", head + "5\r\nUP,OK\r\n0\r\n\r\n", State::Complete, 200, "UP,OK"},
        // RFC 9112 §7.1.1: extensions, with optional whitespace before the ';', are ignored.
        {"extensions", head + "3;name=value;flag\r\nUP,\r\n2 ; q=\"a;b\"\r\nOK\r\n0;last\r\n\r\n",
         State::Complete, 200, "UP,OK"},
        // RFC 9112 §7.1.2: trailer fields after the last chunk are read and dropped.
        {"trailers", head + "2\r\nNC\r\n0\r\nExpires: never\r\nX-Sum: 1\r\n\r\n", State::Complete,
         200, "NC"},
        {"upper-case hex", head + "A\r\n0123456789\r\n0\r\n\r\n", State::Complete, 200,
         "0123456789"},
        {"bare LF framing", head + "2\nNC\n0\n\n", State::Complete, 200, "NC"},
        {"last coding chunked",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nNC\r\n0\r\n\r\n",
         State::Complete, 200, "NC"},
        // §6.3 rule 4: a final coding other than chunked leaves the body to the close.
        {"last coding not chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nNC",
         State::Complete, 200, "NC"},
        {"cut in a chunk", head + "5\r\nUP", State::Error, 200, ""},
        {"no last chunk", head + "2\r\nNC\r\n", State::Error, 200, ""},
        {"no end of trailers", head + "2\r\nNC\r\n0\r\nX: 1\r\n", State::Error, 200, ""},
        {"data longer than its size", head + "2\r\nNCX\r\n0\r\n\r\n", State::Error, 200, ""},
        {"no size", head + ";x\r\n", State::Error, 200, ""},
        {"not hex", head + "zz\r\n", State::Error, 200, ""},
        {"sixteen hex digits", head + "1000000000000000\r\n", State::Error, 200, ""},
        {"oversize, one chunk", head + "1001\r\nxx", State::Complete, 200, "", true},
        {"oversize, summed", head + "800\r\n" + std::string(0x800, 'x') + "\r\n801\r\n",
         State::Complete, 200, "", true},
        // The chunk-size line "0" and one trailer line fill the framing budget to the byte.
        {"trailers at the limit",
         head + "0\r\nX: " + std::string(HttpResponseReader::kMaxHeaderBytes - 8, 'a') + "\r\n\r\n",
         State::Complete, 200, ""},
        {"trailers one byte over the limit",
         head + "0\r\nX: " + std::string(HttpResponseReader::kMaxHeaderBytes - 7, 'a') + "\r\n\r\n",
         State::Error, 200, ""},
        {"chunk-size line at the limit",
         head + "2;" + std::string(HttpResponseReader::kMaxChunkSizeLine - 2, 'e') +
             "\r\nNC\r\n0\r\n\r\n",
         State::Complete, 200, "NC"},
        {"chunk-size line over the limit",
         head + "2;" + std::string(HttpResponseReader::kMaxChunkSizeLine - 1, 'e') +
             "\r\nNC\r\n0\r\n\r\n",
         State::Error, 200, ""},
        {"trailers too long",
         head + "0\r\nX: " + std::string(HttpResponseReader::kMaxHeaderBytes, 'a') + "\r\n\r\n",
         State::Error, 200, ""},
    };
    for (const Case& c : cases)
        expectCase(c);
}

TEST(HttpResponseReaderTest, StatusLineAndHead) {
    using State = HttpResponseReader::State;
    const std::vector<Case> cases = {
        // RFC 9112 §6.3 rule 8: no length and no chunked coding: the body ends with the connection.
        {"HTTP/1.0 close-delimited", "HTTP/1.0 200 OK\r\nServer: old\r\n\r\nUP,OK\n",
         State::Complete, 200, "UP,OK\n"},
        {"close-delimited oversize",
         "HTTP/1.0 200 OK\r\n\r\n" + std::string(HttpResponseReader::kMaxBodyBytes + 1, 'x'),
         State::Complete, 200, "", true},
        {"reason phrase with spaces", "HTTP/1.1 404 Not Found Here\r\nContent-Length: 0\r\n\r\n",
         State::Complete, 404, ""},
        {"two interim responses",
         "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\nHTTP/1.1 200 "
         "OK\r\nContent-Length: 2\r\n\r\nNC",
         State::Complete, 200, "NC"},
        {"101 was never asked for", "HTTP/1.1 101 Switching Protocols\r\n\r\n", State::Error, 101,
         ""},
        {"CRLF then bare LF ends the head", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\nNC",
         State::Complete, 200, "NC"},
        // §2.3: HTTP-name is case-sensitive; §4: exactly three digits after one space.
        {"lower-case name", "http/1.1 200 OK\r\n\r\n", State::Error, 0, ""},
        {"HTTP/2", "HTTP/2 200 OK\r\n\r\n", State::Error, 0, ""},
        {"HTTP/1.x", "HTTP/1.x 200 OK\r\n\r\n", State::Error, 0, ""},
        {"two digits", "HTTP/1.1 20 OK\r\n\r\n", State::Error, 0, ""},
        {"four digits", "HTTP/1.1 2000 OK\r\n\r\n", State::Error, 0, ""},
        {"no space before the reason", "HTTP/1.1 200OK\r\n\r\n", State::Error, 0, ""},
        {"two spaces before the code", "HTTP/1.1  200 OK\r\n\r\n", State::Error, 0, ""},
        {"below 100", "HTTP/1.1 099 Odd\r\n\r\n", State::Error, 99, ""},
        {"leading space", " HTTP/1.1 200 OK\r\n\r\n", State::Error, 0, ""},
        {"ICY", "ICY 200 OK\r\n\r\n", State::Error, 0, ""},
        {"only a blank line", "\r\n\r\n", State::Error, 0, ""},
        {"field without a colon", "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", State::Error, 200, ""},
        // §5.1: no whitespace between a field name and its colon.
        {"space before the colon", "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nNC", State::Error,
         200, ""},
        {"empty field name", "HTTP/1.1 200 OK\r\n: x\r\n\r\n", State::Error, 200, ""},
        {"head just under the limit",
         "HTTP/1.1 200 OK\r\nX: " + std::string(HttpResponseReader::kMaxHeaderBytes - 24, 'a') +
             "\r\n\r\nNC",
         State::Complete, 200, "NC"},
        {"head just over the limit",
         "HTTP/1.1 200 OK\r\nX: " + std::string(HttpResponseReader::kMaxHeaderBytes - 23, 'a') +
             "\r\n\r\nNC",
         State::Error, 0, ""},
    };
    for (const Case& c : cases)
        expectCase(c);
}

TEST(HttpResponseReaderTest, NothingIsReadAfterTheEnd) {
    HttpResponseReader reader;
    EXPECT_EQ(reader.feed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nNC"),
              HttpResponseReader::State::Complete);
    EXPECT_EQ(reader.feed("HTTP/1.1 500 No\r\n\r\n"), HttpResponseReader::State::Complete);
    EXPECT_EQ(reader.finishAtEof(), HttpResponseReader::State::Complete);
    EXPECT_EQ(reader.status(), 200);
    EXPECT_EQ(reader.body(), "NC");
}

}  // namespace
}  // namespace dynamo::gateway
