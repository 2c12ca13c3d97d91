#include "services/scheduler/schedule_ticker.h"

#include <algorithm>
#include <atomic>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/time_util.h"
#include "services/scheduler/run_orchestrator.h"
#include "services/scheduler/run_store.h"
#include "services/scheduler/time_windows.h"

namespace rostersync::scheduler {
namespace {

std::atomic<int64_t> default_misfire_window_s{absl::ToInt64Seconds(kDefaultMisfireWindow)};

// Missed slots further back than this are not walked one by one (a minute schedule down for
// a year would be half a million slots): the walk restarts this far before now.
constexpr absl::Duration kMaxMissedScan = absl::Hours(24 * 31);

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone());
}

std::string Human(absl::Duration d) {
  return absl::FormatDuration(absl::Trunc(d, absl::Seconds(1)));
}

// A slot that gets no job: a SKIPPED run with the reason in its history. The slot's unique key
// makes this once-only across replicas, like a run. Returns whether it was recorded.
absl::StatusOr<bool> RecordSkippedSlot(pqxx::work& txn, const v1::Integration& in, absl::Time slot,
                                       const std::string& reason, absl::Time now) {
  RunRecord rec =
      NewRunRecord(in, v1::RUN_STATE_SKIPPED, v1::RUN_TRIGGER_SCHEDULE, now, slot);
  v1::Run& run = rec.run;
  *run.mutable_finished_at() = ToProtoTime(now);
  ASSIGN_OR_RETURN(bool inserted, RunStore::Insert(txn, rec));
  if (!inserted) return false;
  RETURN_IF_ERROR(RunStore::Update(txn, rec));  // Insert does not write finished_at
  RETURN_IF_ERROR(
      RunStore::AppendStep(txn, run.run_id(), v1::RUN_STATE_QUEUED, QueuedStepDetail(slot), now));
  RETURN_IF_ERROR(RunStore::AppendStep(txn, run.run_id(), v1::RUN_STATE_SKIPPED, reason, now));
  return true;
}

}  // namespace

void SetDefaultMisfireWindow(absl::Duration window) {
  window = std::clamp(window, kMinMisfireWindow, kMaxMisfireWindow);
  default_misfire_window_s.store(absl::ToInt64Seconds(window));
}

absl::Duration DefaultMisfireWindow() { return absl::Seconds(default_misfire_window_s.load()); }

absl::Duration MisfireWindow(const v1::Integration& integration) {
  if (integration.misfire_window_s() <= 0) return DefaultMisfireWindow();
  return std::clamp(absl::Seconds(integration.misfire_window_s()), kMinMisfireWindow,
                    kMaxMisfireWindow);
}

SlotPlan PlanDueSlot(const v1::Integration& integration, const CronSchedule& cron,
                     absl::TimeZone zone, absl::Time next_run_at, absl::Time now,
                     absl::Duration misfire_window) {
  SlotPlan plan;
  plan.next_run_at = cron.NextFire(now, zone);
  if (next_run_at > now) {  // not due (callers only pass due slots)
    plan.next_run_at = next_run_at;
    return plan;
  }
  // The most recent slot <= now, counting the slots walked over.
  absl::Time latest = next_run_at;
  int64_t slots = 1;
  if (now - latest > kMaxMissedScan) {
    const absl::Time restart = cron.NextFire(now - kMaxMissedScan, zone);
    if (restart <= now) latest = restart;
    slots = -1;  // unknown
  }
  for (absl::Time n = cron.NextFire(latest, zone); n <= now; n = cron.NextFire(latest, zone)) {
    latest = n;
    if (slots > 0) ++slots;
  }
  const absl::Duration late = now - latest;
  if (late <= misfire_window) {
    plan.run_slot = latest;
    plan.missed = slots > 0 ? slots - 1 : -1;
  } else {
    plan.skip_slot = latest;
    plan.missed = slots;
    plan.skip_reason = absl::StrCat(
        "missed: the scheduler did not run this slot in time; it is ", Human(late),
        " late, beyond the misfire window of ", Human(misfire_window),
        slots > 1 ? absl::StrCat(" (", slots, " slots missed since ", Rfc3339(next_run_at), ")")
                  : std::string(),
        "; next run at ", Rfc3339(plan.next_run_at));
  }
  // A blackout at the slot's time, or now (a late catch-up run would start now), turns a run
  // into a recorded skip.
  if (plan.run_slot.has_value()) {
    WindowStatus windows = WindowsAt(integration, *plan.run_slot);
    if (!windows.blackout) windows = WindowsAt(integration, now);
    if (windows.blackout) {
      plan.skip_slot = plan.run_slot;
      plan.run_slot.reset();
      plan.skip_reason = absl::StrCat("blackout window ", windows.blackout_window, " (",
                                      integration.time_zone(), "): no run");
    }
  }
  return plan;
}

absl::StatusOr<std::optional<absl::Time>> ScheduleDueSlot(pqxx::work& txn,
                                                          const StoredIntegration& stored,
                                                          const CronSchedule& cron,
                                                          absl::TimeZone zone, absl::Time now) {
  const v1::Integration& in = stored.integration;
  const absl::Time due = FromProtoTime(in.next_run_at());
  const SlotPlan plan = PlanDueSlot(in, cron, zone, due, now, MisfireWindow(in));
  const log::Fields fields = {{"tenant", in.tenant_id()},
                              {"integration_id", in.integration_id()},
                              {"first_missed", Rfc3339(due)},
                              {"missed", absl::StrCat(plan.missed)},
                              {"next_run_at", Rfc3339(plan.next_run_at)}};
  if (plan.skip_slot.has_value()) {
    ASSIGN_OR_RETURN(bool recorded,
                     RecordSkippedSlot(txn, in, *plan.skip_slot, plan.skip_reason, now));
    log::Warn(absl::StrCat("scheduled slot ", Rfc3339(*plan.skip_slot),
                           " skipped: ", plan.skip_reason, recorded ? "" : " (already recorded)"),
              fields);
  } else if (plan.missed != 0 && plan.run_slot.has_value()) {
    log::Warn(absl::StrCat("misfire catch-up: running the most recent missed slot ",
                           Rfc3339(*plan.run_slot), " once; ", plan.missed,
                           " older missed slot(s) will not run"),
              fields);
  }
  RETURN_IF_ERROR(IntegrationStore::SetNextRunAt(txn, in.integration_id(), plan.next_run_at));
  return plan.run_slot;
}

ScheduleTicker::ScheduleTicker(RunOrchestrator* orchestrator, absl::Duration interval)
    : orchestrator_(orchestrator), interval_(interval) {}

ScheduleTicker::~ScheduleTicker() { Stop(); }

void ScheduleTicker::Start() {
  if (thread_ == nullptr) thread_ = std::make_unique<PeriodicThread>([this] { return Step(); });
  thread_->Start();
}

void ScheduleTicker::Stop() {
  if (thread_ != nullptr) thread_->Stop();
}

absl::Duration ScheduleTicker::Step() {
  auto created = orchestrator_->TickOnce();
  if (!created.ok()) {
    log::Warn(absl::StrCat("schedule tick failed: ", created.status().message()));
  }
  return interval_;
}

}  // namespace rostersync::scheduler
