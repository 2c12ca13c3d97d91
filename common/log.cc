#include "common/log.h"

#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace rostersync::log {
namespace {

std::mutex& Mu() {
  static std::mutex mu;
  return mu;
}
std::string& Service() {
  static std::string service = "rostersync";
  return service;
}
std::shared_ptr<spdlog::logger> Logger() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = spdlog::stderr_logger_mt("rostersync-json");
    l->set_pattern("%v");
    l->set_level(spdlog::level::debug);
    l->flush_on(spdlog::level::debug);
    return l;
  }();
  return logger;
}

void Write(spdlog::level::level_enum level, std::string_view name, std::string_view msg,
           const Fields& fields) {
  Logger()->log(level, "{}", FormatLine(name, msg, fields));
}

}  // namespace

void Init(std::string_view service) {
  std::lock_guard<std::mutex> lock(Mu());
  Service() = std::string(service);
  Logger();
}

std::string FormatLine(std::string_view level, std::string_view msg, const Fields& fields) {
  nlohmann::ordered_json line;
  line["ts"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  line["level"] = std::string(level);
  {
    std::lock_guard<std::mutex> lock(Mu());
    line["service"] = Service();
  }
  line["msg"] = std::string(msg);
  for (const auto& [key, value] : fields) line[key] = value;
  // Replace invalid UTF-8 rather than throw: a log line must never take a service down.
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void Debug(std::string_view msg, const Fields& fields) {
  Write(spdlog::level::debug, "debug", msg, fields);
}
void Info(std::string_view msg, const Fields& fields) {
  Write(spdlog::level::info, "info", msg, fields);
}
void Warn(std::string_view msg, const Fields& fields) {
  Write(spdlog::level::warn, "warn", msg, fields);
}
void Error(std::string_view msg, const Fields& fields) {
  Write(spdlog::level::err, "error", msg, fields);
}

}  // namespace rostersync::log
