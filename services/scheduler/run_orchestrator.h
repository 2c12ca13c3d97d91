#pragma once

// Drives runs through their states. Every state change, its run_steps row and the next job
// (written to the outbox) commit in one transaction; the outbox relay publishes the job.
//
//   import: QUEUED -> FETCHING (TransferJob OP_FETCH, job "<run>:fetch")
//             FETCHED      -> IMPORTING (RosterJob OP_IMPORT, job "<run>:import")
//             NO_NEW_FILE  -> SKIPPED
//           IMPORTING: IMPORTED -> SUCCEEDED (HELD when the import's status is HELD: its
//                      removals wait for RosterService.ApproveDeletions),
//                      IMPORT_REJECTED -> FAILED
//   export: QUEUED -> RENDERING (RosterJob OP_EXPORT, job "<run>:render")
//             RENDERED     -> UPLOADING (TransferJob OP_UPLOAD, job "<run>:upload")
//           UPLOADING: UPLOADED -> SUCCEEDED
//   any step: FAILED -> FAILED
//
// An event applies only when its job_id is the run's current job; anything else (a
// redelivered or stale event) is ignored, so event handling is idempotent.
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pg.h"
#include "common/redis_queue.h"
#include "rostersync/v1/jobs.pb.h"
#include "rostersync/v1/scheduler.pb.h"
#include "services/scheduler/clock.h"
#include "services/scheduler/integration_store.h"
#include "services/scheduler/scheduler_metrics.h"

namespace rostersync::scheduler {

// "<tenant_id>/<integration_id>": the associated data bound into sealed credentials.
std::string CredentialContext(const std::string& tenant_id, const std::string& integration_id);

class RunOrchestrator {
 public:
  // `metrics` may be null.
  RunOrchestrator(PgPool* pool, Clock* clock, SchedulerMetrics* metrics);

  // Manual trigger: FAILED_PRECONDITION for a deactivated integration, NOT_FOUND for an
  // unknown one (or another tenant's).
  absl::StatusOr<v1::Run> TriggerRun(const std::string& tenant_id,
                                     const std::string& integration_id);

  // Inside `txn`: creates the run and its first job. For a scheduled run
  // (`scheduled_for` set) returns nullopt when that slot already has a run.
  absl::StatusOr<std::optional<v1::Run>> StartRunInTxn(pqxx::work& txn,
                                                       const StoredIntegration& integration,
                                                       v1::RunTrigger trigger,
                                                       std::optional<absl::Time> scheduled_for);

  // Applies one worker event. OK also when the event was ignored (unknown run, stale job);
  // a non-OK status (database unavailable) leaves the delivery pending for redelivery.
  absl::Status HandleEvent(const v1::RunEvent& event);
  // The StreamConsumer handler for kEventsStream: malformed payloads are logged and acked.
  absl::Status HandleDelivery(const Delivery& delivery);

  // Schedule tick: for each active scheduled integration whose next_run_at <= now, creates
  // the run for that slot (at most once across replicas) and advances next_run_at. Returns
  // the number of runs created.
  absl::StatusOr<int> TickOnce();

 private:
  PgPool* pool_;
  Clock* clock_;
  SchedulerMetrics* metrics_;
};

}  // namespace rostersync::scheduler
