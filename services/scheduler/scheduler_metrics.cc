#include "services/scheduler/scheduler_metrics.h"

#include <algorithm>

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
                        .Register(registry)),
      run_failures_(prometheus::BuildCounter()
                        .Name("rostersync_run_failures_total")
                        .Help("Failed runs by cause: worker, rejected, retries_exhausted, "
                              "dead_letter, timeout.")
                        .Register(registry)),
      runs_started_(prometheus::BuildCounter()
                        .Name("rostersync_runs_started_total")
                        .Help("Runs created, by direction and trigger.")
                        .Register(registry)),
      start_lag_(prometheus::BuildHistogram()
                     .Name("rostersync_run_start_lag_seconds")
                     .Help("Scheduled runs: from the schedule slot to the run's creation.")
                     .Register(registry)
                     .Add({}, prometheus::Histogram::BucketBoundaries{
                                  0.5, 1, 5, 10, 30, 60, 120, 300, 900, 3600})),
      step_duration_(prometheus::BuildHistogram()
                         .Name("rostersync_run_step_duration_seconds")
                         .Help("One attempt of a run step, from its job being queued (or its "
                               "retry time) to the event that ended it.")
                         .Register(registry)),
      late_events_(prometheus::BuildCounter()
                       .Name("rostersync_run_late_events_total")
                       .Help("Worker events (and roster approvals) that arrived after the "
                             "scheduler had cancelled or failed their run; each is recorded "
                             "as a step of the run, by event type.")
                       .Register(registry)) {}

void SchedulerMetrics::LateEvent(const std::string& type) {
  late_events_.Add({{"type", type}}).Increment();
}

double SchedulerMetrics::LateEvents(const std::string& type) {
  return late_events_.Add({{"type", type}}).Value();
}

namespace {

const prometheus::Histogram::BucketBoundaries kStepBuckets = {
    0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600};

std::string TriggerLabel(v1::RunTrigger trigger) {
  switch (trigger) {
    case v1::RUN_TRIGGER_MANUAL:
      return "manual";
    case v1::RUN_TRIGGER_SCHEDULE:
      return "schedule";
    default:
      return "unspecified";
  }
}

}  // namespace

void SchedulerMetrics::RunStarted(v1::RunDirection direction, v1::RunTrigger trigger,
                                  std::optional<absl::Duration> lag) {
  runs_started_.Add({{"direction", DirectionLabel(direction)}, {"trigger", TriggerLabel(trigger)}})
      .Increment();
  if (lag.has_value()) {
    start_lag_.Observe(absl::ToDoubleSeconds(std::max(absl::ZeroDuration(), *lag)));
  }
}

void SchedulerMetrics::RunFailed(const std::string& cause) {
  run_failures_.Add({{"cause", cause}}).Increment();
}

void SchedulerMetrics::StepAttemptFinished(v1::RunDirection direction, const std::string& step,
                                           const std::string& outcome, absl::Duration duration) {
  step_duration_
      .Add({{"direction", DirectionLabel(direction)}, {"step", step}, {"outcome", outcome}},
           kStepBuckets)
      .Observe(absl::ToDoubleSeconds(duration));
}

double SchedulerMetrics::RunFailures(const std::string& cause) {
  return run_failures_.Add({{"cause", cause}}).Value();
}

uint64_t SchedulerMetrics::StepAttempts(v1::RunDirection direction, const std::string& step,
                                        const std::string& outcome) {
  prometheus::ClientMetric m =
      step_duration_
          .Add({{"direction", DirectionLabel(direction)}, {"step", step}, {"outcome", outcome}},
               kStepBuckets)
          .Collect();
  return m.histogram.sample_count;
}

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
