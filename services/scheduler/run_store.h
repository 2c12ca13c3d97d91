#pragma once

// Runs, their step history and the outbox, in the "scheduler" schema (integration_store.h
// creates the tables; ApplyOrchestrationMigrations adds the orchestration columns). Every
// function runs inside a caller's transaction.
#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pg.h"
#include "rostersync/v1/scheduler.pb.h"

namespace rostersync::scheduler {

// ApplySchedulerMigrations, then the run orchestration columns (version 101 of the
// "scheduler" schema: attempts, retry times, cancel/approve records, outbox run_id and
// not_before; version 102: the approval claim, last_job_id, run_steps.event_id). Safe to run
// again and from several replicas at once.
absl::Status ApplyOrchestrationMigrations(PgPool& pool);

struct RunRecord {
  v1::Run run;                 // steps not filled in (see RunStore::Steps)
  std::string current_job_id;  // the job whose event may move the run on; "" when finished
  // When the current step (its current attempt) was queued; unset when finished.
  std::optional<absl::Time> step_started_at;
  // ApproveRun's claim on a HELD run while the roster applies its removals: when it was taken
  // and by whom (unset/"" when no approval is under way). CancelRun and a second ApproveRun
  // are refused while it is younger than the scheduler's roster timeout.
  std::optional<absl::Time> approval_started_at;
  std::string approval_by;
  // The job that was still outstanding when the scheduler ended the run itself (CancelRun,
  // the run timeout, a dead letter); its worker's event, should it come, is recorded as a late
  // event. "" otherwise.
  std::string last_job_id;
};

// SUCCEEDED, FAILED, SKIPPED, HELD and CANCELLED: the scheduler expects no further worker
// event for the run (a HELD run waits for ApproveRun or CancelRun).
bool IsTerminal(v1::RunState state);

// A new run of `in` in `state`, created and last updated at `now`; `scheduled_for` is its
// schedule slot (unset for a manual trigger). Not stored yet: RunStore::Insert.
RunRecord NewRunRecord(const v1::Integration& in, v1::RunState state, v1::RunTrigger trigger,
                       absl::Time now, std::optional<absl::Time> scheduled_for);
// The detail of a run's first (QUEUED) step: "scheduled for <slot, RFC 3339>" or
// "triggered manually".
std::string QueuedStepDetail(std::optional<absl::Time> scheduled_for);

class RunStore {
 public:
  // Inserts a run. For a scheduled run (scheduled_for set) a second insert for the same
  // (integration_id, scheduled_for) slot does nothing and returns false.
  static absl::StatusOr<bool> Insert(pqxx::work& txn, const RunRecord& record);
  // NOT_FOUND when it does not exist or belongs to another tenant.
  static absl::StatusOr<RunRecord> Get(pqxx::work& txn, const std::string& tenant_id,
                                       const std::string& run_id, bool for_update = false);
  // Writes the mutable columns (state, error, files, summary, current job, timestamps).
  static absl::Status Update(pqxx::work& txn, const RunRecord& record);
  static absl::Status AppendStep(pqxx::work& txn, const std::string& run_id, v1::RunState state,
                                 const std::string& detail, absl::Time at,
                                 const std::string& job_id = "", int attempt = 1);
  // A step caused by the event `event_id` (non-empty): appended once; a second call with the
  // same event id does nothing and returns false.
  static absl::StatusOr<bool> AppendEventStep(pqxx::work& txn, const std::string& run_id,
                                              v1::RunState state, const std::string& detail,
                                              absl::Time at, const std::string& job_id,
                                              const std::string& event_id);
  static absl::StatusOr<std::vector<v1::RunStepRecord>> Steps(pqxx::work& txn,
                                                              const std::string& run_id);

  struct ListQuery {
    std::string tenant_id;
    std::string integration_id;                      // "" = any
    v1::RunState state = v1::RUN_STATE_UNSPECIFIED;  // UNSPECIFIED = any
    // Keyset cursor: runs strictly older than (created_us, run_id) in newest-first order.
    std::optional<std::pair<int64_t, std::string>> before;
    int limit = 50;
  };
  // Newest first (created_at DESC, run_id DESC).
  static absl::StatusOr<std::vector<RunRecord>> List(pqxx::work& txn, const ListQuery& query);
  static absl::StatusOr<int64_t> CountInProgress(pqxx::work& txn);
  // Unfinished runs created at or before `created_before`, oldest first, locked FOR UPDATE
  // SKIP LOCKED (a replica's timeout pass skips what another holds).
  static absl::StatusOr<std::vector<RunRecord>> LockUnfinishedCreatedBefore(
      pqxx::work& txn, absl::Time created_before, int limit);
};

class Outbox {
 public:
  struct Entry {
    int64_t id = 0;
    std::string stream;
    std::string payload;
  };
  // `run_id` lets CancelRun and the timeout pass drop the run's unpublished job;
  // `not_before` holds a retry back until then (the relay skips it until `now` reaches it).
  static absl::Status Enqueue(pqxx::work& txn, const std::string& stream,
                              const std::string& payload, absl::Time at,
                              const std::string& run_id = "",
                              std::optional<absl::Time> not_before = std::nullopt);
  // The oldest unsent entries due at `now` (not_before unset or <= now) in id order, locked
  // FOR UPDATE SKIP LOCKED.
  static absl::StatusOr<std::vector<Entry>> LockUnsent(pqxx::work& txn, int limit,
                                                       absl::Time now = absl::InfiniteFuture());
  // The run's most recently enqueued entry (its current job), published or not.
  static absl::StatusOr<std::optional<Entry>> LastForRun(pqxx::work& txn,
                                                         const std::string& run_id);
  // Deletes the run's entries not yet published; returns how many.
  static absl::StatusOr<int64_t> DropUnsent(pqxx::work& txn, const std::string& run_id);
  static absl::Status MarkSent(pqxx::work& txn, const std::vector<int64_t>& ids, absl::Time at);
  static absl::StatusOr<int64_t> CountPending(pqxx::work& txn);
};

}  // namespace rostersync::scheduler
