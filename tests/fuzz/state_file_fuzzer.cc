// Fuzzes the state file parser (gateway/state_store.cc): the input is the whole text of
// state_dir/state.yaml, as a damaged SD card or a hand edit may leave it. Never crashes; the
// invariants below abort so the fuzzer reports a broken one:
// - what the log may quote (the file-level problem, each damaged part) is printable ASCII
//   (log::printable() marks a cut with "…", the only non-ASCII it adds);
// - what loads is bounded, and written back and read again it is the same, with no problem.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "gateway/updates/state_store.h"

namespace {

using namespace dynamo;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const gateway::TimePoint now{std::chrono::seconds(1'700'000'000)};
    std::string fileProblem;
    std::vector<gateway::StateProblem> problems;
    const auto states = gateway::parseStateText(text, now, &fileProblem, &problems);
    if (!states) {
        FUZZ_CHECK(!fileProblem.empty() && fuzz::isPrintableLogText(fileProblem));
        return 0;
    }
    FUZZ_CHECK(states->size() <= gateway::StateStore::kMaxTokens);
    for (const gateway::StateProblem& problem : problems) {
        FUZZ_CHECK(problem.key.empty() || problem.key.size() == 64);
        FUZZ_CHECK(fuzz::isPrintableLogText(problem.what));
    }
    for (const auto& [key, state] : *states) {
        FUZZ_CHECK(state.consecutiveMissing <= gateway::StateStore::kMaxCounter);
        FUZZ_CHECK(!state.queued || state.queued->attempts <= gateway::StateStore::kMaxCounter);
        FUZZ_CHECK(!state.lastCall || *state.lastCall <= now + gateway::StateStore::kMaxAhead);
    }

    std::string again;
    std::vector<gateway::StateProblem> reread;
    const auto roundTrip =
        gateway::parseStateText(gateway::formatStateText(*states), now, &again, &reread);
    FUZZ_CHECK(roundTrip && *roundTrip == *states && reread.empty());
    return 0;
}
