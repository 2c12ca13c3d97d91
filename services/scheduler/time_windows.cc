#include "services/scheduler/time_windows.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace rostersync::scheduler {
namespace {

// "YYYY-MM-DD" -> (day, true); "YYYY-MM-DDTHH:MM" -> (minute, false).
absl::StatusOr<std::pair<absl::CivilMinute, bool>> ParseLocal(absl::string_view name,
                                                              const std::string& text) {
  if (text.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": is required (\"YYYY-MM-DD\" or \"YYYY-MM-DDTHH:MM\")"));
  }
  absl::CivilDay day;
  if (text.size() == 10 && absl::ParseCivilTime(text, &day) && absl::FormatCivilTime(day) == text) {
    return std::make_pair(absl::CivilMinute(day), true);
  }
  absl::CivilMinute minute;
  if (text.size() == 16 && absl::ParseCivilTime(text, &minute) &&
      absl::FormatCivilTime(minute) == text) {
    return std::make_pair(minute, false);
  }
  return absl::InvalidArgumentError(
      absl::StrCat(name, ": \"", text,
                   "\" is not a local date \"YYYY-MM-DD\" or date-time \"YYYY-MM-DDTHH:MM\""));
}

}  // namespace

absl::StatusOr<CivilWindow> ParseTimeWindow(const v1::TimeWindow& window) {
  auto start = ParseLocal("start", window.start());
  if (!start.ok()) return start.status();
  auto end = ParseLocal("end", window.end());
  if (!end.ok()) return end.status();
  CivilWindow out;
  out.start = start->first;
  // A date alone as the end includes that whole day.
  out.end = end->second ? absl::CivilMinute(absl::CivilDay(end->first) + 1) : end->first;
  if (out.end <= out.start) {
    return absl::InvalidArgumentError(
        absl::StrCat("end: \"", window.end(), "\" is not after start \"", window.start(), "\""));
  }
  return out;
}

std::string DescribeTimeWindow(const v1::TimeWindow& window) {
  std::string out = absl::StrCat(window.start(), " .. ", window.end());
  if (!window.reason().empty()) absl::StrAppend(&out, " (", window.reason(), ")");
  return out;
}

WindowStatus WindowsAt(const v1::Integration& integration, absl::Time t) {
  WindowStatus status;
  if (integration.blackout_windows().empty() && integration.add_only_windows().empty()) {
    return status;
  }
  absl::TimeZone zone;
  if (!absl::LoadTimeZone(integration.time_zone(), &zone)) zone = absl::UTCTimeZone();
  const absl::CivilSecond local = absl::ToCivilSecond(t, zone);
  auto open = [&](const v1::TimeWindow& w) {
    auto parsed = ParseTimeWindow(w);
    return parsed.ok() && absl::CivilSecond(parsed->start) <= local &&
           local < absl::CivilSecond(parsed->end);
  };
  for (const v1::TimeWindow& w : integration.blackout_windows()) {
    if (open(w)) {
      status.blackout = true;
      status.blackout_window = DescribeTimeWindow(w);
      break;
    }
  }
  for (const v1::TimeWindow& w : integration.add_only_windows()) {
    if (open(w)) {
      status.add_only = true;
      status.add_only_window = DescribeTimeWindow(w);
      break;
    }
  }
  return status;
}

absl::Status CheckNotInBlackout(const v1::Integration& integration, absl::Time now) {
  WindowStatus status = WindowsAt(integration, now);
  if (!status.blackout) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "integration ", integration.integration_id(), " is in blackout window ",
      status.blackout_window, " (", integration.time_zone(),
      "); no run may start until it ends (edit integration.blackout_windows to run now)"));
}

std::string ApplyAddOnlyWindow(const v1::Integration& integration, absl::Time now,
                               v1::RosterJob& job) {
  WindowStatus status = WindowsAt(integration, now);
  if (!status.add_only) return "";
  job.mutable_policy()->set_sync_policy(v1::SYNC_POLICY_KEEP);
  job.set_sync_policy(v1::SYNC_POLICY_KEEP);
  return absl::StrCat("; add-only window ", status.add_only_window,
                      ": sync policy KEEP (nobody is removed)");
}

}  // namespace rostersync::scheduler
