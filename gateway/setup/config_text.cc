#include "gateway/setup/config_text.h"

#include <cstdio>

namespace dynamo::gateway {
namespace {

struct Line {
    std::string text;  // without its newline
    size_t indent = 0;
    bool content = false;  // neither blank nor only a comment
    std::string_view body() const { return std::string_view(text).substr(indent); }
};

std::vector<Line> splitLines(std::string_view text) {
    std::vector<Line> lines;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string_view::npos)
            end = text.size();
        Line line;
        line.text = std::string(text.substr(start, end - start));
        if (!line.text.empty() && line.text.back() == '\r')
            line.text.pop_back();
        line.indent = line.text.find_first_not_of(' ');
        if (line.indent == std::string::npos) {
            line.indent = line.text.size();
        } else {
            line.content = line.text[line.indent] != '#';
        }
        lines.push_back(std::move(line));
        start = end + 1;
    }
    return lines;
}

std::string joinLines(const std::vector<Line>& lines) {
    std::string out;
    for (const auto& line : lines)
        out += line.text + "\n";
    return out;
}

Line makeLine(size_t indent, std::string_view body) {
    Line line;
    line.text = std::string(indent, ' ') + std::string(body);
    line.indent = indent;
    line.content = true;
    return line;
}

bool isDash(const Line& line) {
    const auto body = line.body();
    return line.content && body.starts_with('-') && (body.size() == 1 || body[1] == ' ');
}

// The value after "key:" on a line that is that key; nullopt when the line is another key.
// The value has its comment and surrounding blanks removed ("" when none).
std::optional<std::string> valueOf(const Line& line, std::string_view key) {
    const auto body = line.body();
    if (!line.content || !body.starts_with(key) || body.size() <= key.size() ||
        body[key.size()] != ':')
        return std::nullopt;
    std::string_view rest = body.substr(key.size() + 1);
    if (!rest.empty() && rest[0] != ' ')
        return std::nullopt;
    // A '#' after a blank starts a comment; quotes make this a guess, so only "[]", "null", "~"
    // and "" matter to the callers and anything else is treated as a value to replace.
    const size_t comment = rest.find(" #");
    if (comment != std::string_view::npos)
        rest = rest.substr(0, comment);
    const size_t first = rest.find_first_not_of(' ');
    if (first == std::string_view::npos)
        return std::string();
    const size_t last = rest.find_last_not_of(' ');
    return std::string(rest.substr(first, last - first + 1));
}

bool isEmptyValue(const std::string& value) {
    return value.empty() || value == "[]" || value == "null" || value == "~";
}

struct Section {
    size_t header = 0;  // the "key:" line
    size_t end = 0;     // one past its last line with content
};

// The top-level key's lines: up to the next top-level key. Comments and blank lines after its
// last content line belong to what follows.
std::optional<Section> findSection(const std::vector<Line>& lines, std::string_view key) {
    for (size_t i = 0; i < lines.size(); ++i) {
        if (lines[i].indent != 0 || !valueOf(lines[i], key))
            continue;
        Section section{i, i + 1};
        for (size_t j = i + 1; j < lines.size(); ++j) {
            if (!lines[j].content)
                continue;
            if (lines[j].indent == 0 && !isDash(lines[j]))
                break;
            section.end = j + 1;
        }
        return section;
    }
    return std::nullopt;
}

// The indentation of a section's first child (2 when it has none).
size_t childIndent(const std::vector<Line>& lines, const Section& section) {
    for (size_t i = section.header + 1; i < section.end; ++i) {
        if (lines[i].content)
            return lines[i].indent;
    }
    return 2;
}

void ensureSeparated(std::vector<Line>& lines) {
    if (!lines.empty() && !lines.back().text.empty())
        lines.push_back(Line{});
}

std::string flowList(const std::vector<std::string>& items) {
    std::string out = "[";
    for (size_t i = 0; i < items.size(); ++i)
        out += (i == 0 ? "" : ", ") + yamlQuoted(items[i]);
    return out + "]";
}

std::vector<Line> renderAccount(const config::Account& account, size_t indent) {
    std::vector<Line> out;
    out.push_back(makeLine(indent, "- username: " + yamlQuoted(account.username)));
    out.push_back(makeLine(indent + 2, "password: " + yamlQuoted(account.password)));
    out.push_back(makeLine(indent + 2, "token: " + yamlQuoted(account.token)));
    out.push_back(makeLine(indent + 2, "hostnames: " + flowList(account.hostnames)));
    if (!account.ipToken.empty())
        out.push_back(makeLine(indent + 2, "ip_token: " + yamlQuoted(account.ipToken)));
    if (!account.names.empty())
        out.push_back(makeLine(indent + 2, "names: " + flowList(account.names)));
    return out;
}

struct Entries {
    size_t dashIndent = 2;
    // [begin, end) of each entry: its "- " line to its last content line.
    std::vector<std::pair<size_t, size_t>> spans;
};

std::optional<Entries> accountEntries(const std::vector<Line>& lines, const Section& section,
                                      std::string* error) {
    Entries entries;
    const auto inlineValue = valueOf(lines[section.header], "accounts");
    if (!isEmptyValue(*inlineValue)) {
        *error = "accounts is written on one line (flow style): edit the file by hand";
        return std::nullopt;
    }
    bool first = true;
    for (size_t i = section.header + 1; i < section.end; ++i) {
        if (!lines[i].content)
            continue;
        if (first) {
            if (!isDash(lines[i])) {
                *error = "accounts is not a list of '- username: ...' entries";
                return std::nullopt;
            }
            entries.dashIndent = lines[i].indent;
            first = false;
        }
        if (isDash(lines[i]) && lines[i].indent == entries.dashIndent) {
            entries.spans.emplace_back(i, i + 1);
        } else if (lines[i].indent <= entries.dashIndent) {
            *error = "accounts has a line the set-up page does not understand: edit it by hand";
            return std::nullopt;
        } else {
            entries.spans.back().second = i + 1;
        }
    }
    return entries;
}

}  // namespace

std::string yamlQuoted(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (byte < 0x20 || byte == 0x7f) {
            char escaped[5];
            std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
            out += escaped;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

std::optional<std::string> setGatewayKey(std::string_view text, std::string_view key,
                                         std::string_view value, std::string* error) {
    auto lines = splitLines(text);
    const std::string rendered = std::string(key) + ": " + std::string(value);
    const auto section = findSection(lines, "gateway");
    if (!section) {
        ensureSeparated(lines);
        lines.push_back(makeLine(0, "gateway:"));
        lines.push_back(makeLine(2, rendered));
        return joinLines(lines);
    }
    if (!isEmptyValue(*valueOf(lines[section->header], "gateway"))) {
        *error = "gateway is written on one line (flow style): edit the file by hand";
        return std::nullopt;
    }
    const size_t indent = childIndent(lines, *section);
    for (size_t i = section->header + 1; i < section->end; ++i) {
        if (lines[i].indent == indent && valueOf(lines[i], key)) {
            lines[i] = makeLine(indent, rendered);
            return joinLines(lines);
        }
    }
    lines.insert(lines.begin() + static_cast<ptrdiff_t>(section->end), makeLine(indent, rendered));
    return joinLines(lines);
}

std::optional<std::string> replaceAccount(std::string_view text, size_t index,
                                          const std::optional<config::Account>& account,
                                          std::string* error) {
    auto lines = splitLines(text);
    const auto section = findSection(lines, "accounts");
    if (!section) {
        *error = "the file has no accounts section";
        return std::nullopt;
    }
    const auto entries = accountEntries(lines, *section, error);
    if (!entries)
        return std::nullopt;
    if (index >= entries->spans.size()) {
        *error = "the file has no accounts[" + std::to_string(index) + "]";
        return std::nullopt;
    }
    const auto [begin, end] = entries->spans[index];
    std::vector<Line> replacement;
    if (account)
        replacement = renderAccount(*account, entries->dashIndent);
    lines.erase(lines.begin() + static_cast<ptrdiff_t>(begin),
                lines.begin() + static_cast<ptrdiff_t>(end));
    lines.insert(lines.begin() + static_cast<ptrdiff_t>(begin), replacement.begin(),
                 replacement.end());
    return joinLines(lines);
}

std::optional<std::string> appendAccount(std::string_view text, const config::Account& account,
                                         std::string* error) {
    auto lines = splitLines(text);
    const auto section = findSection(lines, "accounts");
    if (!section) {
        ensureSeparated(lines);
        lines.push_back(makeLine(0, "accounts:"));
        for (auto& line : renderAccount(account, 2))
            lines.push_back(std::move(line));
        return joinLines(lines);
    }
    const auto entries = accountEntries(lines, *section, error);
    if (!entries)
        return std::nullopt;
    // "accounts: []" becomes a block list.
    lines[section->header] = makeLine(0, "accounts:");
    const auto rendered = renderAccount(account, entries->dashIndent);
    lines.insert(lines.begin() + static_cast<ptrdiff_t>(section->end), rendered.begin(),
                 rendered.end());
    return joinLines(lines);
}

std::optional<std::string> setUpstreams(std::string_view text,
                                        const std::vector<std::string>& upstreams,
                                        std::string* error) {
    auto lines = splitLines(text);
    const std::string rendered = "upstreams: " + flowList(upstreams);
    const auto section = findSection(lines, "dns");
    if (!section) {
        ensureSeparated(lines);
        lines.push_back(makeLine(0, "dns:"));
        lines.push_back(makeLine(2, rendered));
        return joinLines(lines);
    }
    if (!isEmptyValue(*valueOf(lines[section->header], "dns"))) {
        *error = "dns is written on one line (flow style): edit the file by hand";
        return std::nullopt;
    }
    const size_t indent = childIndent(lines, *section);
    for (size_t i = section->header + 1; i < section->end; ++i) {
        if (lines[i].indent != indent || !valueOf(lines[i], "upstreams"))
            continue;
        // The list's own lines: deeper ones, or "- " at the key's indentation (YAML allows a
        // block sequence there), up to the next key.
        size_t last = i;
        for (size_t j = i + 1; j < section->end; ++j) {
            if (!lines[j].content)
                continue;
            if (lines[j].indent > indent || (lines[j].indent == indent && isDash(lines[j])))
                last = j;
            else
                break;
        }
        lines.erase(lines.begin() + static_cast<ptrdiff_t>(i),
                    lines.begin() + static_cast<ptrdiff_t>(last + 1));
        lines.insert(lines.begin() + static_cast<ptrdiff_t>(i), makeLine(indent, rendered));
        return joinLines(lines);
    }
    lines.insert(lines.begin() + static_cast<ptrdiff_t>(section->header + 1),
                 makeLine(indent, rendered));
    return joinLines(lines);
}

}  // namespace dynamo::gateway
