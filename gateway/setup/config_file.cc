#include "gateway/setup/config_file.h"

#include <sys/stat.h>

#include <filesystem>

#include "net/atomic_file.h"
#include "net/error_text.h"
#include "net/small_file.h"

namespace dynamo::gateway {

std::optional<std::string> readConfigText(const std::string& path, std::string* error) {
    net::SmallFile file = net::readSmallFile(path, config::kMaxFileBytes);
    switch (file.status) {
        case net::SmallFile::Status::Read:
            return std::move(file.text);
        case net::SmallFile::Status::TooLarge:
            *error = path + ": larger than 1 MiB";
            return std::nullopt;
        case net::SmallFile::Status::Missing:
        case net::SmallFile::Status::Failed:
            break;
    }
    *error = path + ": " + net::errnoText(file.error);
    return std::nullopt;
}

ConfigEditResult editConfigFile(
    const std::string& path,
    const std::function<std::optional<std::string>(const std::string&, std::string*)>& edit,
    const std::function<void(const config::Config&, std::vector<std::string>&)>& check,
    const config::Environment& environment) {
    ConfigEditResult result;
    std::string error;
    // A symbolic link (/etc/dynamo-gateway/config.yaml -> a file elsewhere) stays one: the
    // file it points to is replaced.
    std::error_code code;
    const std::filesystem::path real = std::filesystem::canonical(path, code);
    if (code) {
        result.errors.push_back(path + ": " + code.message());
        return result;
    }
    const auto current = readConfigText(real.string(), &error);
    if (!current) {
        result.errors.push_back(error);
        return result;
    }
    if (!config::parse(*current, path, environment).config) {
        result.errors.push_back(path +
                                ": has problems of its own; fix them first (dynamo-gateway "
                                "--config " +
                                path + " --check)");
        return result;
    }
    const auto next = edit(*current, &error);
    if (!next) {
        result.errors.push_back(path + ": " + error);
        return result;
    }
    auto parsed = config::parse(*next, path, environment);
    if (!parsed.config) {
        result.errors = std::move(parsed.errors);
        return result;
    }
    check(*parsed.config, result.errors);
    if (!result.errors.empty())
        return result;
    struct stat info {};
    if (::stat(real.c_str(), &info) != 0) {
        result.errors.push_back(net::fileErrorText("cannot stat", real.string()));
        return result;
    }
    if (!net::writeFileAtomically(real.parent_path().string(), real.filename().string(), *next,
                                  info.st_mode & 07777, info.st_uid, info.st_gid, &error)) {
        result.errors.push_back(error);
        return result;
    }
    result.written = true;
    result.config = std::move(parsed.config);
    return result;
}

}  // namespace dynamo::gateway
