#pragma once

// A thin facade over spdlog writing one JSON object per line to stderr:
//   {"ts":"2026-11-21T14:00:00.000Z","level":"info","service":"roster","msg":"...",...fields}
// Never pass a secret (password, private key, passphrase) as a message or field.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rostersync::log {

using Fields = std::vector<std::pair<std::string, std::string>>;

// Sets the "service" field of every line. Safe to call once at start-up.
void Init(std::string_view service);

void Debug(std::string_view msg, const Fields& fields = {});
void Info(std::string_view msg, const Fields& fields = {});
void Warn(std::string_view msg, const Fields& fields = {});
void Error(std::string_view msg, const Fields& fields = {});

// Renders one line without writing it (used by Info etc.; exposed for tests).
std::string FormatLine(std::string_view level, std::string_view msg, const Fields& fields);

}  // namespace rostersync::log
