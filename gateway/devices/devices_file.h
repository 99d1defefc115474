#pragma once
// The device list across restarts: state_dir/devices.yaml, replaced atomically
// (net/atomic_file.h), mode 0600 (it names accounts and addresses). It is history for
// diagnosis, not state the gateway acts on, so a damaged file costs only the history: it is
// moved aside with an error and the daemon starts with an empty list.

#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/devices/device_table.h"

namespace dynamo::gateway {

inline constexpr const char* kDevicesFile = "devices.yaml";
// Larger than kMaxDevices full records ever are; a larger file is damaged.
inline constexpr size_t kMaxDevicesFileSize = 16 * 1024 * 1024;

std::string devicesToYaml(const DeviceTable& table);
// Fills an empty `table` from `text`; false with *problem (one line) when the text is not a
// device list this daemon wrote. Strings are bounded again and control characters replaced:
// the file is not trusted more than the clients were.
bool devicesFromYaml(std::string_view text, DeviceTable* table, std::string* problem);

// state_dir/devices.yaml into an empty `table`: nothing when the file is missing; a damaged
// one is moved to devices.yaml.corrupt-<now> (an error logged) and the table stays empty.
void loadDevices(const std::string& stateDir, DeviceTable* table, int64_t now);
// False with *error when the file may not be durable.
bool saveDevices(const std::string& stateDir, const DeviceTable& table, std::string* error);

}  // namespace dynamo::gateway
