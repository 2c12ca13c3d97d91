#include "services/scheduler/run_orchestrator.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/queue_codec.h"
#include "common/status_macros.h"
#include "common/time_util.h"
#include "services/scheduler/cron.h"
#include "services/scheduler/run_store.h"

namespace rostersync::scheduler {
namespace {

std::string JobId(const std::string& run_id, const char* step) {
  return absl::StrCat(run_id, ":", step);
}

v1::SealedCredentials Sealed(const StoredIntegration& s) {
  v1::SealedCredentials sealed;
  sealed.set_ciphertext(s.sealed_credentials);
  sealed.set_context(CredentialContext(s.integration.tenant_id(), s.integration.integration_id()));
  return sealed;
}

void Touch(RunRecord& rec, absl::Time now) { *rec.run.mutable_updated_at() = ToProtoTime(now); }

// Moves `rec` to a terminal state.
void Finish(RunRecord& rec, v1::RunState state, absl::Time now) {
  rec.run.set_state(state);
  rec.current_job_id.clear();
  Touch(rec, now);
  *rec.run.mutable_finished_at() = ToProtoTime(now);
}

std::string SummaryText(const v1::ImportSummary& s) {
  return absl::StrCat("imported ", s.rows_read(), " rows: ", s.added(), " added, ", s.updated(),
                      " updated, ", s.deleted(), " deleted, ", s.deactivated(), " deactivated, ",
                      s.unchanged(), " unchanged, ", s.rejected_rows(), " rejected");
}

bool Expected(v1::RunState state, v1::RunEvent::Type type) {
  if (type == v1::RunEvent::TYPE_FAILED) return !IsTerminal(state);
  switch (state) {
    case v1::RUN_STATE_FETCHING:
      return type == v1::RunEvent::TYPE_FETCHED || type == v1::RunEvent::TYPE_NO_NEW_FILE;
    case v1::RUN_STATE_IMPORTING:
      return type == v1::RunEvent::TYPE_IMPORTED || type == v1::RunEvent::TYPE_IMPORT_REJECTED;
    case v1::RUN_STATE_RENDERING:
      return type == v1::RunEvent::TYPE_RENDERED;
    case v1::RUN_STATE_UPLOADING:
      return type == v1::RunEvent::TYPE_UPLOADED;
    default:
      return false;
  }
}

}  // namespace

std::string CredentialContext(const std::string& tenant_id, const std::string& integration_id) {
  return absl::StrCat(tenant_id, "/", integration_id);
}

RunOrchestrator::RunOrchestrator(PgPool* pool, Clock* clock, SchedulerMetrics* metrics)
    : pool_(pool), clock_(clock), metrics_(metrics) {}

absl::StatusOr<std::optional<v1::Run>> RunOrchestrator::StartRunInTxn(
    pqxx::work& txn, const StoredIntegration& stored, v1::RunTrigger trigger,
    std::optional<absl::Time> scheduled_for) {
  const v1::Integration& in = stored.integration;
  const absl::Time now = clock_->Now();
  RunRecord rec;
  v1::Run& run = rec.run;
  run.set_run_id(NewId("run"));
  run.set_tenant_id(in.tenant_id());
  run.set_integration_id(in.integration_id());
  run.set_direction(in.direction());
  run.set_state(v1::RUN_STATE_QUEUED);
  run.set_trigger(trigger);
  *run.mutable_created_at() = ToProtoTime(now);
  *run.mutable_updated_at() = ToProtoTime(now);
  if (scheduled_for.has_value()) *run.mutable_scheduled_for() = ToProtoTime(*scheduled_for);
  ASSIGN_OR_RETURN(bool inserted, RunStore::Insert(txn, rec));
  if (!inserted) return std::optional<v1::Run>();
  RETURN_IF_ERROR(RunStore::AppendStep(
      txn, run.run_id(), v1::RUN_STATE_QUEUED,
      scheduled_for.has_value()
          ? absl::StrCat("scheduled for ",
                         absl::FormatTime(absl::RFC3339_sec, *scheduled_for, absl::UTCTimeZone()))
          : std::string("triggered manually"),
      now));

  std::string detail;
  if (in.direction() == v1::RUN_DIRECTION_IMPORT) {
    v1::TransferJob job;
    job.set_job_id(JobId(run.run_id(), "fetch"));
    job.set_tenant_id(in.tenant_id());
    job.set_run_id(run.run_id());
    job.set_integration_id(in.integration_id());
    job.set_op(v1::TransferJob::OP_FETCH);
    *job.mutable_endpoint() = in.endpoint();
    *job.mutable_credentials() = Sealed(stored);
    job.set_remote_folder(in.import_settings().remote_folder());
    job.set_file_glob(in.import_settings().file_glob());
    *job.mutable_fetch() = in.import_settings().fetch();
    job.set_time_zone(in.time_zone());
    RETURN_IF_ERROR(Outbox::Enqueue(txn, kTransferJobsStream, EncodeQueueMessage(job), now));
    run.set_state(v1::RUN_STATE_FETCHING);
    rec.current_job_id = job.job_id();
    detail = absl::StrCat("fetch job ", job.job_id(), " queued: ", job.file_glob(), " in ",
                          job.remote_folder());
  } else {
    v1::RosterJob job;
    job.set_job_id(JobId(run.run_id(), "render"));
    job.set_tenant_id(in.tenant_id());
    job.set_run_id(run.run_id());
    job.set_integration_id(in.integration_id());
    job.set_op(v1::RosterJob::OP_EXPORT);
    job.set_export_name(in.export_settings().file_name());
    RETURN_IF_ERROR(Outbox::Enqueue(txn, kRosterJobsStream, EncodeQueueMessage(job), now));
    run.set_state(v1::RUN_STATE_RENDERING);
    rec.current_job_id = job.job_id();
    detail = absl::StrCat("render job ", job.job_id(), " queued: ", job.export_name());
  }
  RETURN_IF_ERROR(RunStore::Update(txn, rec));
  RETURN_IF_ERROR(RunStore::AppendStep(txn, run.run_id(), run.state(), detail, now));
  return std::optional<v1::Run>(run);
}

absl::StatusOr<v1::Run> RunOrchestrator::TriggerRun(const std::string& tenant_id,
                                                    const std::string& integration_id) {
  if (tenant_id.empty()) return absl::InvalidArgumentError("tenant_id: is required");
  if (integration_id.empty()) return absl::InvalidArgumentError("integration_id: is required");
  v1::Run run;
  RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    ASSIGN_OR_RETURN(StoredIntegration stored,
                     IntegrationStore::Get(txn, tenant_id, integration_id, /*for_update=*/true));
    if (!stored.integration.active()) {
      return absl::FailedPreconditionError(
          absl::StrCat("integration ", integration_id, " is deactivated; activate it first"));
    }
    ASSIGN_OR_RETURN(std::optional<v1::Run> started,
                     StartRunInTxn(txn, stored, v1::RUN_TRIGGER_MANUAL, std::nullopt));
    if (!started.has_value()) return absl::InternalError("manual run was not inserted");
    run = std::move(*started);
    return absl::OkStatus();
  }));
  log::Info("run triggered", {{"run_id", run.run_id()},
                              {"tenant", tenant_id},
                              {"integration_id", integration_id},
                              {"state", v1::RunState_Name(run.state())}});
  return run;
}

absl::Status RunOrchestrator::HandleEvent(const v1::RunEvent& event) {
  const log::Fields fields = {{"run_id", event.run_id()},
                              {"tenant", event.tenant_id()},
                              {"job_id", event.job_id()},
                              {"event", v1::RunEvent::Type_Name(event.type())}};
  std::optional<v1::Run> finished;
  bool applied = false;
  absl::Status status = pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    finished.reset();
    applied = false;
    auto got = RunStore::Get(txn, event.tenant_id(), event.run_id(), /*for_update=*/true);
    if (absl::IsNotFound(got.status())) {
      log::Warn("event for an unknown run ignored", fields);
      return absl::OkStatus();
    }
    if (!got.ok()) return got.status();
    RunRecord rec = std::move(*got);
    if (rec.current_job_id.empty() || rec.current_job_id != event.job_id()) {
      log::Info("stale or duplicate event ignored", {{"run_id", event.run_id()},
                                                     {"tenant", event.tenant_id()},
                                                     {"job_id", event.job_id()},
                                                     {"current_job_id", rec.current_job_id}});
      return absl::OkStatus();
    }
    if (!Expected(rec.run.state(), event.type())) {
      log::Warn(absl::StrCat("event not expected in state ", v1::RunState_Name(rec.run.state()),
                             "; ignored"),
                fields);
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(StoredIntegration stored,
                     IntegrationStore::Get(txn, rec.run.tenant_id(), rec.run.integration_id()));
    const v1::Integration& in = stored.integration;
    const absl::Time now = clock_->Now();
    const std::string& run_id = rec.run.run_id();
    std::string detail;

    switch (event.type()) {
      case v1::RunEvent::TYPE_FETCHED: {
        rec.run.set_source_file_id(event.file_id());
        rec.run.set_remote_path(event.remote_path());
        rec.run.set_bytes_transferred(rec.run.bytes_transferred() + event.bytes());
        v1::RosterJob job;
        job.set_job_id(JobId(run_id, "import"));
        job.set_tenant_id(in.tenant_id());
        job.set_run_id(run_id);
        job.set_integration_id(in.integration_id());
        job.set_op(v1::RosterJob::OP_IMPORT);
        job.set_file_id(event.file_id());
        *job.mutable_header_map() = in.import_settings().header_map();
        *job.mutable_policy() = in.import_settings().policy();
        // policy.sync_policy wins; the older ImportSettings.sync_policy fills it when unset.
        if (job.policy().sync_policy() == v1::SYNC_POLICY_UNSPECIFIED) {
          job.mutable_policy()->set_sync_policy(in.import_settings().sync_policy());
        }
        job.set_sync_policy(job.policy().sync_policy());
        RETURN_IF_ERROR(Outbox::Enqueue(txn, kRosterJobsStream, EncodeQueueMessage(job), now));
        rec.run.set_state(v1::RUN_STATE_IMPORTING);
        rec.current_job_id = job.job_id();
        Touch(rec, now);
        detail =
            absl::StrCat("fetched ", event.remote_path(), " (", event.bytes(), " bytes) as file ",
                         event.file_id(), "; import job ", job.job_id(), " queued");
        break;
      }
      case v1::RunEvent::TYPE_NO_NEW_FILE:
        Finish(rec, v1::RUN_STATE_SKIPPED, now);
        detail = absl::StrCat("no new file matching ", in.import_settings().file_glob(), " in ",
                              in.import_settings().remote_folder());
        if (!event.note().empty()) absl::StrAppend(&detail, " (", event.note(), ")");
        break;
      case v1::RunEvent::TYPE_IMPORTED:
        *rec.run.mutable_import_summary() = event.import();
        if (event.import().status() == v1::IMPORT_STATUS_HELD) {
          // Adds and updates applied; the removals wait for ApproveDeletions on the roster.
          Finish(rec, v1::RUN_STATE_HELD, now);
          detail = absl::StrCat(
              "held for approval: ",
              event.import().held_reason().empty() ? "removals held" : event.import().held_reason(),
              " (", event.import().held(), " removals held; approve import ",
              event.import().import_id(), "); ", SummaryText(event.import()));
          break;
        }
        Finish(rec, v1::RUN_STATE_SUCCEEDED, now);
        detail = SummaryText(event.import());
        break;
      case v1::RunEvent::TYPE_IMPORT_REJECTED: {
        *rec.run.mutable_import_summary() = event.import();
        std::string reason = !event.error().empty() ? event.error() : event.import().message();
        if (reason.empty()) reason = "import rejected";
        rec.run.set_error(absl::StrCat("import rejected: ", reason));
        Finish(rec, v1::RUN_STATE_FAILED, now);
        detail = rec.run.error();
        break;
      }
      case v1::RunEvent::TYPE_RENDERED: {
        rec.run.set_export_file_id(event.file_id());
        v1::TransferJob job;
        job.set_job_id(JobId(run_id, "upload"));
        job.set_tenant_id(in.tenant_id());
        job.set_run_id(run_id);
        job.set_integration_id(in.integration_id());
        job.set_op(v1::TransferJob::OP_UPLOAD);
        *job.mutable_endpoint() = in.endpoint();
        *job.mutable_credentials() = Sealed(stored);
        job.set_remote_folder(in.export_settings().remote_folder());
        job.set_file_id(event.file_id());
        job.set_remote_name(in.export_settings().file_name());
        *job.mutable_upload() = in.export_settings().upload();
        job.set_time_zone(in.time_zone());
        RETURN_IF_ERROR(Outbox::Enqueue(txn, kTransferJobsStream, EncodeQueueMessage(job), now));
        rec.run.set_state(v1::RUN_STATE_UPLOADING);
        rec.current_job_id = job.job_id();
        Touch(rec, now);
        detail = absl::StrCat("rendered file ", event.file_id(), "; upload job ", job.job_id(),
                              " queued");
        break;
      }
      case v1::RunEvent::TYPE_UPLOADED:
        rec.run.set_remote_path(event.remote_path());
        rec.run.set_bytes_transferred(rec.run.bytes_transferred() + event.bytes());
        Finish(rec, v1::RUN_STATE_SUCCEEDED, now);
        detail = absl::StrCat("uploaded ", event.remote_path(), " (", event.bytes(), " bytes)");
        break;
      case v1::RunEvent::TYPE_FAILED:
        rec.run.set_error(event.error().empty() ? "worker reported a failure" : event.error());
        Finish(rec, v1::RUN_STATE_FAILED, now);
        detail = rec.run.error();
        break;
      default:
        log::Warn("event of unknown type ignored", fields);
        return absl::OkStatus();
    }
    RETURN_IF_ERROR(RunStore::Update(txn, rec));
    RETURN_IF_ERROR(RunStore::AppendStep(txn, run_id, rec.run.state(), detail, now));
    applied = true;
    if (IsTerminal(rec.run.state())) finished = rec.run;
    return absl::OkStatus();
  });
  if (!status.ok()) {
    log::Error(absl::StrCat("event not applied: ", status.ToString()), fields);
    return status;
  }
  if (applied) log::Info("event applied", fields);
  if (finished.has_value()) {
    const v1::Run& run = *finished;
    absl::Time created = FromProtoTime(run.created_at());
    absl::Time done = FromProtoTime(run.finished_at());
    log::Info("run finished", {{"run_id", run.run_id()},
                               {"tenant", run.tenant_id()},
                               {"integration_id", run.integration_id()},
                               {"state", v1::RunState_Name(run.state())},
                               {"error", run.error()}});
    if (metrics_ != nullptr) {
      metrics_->RunFinished(run.tenant_id(), run.integration_id(), run.direction(), run.state(),
                            done - created, done);
    }
  }
  return absl::OkStatus();
}

absl::Status RunOrchestrator::HandleDelivery(const Delivery& delivery) {
  auto event = DecodeQueueMessage<v1::RunEvent>(delivery.payload);
  if (!event.ok()) {
    log::Error(absl::StrCat("malformed event dropped: ", event.status().message()),
               {{"entry_id", delivery.id}});
    return absl::OkStatus();
  }
  return HandleEvent(*event);
}

absl::StatusOr<int> RunOrchestrator::TickOnce() {
  int created = 0;
  std::vector<v1::Run> started_runs;
  RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    created = 0;
    started_runs.clear();
    const absl::Time now = clock_->Now();
    ASSIGN_OR_RETURN(std::vector<StoredIntegration> due,
                     IntegrationStore::LockDue(txn, now, /*limit=*/100));
    for (const StoredIntegration& s : due) {
      const v1::Integration& in = s.integration;
      const absl::Time slot = FromProtoTime(in.next_run_at());
      auto cron = CronSchedule::Parse(in.schedule());
      absl::TimeZone zone;
      if (!cron.ok() || !absl::LoadTimeZone(in.time_zone(), &zone)) {
        log::Error("integration has an unusable schedule; not scheduling it",
                   {{"tenant", in.tenant_id()},
                    {"integration_id", in.integration_id()},
                    {"schedule", in.schedule()},
                    {"time_zone", in.time_zone()}});
        RETURN_IF_ERROR(IntegrationStore::SetNextRunAt(txn, in.integration_id(), std::nullopt));
        continue;
      }
      ASSIGN_OR_RETURN(std::optional<v1::Run> run,
                       StartRunInTxn(txn, s, v1::RUN_TRIGGER_SCHEDULE, slot));
      if (run.has_value()) {
        ++created;
        started_runs.push_back(*run);
      }
      // Missed slots (the scheduler was down) collapse into the one run just created.
      const absl::Time next = cron->NextFire(std::max(now, slot), zone);
      RETURN_IF_ERROR(IntegrationStore::SetNextRunAt(txn, in.integration_id(), next));
    }
    return absl::OkStatus();
  }));
  for (const v1::Run& run : started_runs) {
    log::Info(
        "scheduled run created",
        {{"run_id", run.run_id()},
         {"tenant", run.tenant_id()},
         {"integration_id", run.integration_id()},
         {"scheduled_for", absl::FormatTime(absl::RFC3339_sec, FromProtoTime(run.scheduled_for()),
                                            absl::UTCTimeZone())}});
  }
  return created;
}

}  // namespace rostersync::scheduler
