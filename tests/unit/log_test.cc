// net/log: printable() keeps untrusted text from forging or flooding log lines.

#include "net/log.h"

#include <gtest/gtest.h>

#include <string>

namespace dynamo::log {
namespace {

TEST(Printable, PlainTextIsUnchanged) {
    EXPECT_EQ(printable("router-1@home.example"), "router-1@home.example");
    EXPECT_EQ(printable(""), "");
}

TEST(Printable, ControlCharactersCannotStartAForgedJournalLine) {
    EXPECT_EQ(printable("bob\n<3>error: forged"), "bob\\x0a<3>error: forged");
    EXPECT_EQ(printable("a\rb\tc"), "a\\x0db\\x09c");
    EXPECT_EQ(printable(std::string("nul\0x", 5)), "nul\\x00x");
    EXPECT_EQ(printable("\x1b[31mred"), "\\x1b[31mred");
    EXPECT_EQ(printable("del\x7f"), "del\\x7f");
}

TEST(Printable, NonAsciiAndTheBackslashAreEscaped) {
    // UTF-8 is shown as its bytes: an escape is never ambiguous with what a client typed.
    EXPECT_EQ(printable("caf\xc3\xa9"), "caf\\xc3\\xa9");
    EXPECT_EQ(printable("a\\x0a"), "a\\x5cx0a");
}

TEST(Printable, LongTextIsCutWithAnEllipsis) {
    EXPECT_EQ(printable("abcdef", 4), "abcd\u2026");
    EXPECT_EQ(printable("abcd", 4), "abcd");
    EXPECT_EQ(printable(std::string(1000, 'x')), std::string(64, 'x') + "\u2026");
    // The bound is on input bytes, so an escaped line is at most 4 * maxLength long.
    EXPECT_EQ(printable(std::string(100, '\n'), 2), "\\x0a\\x0a\u2026");
}

}  // namespace
}  // namespace dynamo::log
