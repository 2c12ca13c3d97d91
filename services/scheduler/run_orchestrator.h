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
//   any step: FAILED -> FAILED; FAILED with `retryable` -> the same state, the step's job
//             queued again as "<run>:<step>:<attempt>" with a not-before time (exponential
//             backoff with jitter) until OrchestratorOptions.step_max_attempts, then FAILED
//             "<step> failed after N attempts: <last error>"
//   any unfinished run: its current job dead-lettered -> FAILED (DeadLetterConsumer);
//             older than run_timeout -> FAILED "timed out after X in state Y" (ExpireOnce);
//             CancelRun -> CANCELLED (its unpublished job dropped)
//   HELD: ApproveRun (RunService: ClaimApproval, RosterService.ApproveDeletions with no
//         transaction open, then CompleteApproval -> SUCCEEDED or ReleaseApproval -> HELD);
//         CancelRun -> CANCELLED, refused while an approval claim is fresh. Cancelling does
//         not tell the roster: the held removals stay on the import, approvable there.
//
// An event applies only when its job_id is the run's current job; anything else (a
// redelivered or stale event, an event for a finished run) is ignored, so event handling is
// idempotent. One exception: an event for the job that was outstanding when the scheduler
// ended the run itself (cancel, timeout, dead letter: RunRecord.last_job_id) leaves the state
// as it is but appends a step saying what the worker did anyway (once per event id), logs a
// warning and counts in rostersync_run_late_events_total.
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pg.h"
#include "common/redis_queue.h"
#include "rostersync/v1/jobs.pb.h"
#include "rostersync/v1/scheduler.pb.h"
#include "services/scheduler/clock.h"
#include "services/scheduler/integration_store.h"
#include "services/scheduler/run_store.h"
#include "services/scheduler/scheduler_metrics.h"

namespace rostersync::scheduler {

// "<tenant_id>/<integration_id>": the associated data bound into sealed credentials.
std::string CredentialContext(const std::string& tenant_id, const std::string& integration_id);

struct OrchestratorOptions {
  // Attempts per step, the first included (1: no retries). A worker's retryable failure
  // past this fails the run.
  int step_max_attempts = 3;
  // Backoff before attempt n+1: min(retry_initial * 2^(n-1), retry_max), of which the upper
  // half is random (jitter): the wait is in [backoff/2, backoff].
  absl::Duration retry_initial = absl::Seconds(30);
  absl::Duration retry_max = absl::Minutes(10);
  // A run not finished this long after its creation fails (HELD runs are finished: they wait
  // for a person, not a worker).
  absl::Duration run_timeout = absl::Hours(4);
};

// The wait before retrying after attempt `failed_attempt` (1-based) failed; `unit_random`
// in [0, 1) picks the point in [backoff/2, backoff].
absl::Duration RetryBackoff(int failed_attempt, absl::Duration initial, absl::Duration max,
                            double unit_random);

// "fetch", "import", "render", "upload" for the working states; "" otherwise.
std::string StepName(v1::RunState state);

// An approval claim outlives the roster call's deadline by this much, so that a roster still
// committing just after the scheduler gave up cannot land after a cancel the expiry allowed.
inline constexpr absl::Duration kApprovalClaimGrace = absl::Minutes(1);

class RunOrchestrator {
 public:
  // `metrics` may be null.
  RunOrchestrator(PgPool* pool, Clock* clock, SchedulerMetrics* metrics,
                  OrchestratorOptions options = {});

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

  // Fails unfinished runs older than run_timeout ("timed out after X in state Y") and drops
  // their unpublished jobs. Safe with several replicas (rows locked SKIP LOCKED). Returns how
  // many runs it failed.
  absl::StatusOr<int> ExpireOnce();

  // A job payload that reached "<job_stream>:dead": fails the run when that job is still the
  // run's current one ("job <id> dead-lettered from <stream>: <reason>"). OK also when the
  // payload does not parse or the run has moved on (nothing to do).
  absl::Status HandleDeadLetter(const std::string& job_stream, const std::string& payload,
                                const std::string& reason);

  // CancelRun: see CancelRunRequest in scheduler.proto. A HELD run with an approval claim
  // younger than `approval_lease` (the roster call timeout of ApproveRun) is
  // FAILED_PRECONDITION "an approval of this run is in progress since ... by ..."; an older
  // claim (the approving scheduler died) has expired and the cancel proceeds.
  absl::StatusOr<v1::Run> CancelRun(const std::string& tenant_id, const std::string& run_id,
                                    const std::string& requested_by, const std::string& reason,
                                    absl::Duration approval_lease = absl::Minutes(10));

  // ApproveRun, first half: in one locked transaction, checks the run is HELD with an import
  // to approve and no fresh claim (younger than `approval_lease`: FAILED_PRECONDITION), then
  // marks it "approval in progress" by `approved_by`. Returns the run as claimed. A run
  // already approved is returned as it is, unclaimed (`*already_approved` set).
  absl::StatusOr<RunRecord> ClaimApproval(const std::string& tenant_id,
                                          const std::string& run_id,
                                          const std::string& approved_by,
                                          absl::Duration approval_lease, bool* already_approved);
  // The roster refused the approval (nothing applied): clears the claim taken at
  // `claimed_at`, the run is plainly HELD again. Does nothing when the claim is not that one.
  absl::Status ReleaseApproval(const std::string& tenant_id, const std::string& run_id,
                               absl::Time claimed_at);

  // ApproveRun, second half: the roster applied the held removals (`approval`); a HELD run
  // becomes SUCCEEDED and its claim is cleared. A run already approved is returned as it is.
  // A run no longer HELD (cancelled after its claim expired) gets a step recording that the
  // roster applied the removals anyway, and FAILED_PRECONDITION saying so.
  absl::StatusOr<v1::Run> CompleteApproval(const std::string& tenant_id,
                                           const std::string& run_id,
                                           const v1::ImportSummary& approval,
                                           const std::string& approved_by);

  // The clock runs and claims are stamped with.
  Clock* clock() const { return clock_; }

  const OrchestratorOptions& options() const { return options_; }

 private:
  // What a committed transaction reports to logs and metrics afterwards.
  struct Effects {
    std::optional<v1::Run> finished;
    std::string failure_cause;  // rostersync_run_failures_total{cause}
    struct StepAttempt {
      v1::RunDirection direction;
      std::string step;
      std::string outcome;  // "ok", "failed", "retry"
      absl::Duration duration;
    };
    std::vector<StepAttempt> step_attempts;
    std::string late_event_type;  // rostersync_run_late_events_total{type}; "" = none
  };
  void Report(const Effects& effects);
  // Fails `rec` (not terminal) with `error`, drops its unpublished job, records the step.
  absl::Status FailInTxn(pqxx::work& txn, RunRecord& rec, const std::string& error,
                         const std::string& cause, absl::Time now, Effects& effects);
  // Queues the current step's job again with a new job id, not before `not_before`.
  absl::StatusOr<std::string> RequeueStepJob(pqxx::work& txn, const RunRecord& rec,
                                             const StoredIntegration& stored, int attempt,
                                             absl::Time not_before, absl::Time now);

  PgPool* pool_;
  Clock* clock_;
  SchedulerMetrics* metrics_;
  OrchestratorOptions options_;
};

// Consumes "<job_stream>:dead" (group "scheduler") and hands each dead-lettered job to
// RunOrchestrator::HandleDeadLetter with the reason StreamConsumer recorded.
class DeadLetterConsumer {
 public:
  DeadLetterConsumer(RunOrchestrator* orchestrator, RedisOptions redis, std::string job_stream,
                     std::string consumer_name);
  void Start() { consumer_.Start(); }
  void Stop() { consumer_.Stop(); }
  absl::StatusOr<bool> PollOnce() { return consumer_.PollOnce(); }

 private:
  absl::Status Handle(const Delivery& delivery);

  RunOrchestrator* orchestrator_;
  std::string job_stream_;
  std::string dead_stream_;
  RedisConnection conn_;  // reads the entry's "reason"; used only on the consumer's thread
  StreamConsumer consumer_;
};

}  // namespace rostersync::scheduler
