#pragma once

// The scheduler's Prometheus metrics.
//   rostersync_runs_total{direction,outcome}            counter, on each finished run
//                                                       (outcome: succeeded, failed, skipped,
//                                                       held, cancelled; an approved HELD run
//                                                       counts again as succeeded, a cancelled
//                                                       one again as cancelled)
//   rostersync_run_failures_total{cause}                counter: worker, rejected,
//                                                       retries_exhausted, dead_letter, timeout
//   rostersync_run_duration_seconds{direction}          histogram, created -> finished
//   rostersync_runs_started_total{direction,trigger}    counter (trigger: manual, schedule)
//   rostersync_run_start_lag_seconds                    histogram, scheduled slot -> run created
//   rostersync_run_step_duration_seconds{direction,step,outcome}  histogram, one step attempt:
//       queued (or its retry time) -> the event ending it; step fetch|import|render|upload,
//       outcome ok|retry|failed|cancelled
//   rostersync_last_success_timestamp_seconds{tenant,integration_id}  gauge (one series per
//       integration: the tenant label adds no series, integration ids are globally unique)
//   rostersync_run_late_events_total{type}              counter: an event for the job still out
//       when the scheduler cancelled or failed the run (type imported, import_rejected,
//       fetched, no_new_file, rendered, uploaded, failed), or a roster approval completing
//       after the run was cancelled (type approved); recorded as a step, state unchanged
//   rostersync_runs_in_progress                         gauge, sampled from PostgreSQL
//   rostersync_outbox_pending                           gauge, sampled from PostgreSQL
//   rostersync_queue_length{stream}                     gauge, XLEN sampled from Redis
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "rostersync/v1/common.pb.h"
#include "rostersync/v1/scheduler.pb.h"

namespace rostersync::scheduler {

class SchedulerMetrics {
 public:
  explicit SchedulerMetrics(prometheus::Registry& registry);

  // A run reached a terminal state (SUCCEEDED, FAILED, SKIPPED, HELD, CANCELLED).
  void RunFinished(const std::string& tenant_id, const std::string& integration_id,
                   v1::RunDirection direction, v1::RunState outcome, absl::Duration duration,
                   absl::Time finished_at);
  // A run was created; `lag` (scheduled runs) is from its slot to its creation.
  void RunStarted(v1::RunDirection direction, v1::RunTrigger trigger,
                  std::optional<absl::Duration> lag);
  void RunFailed(const std::string& cause);
  // An event for a run the scheduler had already ended (see run_orchestrator.h).
  void LateEvent(const std::string& type);
  void StepAttemptFinished(v1::RunDirection direction, const std::string& step,
                           const std::string& outcome, absl::Duration duration);
  void SetRunsInProgress(int64_t n) { runs_in_progress_.Set(static_cast<double>(n)); }
  void SetOutboxPending(int64_t n) { outbox_pending_.Set(static_cast<double>(n)); }
  void SetQueueLength(const std::string& stream, int64_t n);

  // For tests.
  double RunsTotal(v1::RunDirection direction, v1::RunState outcome);
  double RunFailures(const std::string& cause);
  double LateEvents(const std::string& type);
  // Observations in rostersync_run_step_duration_seconds for these labels.
  uint64_t StepAttempts(v1::RunDirection direction, const std::string& step,
                        const std::string& outcome);

 private:
  prometheus::Family<prometheus::Counter>& runs_total_;
  prometheus::Family<prometheus::Histogram>& run_duration_;
  prometheus::Family<prometheus::Gauge>& last_success_;
  prometheus::Gauge& runs_in_progress_;
  prometheus::Gauge& outbox_pending_;
  prometheus::Family<prometheus::Gauge>& queue_length_;
  prometheus::Family<prometheus::Counter>& run_failures_;
  prometheus::Family<prometheus::Counter>& runs_started_;
  prometheus::Histogram& start_lag_;
  prometheus::Family<prometheus::Histogram>& step_duration_;
  prometheus::Family<prometheus::Counter>& late_events_;
};

// "import" / "export"; "succeeded" / "failed" / "skipped" / "held" / "cancelled".
std::string DirectionLabel(v1::RunDirection direction);
std::string OutcomeLabel(v1::RunState state);

}  // namespace rostersync::scheduler
