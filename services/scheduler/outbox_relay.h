#pragma once

// Publishes the outbox: reads unsent rows that are due (a step retry carries a not_before
// time and waits for it) in id order (FOR UPDATE SKIP LOCKED, so replicas share the work),
// XADDs each to its stream, marks the published ones sent. When Redis is
// down the rows stay unsent and the relay retries with exponential backoff; a crash between
// XADD and the commit republishes the job, which workers handle idempotently (by job_id).
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pg.h"
#include "common/redis_queue.h"
#include "services/scheduler/clock.h"
#include "services/scheduler/periodic_thread.h"

namespace rostersync::scheduler {

struct OutboxRelayOptions {
  absl::Duration poll_interval = absl::Milliseconds(200);
  int batch_size = 100;
  absl::Duration backoff_initial = absl::Milliseconds(200);
  absl::Duration backoff_max = absl::Seconds(10);
};

class OutboxRelay {
 public:
  OutboxRelay(PgPool* pool, Publisher* publisher, Clock* clock, OutboxRelayOptions options = {});
  ~OutboxRelay();

  void Start();
  void Stop();

  // Publishes up to one batch. Returns how many were published; the first publish error
  // (after committing what was published before it) when Redis refused.
  absl::StatusOr<int> RelayOnce();

 private:
  absl::Duration Step();

  PgPool* pool_;
  Publisher* publisher_;
  Clock* clock_;
  OutboxRelayOptions options_;
  absl::Duration backoff_;
  bool failing_ = false;
  std::unique_ptr<PeriodicThread> thread_;
};

}  // namespace rostersync::scheduler
