#pragma once
// One line per event on stderr (the journal adds the time), with a level prefix that journald
// understands (sd-daemon(3) "<N>"). Secrets go through maskSecret() before they reach a line.
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

// A token or password as logs may show it (SPEC §6): its first 4 characters, then "…";
// only "…" for a secret of 4 characters or fewer.
std::string maskSecret(std::string_view secret);

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
