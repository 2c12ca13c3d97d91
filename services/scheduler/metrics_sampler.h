#pragma once

// Samples gauges that no single event moves: queue lengths (XLEN of the three streams, over
// a Redis connection of its own), outbox rows pending and runs in progress (PostgreSQL).
#include <memory>

#include "absl/time/time.h"
#include "common/pg.h"
#include "common/redis_queue.h"
#include "services/scheduler/periodic_thread.h"
#include "services/scheduler/scheduler_metrics.h"

namespace rostersync::scheduler {

class MetricsSampler {
 public:
  MetricsSampler(PgPool* pool, RedisOptions redis, SchedulerMetrics* metrics,
                 absl::Duration interval);
  ~MetricsSampler();
  void Start();
  void Stop();
  // One sample; errors are logged, not returned (a gauge keeps its last value).
  void SampleOnce();

 private:
  PgPool* pool_;
  RedisConnection redis_;  // used only by the sampler thread (or SampleOnce in tests)
  SchedulerMetrics* metrics_;
  absl::Duration interval_;
  bool redis_failing_ = false;
  std::unique_ptr<PeriodicThread> thread_;
};

}  // namespace rostersync::scheduler
