#pragma once

// The scheduler's Prometheus metrics.
//   rostersync_runs_total{direction,outcome}            counter, on each finished run
//   rostersync_run_duration_seconds{direction}          histogram, created -> finished
//   rostersync_last_success_timestamp_seconds{tenant,integration_id}  gauge
//   rostersync_runs_in_progress                         gauge, sampled from PostgreSQL
//   rostersync_outbox_pending                           gauge, sampled from PostgreSQL
//   rostersync_queue_length{stream}                     gauge, XLEN sampled from Redis
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "rostersync/v1/common.pb.h"

namespace rostersync::scheduler {

class SchedulerMetrics {
 public:
  explicit SchedulerMetrics(prometheus::Registry& registry);

  // A run reached a terminal state (SUCCEEDED, FAILED, SKIPPED).
  void RunFinished(const std::string& tenant_id, const std::string& integration_id,
                   v1::RunDirection direction, v1::RunState outcome, absl::Duration duration,
                   absl::Time finished_at);
  void SetRunsInProgress(int64_t n) { runs_in_progress_.Set(static_cast<double>(n)); }
  void SetOutboxPending(int64_t n) { outbox_pending_.Set(static_cast<double>(n)); }
  void SetQueueLength(const std::string& stream, int64_t n);

  // For tests.
  double RunsTotal(v1::RunDirection direction, v1::RunState outcome);

 private:
  prometheus::Family<prometheus::Counter>& runs_total_;
  prometheus::Family<prometheus::Histogram>& run_duration_;
  prometheus::Family<prometheus::Gauge>& last_success_;
  prometheus::Gauge& runs_in_progress_;
  prometheus::Gauge& outbox_pending_;
  prometheus::Family<prometheus::Gauge>& queue_length_;
};

// "import" / "export"; "succeeded" / "failed" / "skipped".
std::string DirectionLabel(v1::RunDirection direction);
std::string OutcomeLabel(v1::RunState state);

}  // namespace rostersync::scheduler
