#include "gateway/updates/state_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "net/small_file.h"
#include "temp_dir.h"

namespace dynamo::gateway {

// Readable failures for EXPECT_EQ on problem lists.
void PrintTo(const StateProblem& problem, std::ostream* out) {
    *out << "{" << problem.key.substr(0, 8) << ", \"" << problem.what << "\"}";
}

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr std::string_view kToken = "1234567890ABCDEFGHIJKLMNOPQRSTUVWXYZ123456";

net::IpAddress ip(std::string_view text) {
    return *net::IpAddress::parse(text);
}

std::string readFile(const fs::path& path) {
    return net::readSmallFile(path.string(), 1 << 20).text;
}

void writeFile(const fs::path& path, std::string_view text) {
    std::ofstream out(path, std::ios::trunc);
    out << text;
}

// Time is injected and whole seconds, as the file stores them.
class StateStoreTest : public ::testing::Test {
  protected:
    StateStore store() { return StateStore(dir_.string(), clock_); }
    fs::path statePath() const { return dir_ / "state.yaml"; }

    static TokenStates sample(TimePoint now) {
        TokenState withQueue;
        withQueue.lastCall = now - 10s;
        withQueue.lastResult = "TF";
        withQueue.confirmedIp = ip("1.2.3.4");
        withQueue.changedAt = now - 3600s;
        withQueue.consecutiveMissing = 1;
        withQueue.queued = QueuedUpdate{ip("5.6.7.8"), now - 20s, 2, now + 290s};
        TokenState noIpQueued;
        noIpQueued.lastCall = now - 400s;
        noIpQueued.lastResult = "timeout";
        noIpQueued.queued = QueuedUpdate{std::nullopt, now - 400s, 1, now + 200s};
        TokenState confirmedOnly;
        confirmedOnly.lastCall = now - 1000s;
        confirmedOnly.lastResult = "UP,OK";
        confirmedOnly.confirmedIp = ip("9.9.9.9");
        confirmedOnly.changedAt = now - 1000s;
        return {{tokenKey(kToken), withQueue},
                {tokenKey("another-token-of-forty-two-characters-xxxx"), noIpQueued},
                {tokenKey("third"), confirmedOnly}};
    }

    test::TempDir temp_{"state_store"};
    const fs::path dir_ = temp_.path();
    TimePoint now_{std::chrono::seconds(1'700'000'000)};
    WallClock clock_ = [this] { return now_; };
};

TEST_F(StateStoreTest, TokenKeyIsSha256HexAndHidesTheToken) {
    const std::string key = tokenKey(kToken);
    EXPECT_EQ(key.size(), 64u);
    EXPECT_EQ(key, tokenKey(kToken));
    EXPECT_NE(key, tokenKey("1234567890ABCDEFGHIJKLMNOPQRSTUVWXYZ123457"));
    EXPECT_EQ(tokenKey(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(key.find("1234"), std::string::npos);
}

TEST_F(StateStoreTest, MissingFileIsEmptyState) {
    EXPECT_TRUE(store().load().empty());
}

TEST_F(StateStoreTest, SaveThenLoadRoundTrips) {
    const TokenStates saved = sample(now_);
    std::string error;
    ASSERT_TRUE(store().save(saved, &error)) << error;
    EXPECT_EQ(store().load(), saved);
}

TEST_F(StateStoreTest, FileIsPrivateAtomicAndHoldsNoToken) {
    // A temp file left by a crash, with a lax mode: the save must not inherit it.
    writeFile(dir_ / "state.yaml.tmp", "junk");
    ::chmod((dir_ / "state.yaml.tmp").c_str(), 0644);

    std::string error;
    ASSERT_TRUE(store().save(sample(now_), &error)) << error;

    struct stat st {};
    ASSERT_EQ(::stat(statePath().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_FALSE(fs::exists(dir_ / "state.yaml.tmp"));
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_))
        names.push_back(entry.path().filename().string());
    EXPECT_EQ(names, std::vector<std::string>{"state.yaml"});

    const std::string text = readFile(statePath());
    EXPECT_EQ(text.find(std::string(kToken)), std::string::npos);
    EXPECT_NE(text.find("last_call: " + std::to_string(1'700'000'000 - 10)), std::string::npos);
    EXPECT_NE(text.find("ip: none"), std::string::npos);
}

TEST_F(StateStoreTest, CreatesAMissingStateDirectory) {
    const fs::path nested = dir_ / "state";
    StateStore nestedStore(nested.string(), clock_);
    std::string error;
    ASSERT_TRUE(nestedStore.save(sample(now_), &error)) << error;
    EXPECT_EQ(nestedStore.load(), sample(now_));
}

TEST_F(StateStoreTest, CorruptFileIsMovedAsideAndStateStartsEmpty) {
    const std::string garbage = "tokens: [unterminated\n\x01\x02";
    for (const std::string_view text :
         {std::string_view(garbage), std::string_view("just a string\n"),
          std::string_view("version: 7\ntokens: {}\n"),
          std::string_view("version: 1\ntokens: [1]\n"), std::string_view("")}) {
        SCOPED_TRACE(text);
        writeFile(statePath(), text);
        ::testing::internal::CaptureStderr();
        EXPECT_TRUE(store().load().empty());
        const std::string log = ::testing::internal::GetCapturedStderr();
        EXPECT_NE(log.find("error: state file"), std::string::npos) << log;

        const fs::path aside = dir_ / "state.yaml.corrupt-1700000000";
        EXPECT_FALSE(fs::exists(statePath()));
        ASSERT_TRUE(fs::exists(aside));
        EXPECT_EQ(readFile(aside), text);
        fs::remove(aside);
    }
}

TEST_F(StateStoreTest, AbsurdValuesAreBoundedOrDropped) {
    const std::string good = tokenKey(kToken);
    std::ostringstream yaml;
    yaml << "version: 1\n"
         << "tokens:\n"
         << "  " << good << ":\n"
         << "    last_call: 99999999999999\n"          // beyond what a TimePoint holds: dropped
         << "    last_result: \"<script>\"\n"          // not a result code: dropped
         << "    confirmed_ip: not-an-address\n"       // dropped
         << "    changed_at: 1800000000\n"             // in the future: now
         << "    consecutive_missing: 123456789012\n"  // clamped
         << "    queued:\n"
         << "      ip: 5.6.7.8\n"
         << "      accepted_at: -5\n"           // dropped: now
         << "      attempts: -1\n"              // 0
         << "      next_attempt: 1900000000\n"  // years ahead: now + 1 day
         << "  " << tokenKey("b") << ":\n"
         << "    last_call: 1600000000\n"
         << "    queued: {ip: 999.1.1.1, next_attempt: 1}\n"  // unreadable address: not sent
         << "  " << tokenKey("d") << ":\n"
         << "    last_call: 99999999999\n"  // year 5138: would overflow nanoseconds; dropped
         << "    queued: {ip: 1.2.3.4, next_attempt: 99999999999}\n"  // the same: now
         << "  not-a-key:\n"
         << "    last_call: 1\n"
         << "  " << tokenKey("c") << ": [1, 2]\n";
    writeFile(statePath(), yaml.str());

    const TokenStates states = store().load();
    ASSERT_EQ(states.size(), 3u);
    const TokenState& state = states.at(good);
    EXPECT_FALSE(state.lastCall);
    EXPECT_EQ(state.lastResult, "");
    EXPECT_FALSE(state.confirmedIp);
    EXPECT_EQ(state.changedAt, now_);
    EXPECT_EQ(state.consecutiveMissing, StateStore::kMaxCounter);
    ASSERT_TRUE(state.queued);
    EXPECT_EQ(state.queued->ip, ip("5.6.7.8"));
    EXPECT_EQ(state.queued->acceptedAt, now_);
    EXPECT_EQ(state.queued->attempts, 0u);
    EXPECT_EQ(state.queued->nextAttempt, now_ + 24h);

    const TokenState& other = states.at(tokenKey("b"));
    EXPECT_EQ(other.lastCall, TimePoint(std::chrono::seconds(1'600'000'000)));
    EXPECT_FALSE(other.queued);

    const TokenState& far = states.at(tokenKey("d"));
    EXPECT_FALSE(far.lastCall);
    ASSERT_TRUE(far.queued);
    EXPECT_EQ(far.queued->nextAttempt, now_);
    EXPECT_TRUE(fs::exists(statePath()));  // damaged values are not a damaged file
}

// Each damaged part is reported with its entry and what was done about it; the rest of the
// file is used, and the original is kept beside it for its owner.
TEST_F(StateStoreTest, DamagedPartsAreReportedAndTheOriginalKept) {
    const std::string a = tokenKey("a");
    const std::string b = tokenKey("b");
    const std::string c = tokenKey("c");
    std::ostringstream yaml;
    yaml << "version: 1\ntokens:\n"
         << "  " << a << ":\n    last_call: 1699999000\n    consecutive_missing: 0\n"
         << "    queued: {ip: 6.6.6.999, accepted_at: 1, attempts: 0, next_attempt: 1}\n"
         << "  " << b << ":\n    last_call: 1699999100\n    consecutive_missing: 2\n"
         << "    queued:\n      ip: 5.6.7.8\n      accepted_at: 1699999100\n"  // cut here
         << "  " << c << ":\n    last_call: 1699999200\n    confirmed_ip: \"\xfb\\n<3>x\"\n"
         << "    consecutive_missing: 0\n    queued:\n"  // cut after the key
         << "  not-a-key: {last_call: 1}\n";
    writeFile(statePath(), yaml.str());

    std::vector<StateProblem> problems;
    StateStore loader = store();
    ::testing::internal::CaptureStderr();
    const TokenStates states = loader.load(&problems);
    const std::string log = ::testing::internal::GetCapturedStderr();

    EXPECT_EQ(problems,
              (std::vector<StateProblem>{
                  {a, "queued.ip: '6.6.6.999' is not an IP address; the queued update is dropped"},
                  {b, "queued.attempts: missing (the entry was cut short?)"},
                  {b, "queued.next_attempt: missing (the entry was cut short?)"},
                  {c,
                   "confirmed_ip: '\\xfb\\x0a<3>x' is not an IP address; dropped (the next "
                   "update goes to the service)"},
                  {c,
                   "queued: nothing (null) instead of an update (the entry was cut short?); the "
                   "queued update is dropped"},
                  {"", "the entry 'not-a-key' is not a token key; dropped"},
              }));
    ASSERT_EQ(states.size(), 3u);
    EXPECT_EQ(states.at(a).lastCall, TimePoint(std::chrono::seconds(1'699'999'000)));
    EXPECT_FALSE(states.at(a).queued);
    ASSERT_TRUE(states.at(b).queued) << "its address is sound: it is still sent";
    EXPECT_EQ(states.at(b).queued->ip, ip("5.6.7.8"));
    EXPECT_EQ(states.at(b).queued->nextAttempt, now_);
    EXPECT_FALSE(states.at(c).queued);

    const fs::path copy = dir_ / "state.yaml.damaged-1700000000";
    EXPECT_EQ(loader.damagedCopy(), copy.string());
    EXPECT_EQ(readFile(copy), yaml.str());
    EXPECT_NE(log.find("error: state file " + statePath().string() +
                       " is partly damaged (6 problem(s), each named below); the sound parts are "
                       "used and the original is kept as " +
                       copy.string()),
              std::string::npos)
        << log;

    // The next save replaces state.yaml; the kept original stays as it was.
    std::string error;
    ASSERT_TRUE(loader.save(states, &error)) << error;
    EXPECT_EQ(readFile(copy), yaml.str());
    problems.clear();
    EXPECT_EQ(store().load(&problems), states);
    EXPECT_TRUE(problems.empty());
}

// Without a caller to name the accounts, the store logs each problem itself.
TEST_F(StateStoreTest, DamagedPartsAreLoggedWhenNobodyAsks) {
    writeFile(statePath(), "version: 1\ntokens:\n  " + tokenKey("a") +
                               ":\n    consecutive_missing: 0\n    queued: {ip: 6.6.6.999}\n");
    ::testing::internal::CaptureStderr();
    store().load();
    const std::string log = ::testing::internal::GetCapturedStderr();
    EXPECT_NE(log.find("error: state file " + statePath().string() + ": the entry " +
                       tokenKey("a").substr(0, 8) + "\u2026: queued.ip: '6.6.6.999'"),
              std::string::npos)
        << log;
}

// yaml-cpp's messages may quote the file's bytes: what reaches the log is printable.
TEST_F(StateStoreTest, YamlErrorsAreMadePrintable) {
    std::string problem;
    std::vector<StateProblem> problems;
    EXPECT_FALSE(parseStateText("version: 1\ntokens: \"\\\xfb\"\n", now_, &problem, &problems));
    EXPECT_FALSE(problem.empty());
    for (const char ch : problem) {
        EXPECT_TRUE(ch >= 0x20 && ch < 0x7f) << problem;
    }
}

// fake-hwclock restored a time behind the real one: a last call stored "in the future" by up to
// a day is real and must keep the window shut; further ahead it is a bogus clock.
TEST_F(StateStoreTest, ALastCallUpToADayAheadIsKeptFurtherIsNow) {
    const int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(now_.time_since_epoch()).count();
    std::ostringstream yaml;
    yaml << "version: 1\ntokens:\n"
         << "  " << tokenKey("a") << ": {last_call: " << now + 3600 << "}\n"
         << "  " << tokenKey("b") << ": {last_call: " << now + 24 * 3600 << "}\n"
         << "  " << tokenKey("c") << ": {last_call: " << now + 24 * 3600 + 1 << "}\n";
    writeFile(statePath(), yaml.str());
    const TokenStates states = store().load();
    EXPECT_EQ(states.at(tokenKey("a")).lastCall, now_ + std::chrono::hours(1));
    EXPECT_EQ(states.at(tokenKey("b")).lastCall, now_ + StateStore::kMaxAhead);
    EXPECT_EQ(states.at(tokenKey("c")).lastCall, now_);
}

// The source addresses of accepted updates (local names: the device that sent an update is told
// the address it sent) survive a restart, newest first.
TEST_F(StateStoreTest, SourcesRoundTripNewestFirst) {
    TokenStates saved = sample(now_);
    saved.at(tokenKey(kToken)).sources = {ip("192.168.1.1"), ip("fd00::1"), ip("10.0.0.7")};
    std::string error;
    ASSERT_TRUE(store().save(saved, &error)) << error;
    EXPECT_NE(readFile(statePath()).find("sources: [192.168.1.1, fd00::1, 10.0.0.7]"),
              std::string::npos)
        << readFile(statePath());
    const TokenStates loaded = store().load();
    EXPECT_EQ(loaded, saved);
    EXPECT_EQ(loaded.at(tokenKey(kToken)).sources.front(), ip("192.168.1.1"));
    // An entry without sources writes no key and reads back empty.
    EXPECT_TRUE(loaded.at(tokenKey("third")).sources.empty());
}

// Who asked for an update (a device or the gateway's self-update) is kept with the queued
// update and the confirmed address; a file without it (written before origins were kept) is
// all devices, and an unreadable one is reported and taken as a device's.
TEST_F(StateStoreTest, OriginsRoundTripAndDefaultToDevice) {
    TokenStates saved = sample(now_);
    TokenState& withQueue = saved.at(tokenKey(kToken));
    withQueue.confirmedOrigin = UpdateOrigin::SelfUpdate;
    withQueue.queued->origin = UpdateOrigin::SelfUpdate;
    std::string error;
    ASSERT_TRUE(store().save(saved, &error)) << error;
    const std::string text = readFile(statePath());
    EXPECT_NE(text.find("confirmed_origin: self-update"), std::string::npos) << text;
    EXPECT_NE(text.find("origin: device"), std::string::npos) << text;
    EXPECT_EQ(store().load(), saved);

    const std::string key = tokenKey("a");
    writeFile(statePath(), "version: 1\ntokens:\n  " + key +
                               ":\n    confirmed_ip: 1.2.3.4\n    confirmed_origin: router\n"
                               "    consecutive_missing: 0\n"
                               "    queued: {ip: 5.6.7.8, accepted_at: 1, attempts: 0, "
                               "next_attempt: 1}\n");
    std::vector<StateProblem> problems;
    const TokenStates loaded = store().load(&problems);
    EXPECT_EQ(
        problems,
        (std::vector<StateProblem>{{key,
                                    "confirmed_origin: 'router' is not device or self-update; "
                                    "taken as device"}}));
    ASSERT_TRUE(loaded.at(key).queued);
    EXPECT_EQ(loaded.at(key).queued->origin, UpdateOrigin::Device);
    EXPECT_EQ(loaded.at(key).confirmedOrigin, UpdateOrigin::Device);
}

// A hand-edited or damaged file cannot make the list grow: the newest kMaxSources are kept.
TEST_F(StateStoreTest, SourcesAreBoundedOnLoad) {
    std::ostringstream yaml;
    yaml << "version: 1\ntokens:\n  " << tokenKey("a")
         << ":\n    consecutive_missing: 0\n    sources: [";
    for (size_t i = 0; i < StateStore::kMaxSources + 4; ++i)
        yaml << (i ? ", " : "") << "10.0.0." << i + 1;
    yaml << "]\n";
    writeFile(statePath(), yaml.str());
    std::vector<StateProblem> problems;
    const TokenStates states = store().load(&problems);
    const auto& sources = states.at(tokenKey("a")).sources;
    ASSERT_EQ(sources.size(), StateStore::kMaxSources);
    EXPECT_EQ(sources.front(), ip("10.0.0.1"));
    EXPECT_EQ(sources.back(), ip("10.0.0.16"));
    EXPECT_TRUE(problems.empty());
}

TEST_F(StateStoreTest, DamagedSourcesAreReportedAndTheSoundOnesKept) {
    const std::string a = tokenKey("a");
    const std::string b = tokenKey("b");
    std::ostringstream yaml;
    yaml << "version: 1\ntokens:\n"
         << "  " << a << ":\n    consecutive_missing: 0\n"
         << "    sources: [192.168.1.1, 300.1.1.1, {x: 1}, fd00::2]\n"
         << "  " << b << ":\n    consecutive_missing: 0\n    sources: 192.168.1.9\n";
    writeFile(statePath(), yaml.str());
    std::vector<StateProblem> problems;
    StateStore loader = store();
    ::testing::internal::CaptureStderr();
    const TokenStates states = loader.load(&problems);
    ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(problems, (std::vector<StateProblem>{
                            {a, "sources: '300.1.1.1' is not an IP address; dropped"},
                            {a, "sources: a mapping is not an IP address; dropped"},
                            {b, "sources: '192.168.1.9' is not a list; dropped"},
                        }));
    EXPECT_EQ(states.at(a).sources,
              (std::vector<net::IpAddress>{ip("192.168.1.1"), ip("fd00::2")}));
    EXPECT_TRUE(states.at(b).sources.empty());
    // Kept for its owner, as every partly damaged file.
    EXPECT_EQ(readFile(loader.damagedCopy()), yaml.str());
}

TEST_F(StateStoreTest, TooManyTokensAreCut) {
    std::ostringstream yaml;
    yaml << "version: 1\ntokens:\n";
    for (size_t i = 0; i < StateStore::kMaxTokens + 10; ++i)
        yaml << "  " << tokenKey(std::to_string(i)) << ": {last_call: 1, consecutive_missing: 0}\n";
    writeFile(statePath(), yaml.str());
    std::vector<StateProblem> problems;
    ::testing::internal::CaptureStderr();
    EXPECT_EQ(store().load(&problems).size(), StateStore::kMaxTokens);
    ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(
        problems,
        (std::vector<StateProblem>{{"", "more than 1000 token entries; the rest are dropped"}}));
}

TEST_F(StateStoreTest, FailedSaveReportsAndKeepsThePreviousFile) {
    const TokenStates first = sample(now_);
    std::string error;
    ASSERT_TRUE(store().save(first, &error)) << error;

    // A directory where the temp file goes: fails even for root, unlike a read-only mode.
    fs::create_directory(dir_ / "state.yaml.tmp");
    EXPECT_FALSE(store().save({}, &error));
    EXPECT_NE(error.find("state.yaml.tmp"), std::string::npos) << error;
    EXPECT_EQ(store().load(), first);
}

TEST_F(StateStoreTest, StateDirThatIsAFileFailsToSave) {
    writeFile(dir_ / "file", "x");
    StateStore broken((dir_ / "file").string(), clock_);
    std::string error;
    EXPECT_FALSE(broken.save(sample(now_), &error));
    EXPECT_FALSE(error.empty());
}

}  // namespace
}  // namespace dynamo::gateway
