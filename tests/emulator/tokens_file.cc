#include "tests/emulator/tokens_file.h"

#include <fstream>
#include <sstream>

namespace dynamo::emulator {

TokensFile parseTokensText(const std::string& text, const std::string& fileName) {
    TokensFile result;
    std::istringstream lines(text);
    std::string line;
    int lineNumber = 0;
    auto fail = [&](const std::string& problem) {
        result.entries.clear();
        result.error = fileName + ":" + std::to_string(lineNumber) + ": " + problem;
        return result;
    };
    while (std::getline(lines, line)) {
        ++lineNumber;
        if (const size_t hash = line.find('#'); hash != std::string::npos)
            line.erase(hash);
        std::istringstream fields(line);
        std::vector<std::string> words;
        for (std::string word; fields >> word;)
            words.push_back(word);
        if (words.empty())
            continue;
        if (words.size() > 3)
            return fail("expected: TOKEN [MODE [ADDRESS]]");

        TokenEntry entry;
        entry.token = words[0];
        if (entry.token.size() != kTokenLength) {
            return fail("token: must be " + std::to_string(kTokenLength) + " characters, not " +
                        std::to_string(entry.token.size()));
        }
        if (words.size() > 1) {
            auto mode = parseMode(words[1]);
            if (!mode)
                return fail("mode: unknown \"" + words[1] + "\"");
            entry.mode = *mode;
        }
        if (words.size() > 2) {
            if (!isDottedIpv4(words[2]))
                return fail("address: not an IPv4 address");
            entry.address = words[2];
        }
        result.entries.push_back(std::move(entry));
    }
    return result;
}

TokensFile loadTokensFile(const std::string& path) {
    std::ifstream file(path);
    if (!file) {
        TokensFile result;
        result.error = path + ": cannot open";
        return result;
    }
    std::ostringstream text;
    text << file.rdbuf();
    return parseTokensText(text.str(), path);
}

}  // namespace dynamo::emulator
