#pragma once
// One line per event on stderr (the journal adds the time), with a level prefix that journald
// understands (sd-daemon(3) "<N>") when stderr is not a terminal; on a terminal only the level
// word. Secrets go through maskSecret() and untrusted text (anything a client sent) through
// printable() before they reach a line.
//
//   DLOG(Info) << "listening on " << address.toString();

#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace dynamo::log {

enum class Level { Debug = 0, Info = 1, Warning = 2, Error = 3 };

void setLevel(Level level);
Level level();
bool enabled(Level level);
void write(Level level, std::string_view message);
std::optional<Level> parseLevel(std::string_view name);

// A token or password as logs may show it (docs/updates.md#secrets-in-logs): its first 4
// characters, then "…", for a secret of at least kMinShownSecret characters (a 40-character token
// keeps 36 hidden); only "…" for a shorter one, where 4 characters would give most of it away.
inline constexpr size_t kMinShownSecret = 16;
std::string maskSecret(std::string_view secret);

// Untrusted text as a log line may carry it: bytes outside printable ASCII (control characters,
// DEL, anything >= 0x80) and the backslash become "\xNN", so a client cannot forge a journal
// line with "\n<3>..." or smuggle terminal escapes; more than maxLength input bytes are cut
// and end in "…".
std::string printable(std::string_view text, size_t maxLength = 64);

class Line {
  public:
    explicit Line(Level level) : level_(level) {}
    Line(const Line&) = delete;
    Line& operator=(const Line&) = delete;
    ~Line() { write(level_, stream_.str()); }
    template <typename T>
    Line& operator<<(const T& value) {
        stream_ << value;
        return *this;
    }

  private:
    Level level_;
    std::ostringstream stream_;
};

}  // namespace dynamo::log

#define DLOG(severity)                                             \
    if (!::dynamo::log::enabled(::dynamo::log::Level::severity)) { \
    } else                                                         \
        ::dynamo::log::Line(::dynamo::log::Level::severity)
