#pragma once

// Blackout and add-only windows of an integration (Integration.blackout_windows /
// add_only_windows), evaluated in the integration's civil time.
//
// A window is [start, end) in local time. start is "YYYY-MM-DD" (00:00 that day) or
// "YYYY-MM-DDTHH:MM"; end is "YYYY-MM-DD" (inclusive: the window closes at 00:00 the next
// day) or "YYYY-MM-DDTHH:MM" (exclusive). Comparing civil times makes daylight-saving changes
// harmless: 02:30 on a fall-back day is inside a window that covers 02:30 both times it
// occurs, and a local time skipped by a spring-forward change simply never happens.
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "rostersync/v1/jobs.pb.h"
#include "rostersync/v1/scheduler.pb.h"

namespace rostersync::scheduler {

struct CivilWindow {
  absl::CivilMinute start;
  absl::CivilMinute end;  // exclusive
};

// INVALID_ARGUMENT naming "start" or "end" and the value (callers prefix the field path).
absl::StatusOr<CivilWindow> ParseTimeWindow(const v1::TimeWindow& window);

// "2026-07-01 .. 2026-08-15 (school year rollover)" for logs and run history.
std::string DescribeTimeWindow(const v1::TimeWindow& window);

struct WindowStatus {
  bool blackout = false;
  std::string blackout_window;  // DescribeTimeWindow of the first matching window
  bool add_only = false;
  std::string add_only_window;
};

// Which windows of `integration` are open at `t`, in its time zone (UTC when the zone does
// not load; validation refuses such integrations). Windows that do not parse are ignored
// (validation refuses those too).
WindowStatus WindowsAt(const v1::Integration& integration, absl::Time t);

// FAILED_PRECONDITION naming the window when a manual trigger at `now` falls in a blackout.
absl::Status CheckNotInBlackout(const v1::Integration& integration, absl::Time now);

// In an add-only window at `now`, an import job must not remove anyone: sets the job's
// policy.sync_policy and sync_policy to SYNC_POLICY_KEEP and returns a note for the run's
// history ("; add-only window ...: sync policy KEEP"). Otherwise leaves the job and returns "".
std::string ApplyAddOnlyWindow(const v1::Integration& integration, absl::Time now,
                               v1::RosterJob& job);

}  // namespace rostersync::scheduler
