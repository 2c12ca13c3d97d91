#include "services/scheduler/scheduler_metrics.h"

#include "absl/strings/ascii.h"

namespace rostersync::scheduler {

std::string DirectionLabel(v1::RunDirection direction) {
  switch (direction) {
    case v1::RUN_DIRECTION_IMPORT:
      return "import";
    case v1::RUN_DIRECTION_EXPORT:
      return "export";
    default:
      return "unspecified";
  }
}

std::string OutcomeLabel(v1::RunState state) {
  std::string name = v1::RunState_Name(state);
  constexpr std::string_view kPrefix = "RUN_STATE_";
  if (name.rfind(kPrefix, 0) == 0) name = name.substr(kPrefix.size());
  return absl::AsciiStrToLower(name);
}

SchedulerMetrics::SchedulerMetrics(prometheus::Registry& registry)
    : runs_total_(prometheus::BuildCounter()
                      .Name("rostersync_runs_total")
                      .Help("Finished runs by direction and outcome.")
                      .Register(registry)),
      run_duration_(prometheus::BuildHistogram()
                        .Name("rostersync_run_duration_seconds")
                        .Help("Run duration from creation to a terminal state.")
                        .Register(registry)),
      last_success_(prometheus::BuildGauge()
                        .Name("rostersync_last_success_timestamp_seconds")
                        .Help("Unix time of the last successful run of an integration.")
                        .Register(registry)),
      runs_in_progress_(prometheus::BuildGauge()
                            .Name("rostersync_runs_in_progress")
                            .Help("Runs not yet in a terminal state.")
                            .Register(registry)
                            .Add({})),
      outbox_pending_(prometheus::BuildGauge()
                          .Name("rostersync_outbox_pending")
                          .Help("Outbox jobs written but not yet published to Redis.")
                          .Register(registry)
                          .Add({})),
      queue_length_(prometheus::BuildGauge()
                        .Name("rostersync_queue_length")
                        .Help("Entries in a Redis stream (XLEN).")
                        .Register(registry)) {}

void SchedulerMetrics::RunFinished(const std::string& tenant_id, const std::string& integration_id,
                                   v1::RunDirection direction, v1::RunState outcome,
                                   absl::Duration duration, absl::Time finished_at) {
  const std::string dir = DirectionLabel(direction);
  runs_total_.Add({{"direction", dir}, {"outcome", OutcomeLabel(outcome)}}).Increment();
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200};
  run_duration_.Add({{"direction", dir}}, kBuckets).Observe(absl::ToDoubleSeconds(duration));
  if (outcome == v1::RUN_STATE_SUCCEEDED) {
    last_success_.Add({{"tenant", tenant_id}, {"integration_id", integration_id}})
        .Set(absl::ToDoubleSeconds(finished_at - absl::UnixEpoch()));
  }
}

void SchedulerMetrics::SetQueueLength(const std::string& stream, int64_t n) {
  queue_length_.Add({{"stream", stream}}).Set(static_cast<double>(n));
}

double SchedulerMetrics::RunsTotal(v1::RunDirection direction, v1::RunState outcome) {
  return runs_total_
      .Add({{"direction", DirectionLabel(direction)}, {"outcome", OutcomeLabel(outcome)}})
      .Value();
}

}  // namespace rostersync::scheduler
