#pragma once

// The schedule: ScheduleTicker calls RunOrchestrator::TickOnce() every `interval` on a
// background thread; for each due integration TickOnce asks ScheduleDueSlot() which slot,
// if any, gets a run (once, even with two replicas: the slot is the run's unique key).
//
// Misfire catch-up: when the scheduler was down across one or more slots, only the most
// recent missed slot can still run, and only when it is at most the misfire window old
// (Integration.misfire_window_s, else the process default, --misfire_window_s). An older one
// is recorded as a SKIPPED run with the reason. Either way next_run_at moves to the first
// slot after now. A slot inside a blackout window is recorded as SKIPPED too.
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/scheduler/cron.h"
#include "services/scheduler/integration_store.h"
#include "services/scheduler/periodic_thread.h"

namespace rostersync::scheduler {

class RunOrchestrator;

inline constexpr absl::Duration kDefaultMisfireWindow = absl::Hours(1);
inline constexpr absl::Duration kMinMisfireWindow = absl::Minutes(1);
inline constexpr absl::Duration kMaxMisfireWindow = absl::Hours(24 * 7);

// The process-wide default misfire window (main.cc sets it from --misfire_window_s; clamped
// to [kMinMisfireWindow, kMaxMisfireWindow]).
void SetDefaultMisfireWindow(absl::Duration window);
absl::Duration DefaultMisfireWindow();
// The integration's override, else the default.
absl::Duration MisfireWindow(const v1::Integration& integration);

// What a due slot comes to. Pure: no database, no clock.
struct SlotPlan {
  std::optional<absl::Time> run_slot;   // run this slot now
  std::optional<absl::Time> skip_slot;  // record this slot as SKIPPED with skip_reason
  std::string skip_reason;
  int64_t missed = 0;      // slots from next_run_at to now (inclusive) that did not get their own
                           // run: all of them when one ran, minus that one
  absl::Time next_run_at;  // the first slot strictly after now
};
SlotPlan PlanDueSlot(const v1::Integration& integration, const CronSchedule& cron,
                     absl::TimeZone zone, absl::Time next_run_at, absl::Time now,
                     absl::Duration misfire_window);

// Inside TickOnce's transaction, for a due integration whose row it holds locked: plans the
// slot, records a skipped slot as a SKIPPED run (unique per slot), logs missed slots, sets
// next_run_at, and returns the slot to start a run for (nullopt: none).
absl::StatusOr<std::optional<absl::Time>> ScheduleDueSlot(pqxx::work& txn,
                                                          const StoredIntegration& stored,
                                                          const CronSchedule& cron,
                                                          absl::TimeZone zone, absl::Time now);

class ScheduleTicker {
 public:
  ScheduleTicker(RunOrchestrator* orchestrator, absl::Duration interval);
  ~ScheduleTicker();
  void Start();
  void Stop();

 private:
  absl::Duration Step();
  RunOrchestrator* orchestrator_;
  absl::Duration interval_;
  std::unique_ptr<PeriodicThread> thread_;
};

}  // namespace rostersync::scheduler
