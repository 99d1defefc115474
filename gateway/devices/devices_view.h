#pragma once
// /devices (HTML, for a phone) and /devices.json: the device list with a diagnosis per device,
// most recently seen first. Pure renderers, as gateway/status/status_report.h's: `now` is
// passed in, and every string a client chose is escaped for the output format.

#include <string>
#include <string_view>

#include "gateway/devices/device_table.h"
#include "gateway/status/status_report.h"

namespace dynamo::gateway {

inline constexpr std::string_view kDevicesHtmlContentType = "text/html; charset=utf-8";
inline constexpr std::string_view kDevicesJsonContentType = "application/json";

// Each ends with a newline.
std::string renderDevicesHtml(const DeviceTable& table, TimePoint now);
std::string renderDevicesJson(const DeviceTable& table, TimePoint now);

}  // namespace dynamo::gateway
