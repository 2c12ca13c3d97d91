#include "services/scheduler/run_store.h"

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/ids.h"
#include "common/status_macros.h"
#include "common/time_util.h"
#include "services/scheduler/integration_store.h"

namespace rostersync::scheduler {
namespace {

// Version 101: numbered apart from integration_store.cc's migrations (1, 2, ...) so the two
// lists can grow independently in the one "scheduler" schema.
constexpr char kOrchestrationV1[] = R"sql(
ALTER TABLE scheduler.runs
  ADD COLUMN attempt         integer NOT NULL DEFAULT 1,
  ADD COLUMN retry_at        timestamptz,
  ADD COLUMN step_started_at timestamptz,
  ADD COLUMN cancelled_by    text NOT NULL DEFAULT '',
  ADD COLUMN cancel_reason   text NOT NULL DEFAULT '',
  ADD COLUMN approved_by     text NOT NULL DEFAULT '',
  ADD COLUMN approved_at     timestamptz;
CREATE INDEX runs_unfinished_created ON scheduler.runs (created_at) WHERE finished_at IS NULL;
ALTER TABLE scheduler.run_steps
  ADD COLUMN job_id  text NOT NULL DEFAULT '',
  ADD COLUMN attempt integer NOT NULL DEFAULT 1;
ALTER TABLE scheduler.outbox
  ADD COLUMN run_id     text NOT NULL DEFAULT '',
  ADD COLUMN not_before timestamptz;
CREATE INDEX outbox_run ON scheduler.outbox (run_id, id);
)sql";

// Version 102: the approval claim (ApproveRun marks a HELD run before it calls the roster, so
// CancelRun cannot slip in while the roster applies the removals), the job still outstanding
// when the scheduler ended a run (its late event is recorded, not dropped), and run_steps'
// event ids (a late event redelivered appends its step once).
constexpr char kOrchestrationV2[] = R"sql(
ALTER TABLE scheduler.runs
  ADD COLUMN approval_started_at timestamptz,
  ADD COLUMN approval_by         text NOT NULL DEFAULT '',
  ADD COLUMN last_job_id         text NOT NULL DEFAULT '';
ALTER TABLE scheduler.run_steps
  ADD COLUMN event_id text NOT NULL DEFAULT '';
CREATE UNIQUE INDEX run_steps_event ON scheduler.run_steps (run_id, event_id)
  WHERE event_id <> '';
)sql";

constexpr char kRunColumns[] =
    "run_id, tenant_id, integration_id, direction, state, trigger, error, source_file_id, "
    "export_file_id, remote_path, bytes_transferred, import_summary, current_job_id, "
    "scheduler.us(scheduled_for) AS scheduled_us, scheduler.us(created_at) AS created_us, "
    "scheduler.us(updated_at) AS updated_us, scheduler.us(finished_at) AS finished_us, "
    "attempt, scheduler.us(retry_at) AS retry_us, "
    "scheduler.us(step_started_at) AS step_started_us, cancelled_by, cancel_reason, "
    "approved_by, scheduler.us(approved_at) AS approved_us, "
    "scheduler.us(approval_started_at) AS approval_started_us, approval_by, last_job_id";

void SetTime(google::protobuf::Timestamp* out, int64_t us) {
  if (us >= 0) *out = ToProtoTime(absl::FromUnixMicros(us));
}

absl::StatusOr<RunRecord> RunFromRow(const pqxx::row& row) {
  RunRecord rec;
  v1::Run& run = rec.run;
  run.set_run_id(row["run_id"].as<std::string>());
  run.set_tenant_id(row["tenant_id"].as<std::string>());
  run.set_integration_id(row["integration_id"].as<std::string>());
  run.set_direction(static_cast<v1::RunDirection>(row["direction"].as<int>()));
  run.set_state(static_cast<v1::RunState>(row["state"].as<int>()));
  run.set_trigger(static_cast<v1::RunTrigger>(row["trigger"].as<int>()));
  run.set_error(row["error"].as<std::string>());
  run.set_source_file_id(row["source_file_id"].as<std::string>());
  run.set_export_file_id(row["export_file_id"].as<std::string>());
  run.set_remote_path(row["remote_path"].as<std::string>());
  run.set_bytes_transferred(row["bytes_transferred"].as<int64_t>());
  if (!row["import_summary"].is_null()) {
    pqxx::binarystring summary(row["import_summary"]);
    if (!run.mutable_import_summary()->ParseFromArray(summary.data(),
                                                      static_cast<int>(summary.size()))) {
      return absl::DataLossError(
          absl::StrCat("scheduler.runs: import_summary of ", run.run_id(), " does not parse"));
    }
  }
  rec.current_job_id = row["current_job_id"].as<std::string>();
  if (int64_t us = row["scheduled_us"].as<int64_t>(); us >= 0) {
    SetTime(run.mutable_scheduled_for(), us);
  }
  SetTime(run.mutable_created_at(), row["created_us"].as<int64_t>());
  SetTime(run.mutable_updated_at(), row["updated_us"].as<int64_t>());
  if (int64_t us = row["finished_us"].as<int64_t>(); us >= 0) {
    SetTime(run.mutable_finished_at(), us);
  }
  run.set_attempt(row["attempt"].as<int>());
  if (int64_t us = row["retry_us"].as<int64_t>(); us >= 0) SetTime(run.mutable_retry_at(), us);
  if (int64_t us = row["step_started_us"].as<int64_t>(); us >= 0) {
    rec.step_started_at = absl::FromUnixMicros(us);
  }
  run.set_cancelled_by(row["cancelled_by"].as<std::string>());
  run.set_cancel_reason(row["cancel_reason"].as<std::string>());
  run.set_approved_by(row["approved_by"].as<std::string>());
  if (int64_t us = row["approved_us"].as<int64_t>(); us >= 0) {
    SetTime(run.mutable_approved_at(), us);
  }
  if (int64_t us = row["approval_started_us"].as<int64_t>(); us >= 0) {
    rec.approval_started_at = absl::FromUnixMicros(us);
  }
  rec.approval_by = row["approval_by"].as<std::string>();
  rec.last_job_id = row["last_job_id"].as<std::string>();
  return rec;
}

absl::StatusOr<std::vector<RunRecord>> RunsFromResult(const pqxx::result& r) {
  std::vector<RunRecord> out;
  for (const pqxx::row& row : r) {
    ASSIGN_OR_RETURN(RunRecord rec, RunFromRow(row));
    out.push_back(std::move(rec));
  }
  return out;
}

int64_t MicrosOf(bool has, const google::protobuf::Timestamp& ts) {
  return has ? absl::ToUnixMicros(FromProtoTime(ts)) : -1;
}

pqxx::binarystring SummaryBytes(const v1::Run& run) {
  return pqxx::binarystring(run.has_import_summary() ? run.import_summary().SerializeAsString()
                                                     : std::string());
}

int64_t MicrosOr(std::optional<absl::Time> t) {
  return t.has_value() ? absl::ToUnixMicros(*t) : -1;
}

}  // namespace

absl::Status ApplyOrchestrationMigrations(PgPool& pool) {
  RETURN_IF_ERROR(ApplySchedulerMigrations(pool));
  return ApplyMigrations(
      pool, "scheduler",
      {Migration{101, "run orchestration: attempts, retries, cancel, approve", kOrchestrationV1},
       Migration{102, "run orchestration: approval claim, last job, step event ids",
                 kOrchestrationV2}});
}

bool IsTerminal(v1::RunState state) {
  return state == v1::RUN_STATE_SUCCEEDED || state == v1::RUN_STATE_FAILED ||
         state == v1::RUN_STATE_SKIPPED || state == v1::RUN_STATE_HELD ||
         state == v1::RUN_STATE_CANCELLED;
}

RunRecord NewRunRecord(const v1::Integration& in, v1::RunState state, v1::RunTrigger trigger,
                       absl::Time now, std::optional<absl::Time> scheduled_for) {
  RunRecord rec;
  v1::Run& run = rec.run;
  run.set_run_id(NewId("run"));
  run.set_tenant_id(in.tenant_id());
  run.set_integration_id(in.integration_id());
  run.set_direction(in.direction());
  run.set_state(state);
  run.set_trigger(trigger);
  *run.mutable_created_at() = ToProtoTime(now);
  *run.mutable_updated_at() = ToProtoTime(now);
  if (scheduled_for.has_value()) *run.mutable_scheduled_for() = ToProtoTime(*scheduled_for);
  return rec;
}

std::string QueuedStepDetail(std::optional<absl::Time> scheduled_for) {
  if (!scheduled_for.has_value()) return "triggered manually";
  return absl::StrCat("scheduled for ",
                      absl::FormatTime(absl::RFC3339_sec, *scheduled_for, absl::UTCTimeZone()));
}

absl::StatusOr<bool> RunStore::Insert(pqxx::work& txn, const RunRecord& rec) {
  const v1::Run& run = rec.run;
  pqxx::result r = txn.exec_params(
      "INSERT INTO scheduler.runs (run_id, tenant_id, integration_id, direction, state, "
      "trigger, error, current_job_id, scheduled_for, created_at, updated_at, finished_at, "
      "attempt, step_started_at) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, scheduler.ts($9), scheduler.ts($10), "
      "scheduler.ts($11), scheduler.ts($12), $13, scheduler.ts($14)) "
      "ON CONFLICT ON CONSTRAINT runs_schedule_slot DO NOTHING",
      run.run_id(), run.tenant_id(), run.integration_id(), static_cast<int>(run.direction()),
      static_cast<int>(run.state()), static_cast<int>(run.trigger()), run.error(),
      rec.current_job_id, MicrosOf(run.has_scheduled_for(), run.scheduled_for()),
      MicrosOf(true, run.created_at()), MicrosOf(true, run.updated_at()),
      MicrosOf(run.has_finished_at(), run.finished_at()), std::max(1, run.attempt()),
      MicrosOr(rec.step_started_at));
  return r.affected_rows() == 1;
}

absl::StatusOr<RunRecord> RunStore::Get(pqxx::work& txn, const std::string& tenant_id,
                                        const std::string& run_id, bool for_update) {
  pqxx::result r =
      txn.exec_params(absl::StrCat("SELECT ", kRunColumns,
                                   " FROM scheduler.runs WHERE tenant_id = $1 AND run_id = $2",
                                   for_update ? " FOR UPDATE" : ""),
                      tenant_id, run_id);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("run ", run_id, " not found"));
  return RunFromRow(r[0]);
}

absl::Status RunStore::Update(pqxx::work& txn, const RunRecord& rec) {
  const v1::Run& run = rec.run;
  const bool has_summary = run.has_import_summary();
  pqxx::result r = txn.exec_params(
      "UPDATE scheduler.runs SET state = $3, error = $4, source_file_id = $5, "
      "export_file_id = $6, remote_path = $7, bytes_transferred = $8, "
      "import_summary = CASE WHEN $9::boolean THEN $10::bytea ELSE NULL END, current_job_id = $11, "
      "updated_at = scheduler.ts($12), finished_at = scheduler.ts($13), attempt = $14, "
      "retry_at = scheduler.ts($15), step_started_at = scheduler.ts($16), cancelled_by = $17, "
      "cancel_reason = $18, approved_by = $19, approved_at = scheduler.ts($20), "
      "approval_started_at = scheduler.ts($21), approval_by = $22, last_job_id = $23 "
      "WHERE tenant_id = $1 AND run_id = $2",
      run.tenant_id(), run.run_id(), static_cast<int>(run.state()), run.error(),
      run.source_file_id(), run.export_file_id(), run.remote_path(), run.bytes_transferred(),
      has_summary, SummaryBytes(run), rec.current_job_id, MicrosOf(true, run.updated_at()),
      MicrosOf(run.has_finished_at(), run.finished_at()), std::max(1, run.attempt()),
      MicrosOf(run.has_retry_at(), run.retry_at()), MicrosOr(rec.step_started_at),
      run.cancelled_by(), run.cancel_reason(), run.approved_by(),
      MicrosOf(run.has_approved_at(), run.approved_at()), MicrosOr(rec.approval_started_at),
      rec.approval_by, rec.last_job_id);
  if (r.affected_rows() == 0) {
    return absl::NotFoundError(absl::StrCat("run ", run.run_id(), " not found"));
  }
  return absl::OkStatus();
}

absl::Status RunStore::AppendStep(pqxx::work& txn, const std::string& run_id, v1::RunState state,
                                  const std::string& detail, absl::Time at,
                                  const std::string& job_id, int attempt) {
  txn.exec_params(
      "INSERT INTO scheduler.run_steps (run_id, state, detail, at, job_id, attempt) "
      "VALUES ($1, $2, $3, scheduler.ts($4), $5, $6)",
      run_id, static_cast<int>(state), detail, absl::ToUnixMicros(at), job_id,
      std::max(1, attempt));
  return absl::OkStatus();
}

absl::StatusOr<bool> RunStore::AppendEventStep(pqxx::work& txn, const std::string& run_id,
                                               v1::RunState state, const std::string& detail,
                                               absl::Time at, const std::string& job_id,
                                               const std::string& event_id) {
  pqxx::result r = txn.exec_params(
      "INSERT INTO scheduler.run_steps (run_id, state, detail, at, job_id, attempt, event_id) "
      "VALUES ($1, $2, $3, scheduler.ts($4), $5, 1, $6) "
      "ON CONFLICT (run_id, event_id) WHERE event_id <> '' DO NOTHING",
      run_id, static_cast<int>(state), detail, absl::ToUnixMicros(at), job_id, event_id);
  return r.affected_rows() == 1;
}

absl::StatusOr<std::vector<v1::RunStepRecord>> RunStore::Steps(pqxx::work& txn,
                                                               const std::string& run_id) {
  pqxx::result r = txn.exec_params(
      "SELECT state, detail, scheduler.us(at) AS at_us, job_id, attempt FROM scheduler.run_steps "
      "WHERE run_id = $1 ORDER BY id",
      run_id);
  std::vector<v1::RunStepRecord> out;
  for (const pqxx::row& row : r) {
    v1::RunStepRecord step;
    step.set_state(static_cast<v1::RunState>(row["state"].as<int>()));
    step.set_detail(row["detail"].as<std::string>());
    SetTime(step.mutable_at(), row["at_us"].as<int64_t>());
    step.set_job_id(row["job_id"].as<std::string>());
    step.set_attempt(row["attempt"].as<int>());
    out.push_back(std::move(step));
  }
  return out;
}

absl::StatusOr<std::vector<RunRecord>> RunStore::List(pqxx::work& txn, const ListQuery& q) {
  const bool has_cursor = q.before.has_value();
  pqxx::result r = txn.exec_params(
      absl::StrCat("SELECT ", kRunColumns,
                   " FROM scheduler.runs WHERE tenant_id = $1 AND ($2::text = '' OR integration_id "
                   "= $2::text) "
                   "AND ($3::integer = 0 OR state = $3::integer) "
                   "AND (NOT $4::boolean OR (created_at, run_id) < (scheduler.ts($5), $6::text)) "
                   "ORDER BY created_at DESC, run_id DESC LIMIT $7"),
      q.tenant_id, q.integration_id, static_cast<int>(q.state), has_cursor,
      has_cursor ? q.before->first : int64_t{0}, has_cursor ? q.before->second : std::string(),
      q.limit);
  return RunsFromResult(r);
}

absl::StatusOr<int64_t> RunStore::CountInProgress(pqxx::work& txn) {
  pqxx::row row = txn.exec1("SELECT count(*) FROM scheduler.runs WHERE finished_at IS NULL");
  return row[0].as<int64_t>();
}

absl::StatusOr<std::vector<RunRecord>> RunStore::LockUnfinishedCreatedBefore(
    pqxx::work& txn, absl::Time created_before, int limit) {
  pqxx::result r = txn.exec_params(
      absl::StrCat("SELECT ", kRunColumns,
                   " FROM scheduler.runs WHERE finished_at IS NULL AND created_at <= "
                   "scheduler.ts($1) ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED"),
      absl::ToUnixMicros(created_before), limit);
  return RunsFromResult(r);
}

absl::Status Outbox::Enqueue(pqxx::work& txn, const std::string& stream, const std::string& payload,
                             absl::Time at, const std::string& run_id,
                             std::optional<absl::Time> not_before) {
  txn.exec_params(
      "INSERT INTO scheduler.outbox (stream, payload, created_at, run_id, not_before) "
      "VALUES ($1, $2, scheduler.ts($3), $4, scheduler.ts($5))",
      stream, pqxx::binarystring(payload), absl::ToUnixMicros(at), run_id, MicrosOr(not_before));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Outbox::Entry>> Outbox::LockUnsent(pqxx::work& txn, int limit,
                                                             absl::Time now) {
  const int64_t now_us = now == absl::InfiniteFuture()
                             ? std::numeric_limits<int64_t>::max()
                             : absl::ToUnixMicros(now);
  pqxx::result r = txn.exec_params(
      "SELECT id, stream, payload FROM scheduler.outbox WHERE sent_at IS NULL "
      "AND (not_before IS NULL OR scheduler.us(not_before) <= $2) "
      "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
      limit, now_us);
  std::vector<Entry> out;
  for (const pqxx::row& row : r) {
    Entry e;
    e.id = row["id"].as<int64_t>();
    e.stream = row["stream"].as<std::string>();
    e.payload = pqxx::binarystring(row["payload"]).str();
    out.push_back(std::move(e));
  }
  return out;
}

absl::Status Outbox::MarkSent(pqxx::work& txn, const std::vector<int64_t>& ids, absl::Time at) {
  if (ids.empty()) return absl::OkStatus();
  txn.exec_params(
      absl::StrCat("UPDATE scheduler.outbox SET sent_at = scheduler.ts($1) WHERE id IN (",
                   absl::StrJoin(ids, ","), ")"),
      absl::ToUnixMicros(at));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Outbox::Entry>> Outbox::LastForRun(pqxx::work& txn,
                                                                const std::string& run_id) {
  pqxx::result r = txn.exec_params(
      "SELECT id, stream, payload FROM scheduler.outbox WHERE run_id = $1 ORDER BY id DESC "
      "LIMIT 1",
      run_id);
  if (r.empty()) return std::optional<Entry>();
  Entry e;
  e.id = r[0]["id"].as<int64_t>();
  e.stream = r[0]["stream"].as<std::string>();
  e.payload = pqxx::binarystring(r[0]["payload"]).str();
  return std::optional<Entry>(std::move(e));
}

absl::StatusOr<int64_t> Outbox::DropUnsent(pqxx::work& txn, const std::string& run_id) {
  pqxx::result r = txn.exec_params(
      "DELETE FROM scheduler.outbox WHERE run_id = $1 AND sent_at IS NULL", run_id);
  return static_cast<int64_t>(r.affected_rows());
}

absl::StatusOr<int64_t> Outbox::CountPending(pqxx::work& txn) {
  pqxx::row row = txn.exec1("SELECT count(*) FROM scheduler.outbox WHERE sent_at IS NULL");
  return row[0].as<int64_t>();
}

}  // namespace rostersync::scheduler
