#pragma once

// Runs, their step history and the outbox, in the "scheduler" schema (integration_store.h
// creates the tables). Every function runs inside a caller's transaction.
#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "rostersync/v1/scheduler.pb.h"

namespace rostersync::scheduler {

struct RunRecord {
  v1::Run run;                 // steps not filled in (see RunStore::Steps)
  std::string current_job_id;  // the job whose event may move the run on; "" when finished
};

// SUCCEEDED, FAILED, SKIPPED and HELD: the scheduler expects no further event for the run.
bool IsTerminal(v1::RunState state);

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
                                 const std::string& detail, absl::Time at);
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
};

class Outbox {
 public:
  struct Entry {
    int64_t id = 0;
    std::string stream;
    std::string payload;
  };
  static absl::Status Enqueue(pqxx::work& txn, const std::string& stream,
                              const std::string& payload, absl::Time at);
  // The oldest unsent entries in id order, locked FOR UPDATE SKIP LOCKED.
  static absl::StatusOr<std::vector<Entry>> LockUnsent(pqxx::work& txn, int limit);
  static absl::Status MarkSent(pqxx::work& txn, const std::vector<int64_t>& ids, absl::Time at);
  static absl::StatusOr<int64_t> CountPending(pqxx::work& txn);
};

}  // namespace rostersync::scheduler
