#include "services/scheduler/run_orchestrator.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/queue_codec.h"
#include "common/status_macros.h"
#include "common/time_util.h"
#include "services/scheduler/cron.h"
#include "services/scheduler/run_store.h"
#include "services/scheduler/schedule_ticker.h"
#include "services/scheduler/time_windows.h"

namespace rostersync::scheduler {
namespace {

std::string JobId(const std::string& run_id, const char* step) {
  return absl::StrCat(run_id, ":", step);
}

// Attempt 1 keeps the plain "<run>:<step>"; a retry is "<run>:<step>:<attempt>".
std::string StepJobId(const std::string& run_id, const std::string& step, int attempt) {
  return attempt <= 1 ? absl::StrCat(run_id, ":", step)
                      : absl::StrCat(run_id, ":", step, ":", attempt);
}

// "FETCHING" for RUN_STATE_FETCHING.
std::string StateName(v1::RunState state) {
  std::string name = v1::RunState_Name(state);
  constexpr absl::string_view kPrefix = "RUN_STATE_";
  if (absl::StartsWith(name, kPrefix)) name = name.substr(kPrefix.size());
  return name;
}

std::string FormatUtc(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone());
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
  rec.step_started_at.reset();
  rec.run.clear_retry_at();
  Touch(rec, now);
  *rec.run.mutable_finished_at() = ToProtoTime(now);
}

std::string CountsText(const v1::ImportSummary& s) {
  return absl::StrCat(s.added(), " added, ", s.updated(), " updated, ", s.deleted(), " deleted, ",
                      s.deactivated(), " deactivated, ", s.unchanged(), " unchanged, ",
                      s.rejected_rows(), " rejected");
}

std::string SummaryText(const v1::ImportSummary& s) {
  return absl::StrCat("imported ", s.rows_read(), " rows: ", CountsText(s));
}

// "imported", "import_rejected", ... for rostersync_run_late_events_total{type}.
std::string EventTypeLabel(v1::RunEvent::Type type) {
  std::string name = absl::AsciiStrToLower(v1::RunEvent::Type_Name(type));
  constexpr absl::string_view kPrefix = "type_";
  if (absl::StartsWith(name, kPrefix)) name = name.substr(kPrefix.size());
  return name;
}

// What a worker did for a run the scheduler had already ended (cancelled or failed).
std::string LateEventDetail(const v1::Run& run, const v1::RunEvent& e) {
  const std::string after = run.state() == v1::RUN_STATE_CANCELLED
                                ? "after the run was cancelled"
                                : "after the run failed";
  const std::string import_id =
      e.import().import_id().empty() ? std::string("(no import id)") : e.import().import_id();
  switch (e.type()) {
    case v1::RunEvent::TYPE_IMPORTED:
      if (e.import().status() == v1::IMPORT_STATUS_HELD) {
        return absl::StrCat("import ", import_id, " is HELD after the run ended (", after,
                            "): its adds and updates were applied (", CountsText(e.import()),
                            "), ", e.import().held(), " removals held; approve it with rosterctl "
                            "imports approve ", import_id);
      }
      return absl::StrCat("import ", import_id, " applied ", after, ": ",
                          CountsText(e.import()));
    case v1::RunEvent::TYPE_IMPORT_REJECTED:
      return absl::StrCat("import ", import_id, " rejected ", after, ", nothing applied: ",
                          e.error());
    case v1::RunEvent::TYPE_FETCHED:
      return absl::StrCat("fetched ", e.remote_path(), " (", e.bytes(), " bytes) as file ",
                          e.file_id(), " ", after, "; it was not imported");
    case v1::RunEvent::TYPE_NO_NEW_FILE:
      return absl::StrCat("the fetch found no new file ", after);
    case v1::RunEvent::TYPE_RENDERED:
      return absl::StrCat("rendered file ", e.file_id(), " ", after, "; it was not uploaded");
    case v1::RunEvent::TYPE_UPLOADED:
      return absl::StrCat("uploaded ", e.remote_path(), " (", e.bytes(), " bytes) ", after);
    case v1::RunEvent::TYPE_FAILED:
      return absl::StrCat("job ", e.job_id(), " failed ", after, ": ",
                          e.error().empty() ? "worker reported a failure" : e.error());
    default:
      return absl::StrCat("event ", v1::RunEvent::Type_Name(e.type()), " for job ", e.job_id(),
                          " arrived ", after);
  }
}

// The CancelRun / ApproveRun refusal while another approval holds the run.
absl::Status ApprovalInProgress(const RunRecord& rec, absl::Duration lease) {
  lease += kApprovalClaimGrace;
  return absl::FailedPreconditionError(absl::StrCat(
      "run ", rec.run.run_id(), ": an approval of this run is in progress since ",
      absl::FormatTime(absl::RFC3339_sec, *rec.approval_started_at, absl::UTCTimeZone()), " by ",
      rec.approval_by.empty() ? "an unnamed operator" : rec.approval_by,
      " (the roster is applying the held removals of import ",
      rec.run.import_summary().import_id(), "); try again when it has finished (the run is "
      "then SUCCEEDED, or HELD again if the roster refused), or after ",
      absl::FormatTime(absl::RFC3339_sec, *rec.approval_started_at + lease, absl::UTCTimeZone()),
      " when the claim expires"));
}

bool ClaimFresh(const RunRecord& rec, absl::Time now, absl::Duration lease) {
  return rec.approval_started_at.has_value() &&
         now - *rec.approval_started_at < lease + kApprovalClaimGrace;
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

absl::Duration RetryBackoff(int failed_attempt, absl::Duration initial, absl::Duration max,
                            double unit_random) {
  absl::Duration backoff = initial;
  for (int i = 1; i < failed_attempt && backoff < max; ++i) backoff *= 2;
  backoff = std::min(backoff, max);
  const double u = std::clamp(unit_random, 0.0, 1.0);
  return backoff / 2 + (backoff / 2) * u;
}

std::string StepName(v1::RunState state) {
  switch (state) {
    case v1::RUN_STATE_FETCHING:
      return "fetch";
    case v1::RUN_STATE_IMPORTING:
      return "import";
    case v1::RUN_STATE_RENDERING:
      return "render";
    case v1::RUN_STATE_UPLOADING:
      return "upload";
    default:
      return "";
  }
}

std::string CredentialContext(const std::string& tenant_id, const std::string& integration_id) {
  return absl::StrCat(tenant_id, "/", integration_id);
}

RunOrchestrator::RunOrchestrator(PgPool* pool, Clock* clock, SchedulerMetrics* metrics,
                                 OrchestratorOptions options)
    : pool_(pool), clock_(clock), metrics_(metrics), options_(options) {
  options_.step_max_attempts = std::max(1, options_.step_max_attempts);
}

absl::StatusOr<std::optional<v1::Run>> RunOrchestrator::StartRunInTxn(
    pqxx::work& txn, const StoredIntegration& stored, v1::RunTrigger trigger,
    std::optional<absl::Time> scheduled_for) {
  const v1::Integration& in = stored.integration;
  const absl::Time now = clock_->Now();
  RunRecord rec = NewRunRecord(in, v1::RUN_STATE_QUEUED, trigger, now, scheduled_for);
  v1::Run& run = rec.run;
  ASSIGN_OR_RETURN(bool inserted, RunStore::Insert(txn, rec));
  if (!inserted) return std::optional<v1::Run>();
  RETURN_IF_ERROR(RunStore::AppendStep(txn, run.run_id(), v1::RUN_STATE_QUEUED,
                                       QueuedStepDetail(scheduled_for), now));

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
    RETURN_IF_ERROR(Outbox::Enqueue(txn, kTransferJobsStream, EncodeQueueMessage(job), now,
                                    run.run_id()));
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
    RETURN_IF_ERROR(Outbox::Enqueue(txn, kRosterJobsStream, EncodeQueueMessage(job), now,
                                    run.run_id()));
    run.set_state(v1::RUN_STATE_RENDERING);
    rec.current_job_id = job.job_id();
    detail = absl::StrCat("render job ", job.job_id(), " queued: ", job.export_name());
  }
  run.set_attempt(1);
  rec.step_started_at = now;
  RETURN_IF_ERROR(RunStore::Update(txn, rec));
  RETURN_IF_ERROR(
      RunStore::AppendStep(txn, run.run_id(), run.state(), detail, now, rec.current_job_id, 1));
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
    RETURN_IF_ERROR(CheckNotInBlackout(stored.integration, clock_->Now()));
    ASSIGN_OR_RETURN(std::optional<v1::Run> started,
                     StartRunInTxn(txn, stored, v1::RUN_TRIGGER_MANUAL, std::nullopt));
    if (!started.has_value()) return absl::InternalError("manual run was not inserted");
    run = std::move(*started);
    return absl::OkStatus();
  }));
  if (metrics_ != nullptr) {
    metrics_->RunStarted(run.direction(), run.trigger(), std::nullopt);
  }
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
  Effects effects;
  bool applied = false;
  std::string late_detail;     // a late event recorded now
  bool late_duplicate = false;  // a late event recorded before
  absl::Status status = pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    effects = Effects();
    applied = false;
    late_detail.clear();
    late_duplicate = false;
    auto got = RunStore::Get(txn, event.tenant_id(), event.run_id(), /*for_update=*/true);
    if (absl::IsNotFound(got.status())) {
      log::Warn("event for an unknown run ignored", fields);
      return absl::OkStatus();
    }
    if (!got.ok()) return got.status();
    RunRecord rec = std::move(*got);
    if (!rec.last_job_id.empty() && rec.last_job_id == event.job_id() &&
        (rec.run.state() == v1::RUN_STATE_CANCELLED || rec.run.state() == v1::RUN_STATE_FAILED)) {
      // The scheduler ended the run while this job was out; the worker did it anyway. The
      // state stays, the step history says what happened (once per event id).
      const std::string detail = LateEventDetail(rec.run, event);
      const std::string event_id =
          event.event_id().empty()
              ? absl::StrCat(event.job_id(), ":", v1::RunEvent::Type_Name(event.type()))
              : event.event_id();
      ASSIGN_OR_RETURN(bool appended,
                       RunStore::AppendEventStep(txn, rec.run.run_id(), rec.run.state(), detail,
                                                 clock_->Now(), event.job_id(), event_id));
      if (appended) {
        late_detail = detail;
        effects.late_event_type = EventTypeLabel(event.type());
      } else {
        late_duplicate = true;
      }
      return absl::OkStatus();
    }
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
    // The step attempt this event concludes, for the step duration metric.
    const std::string step = StepName(rec.run.state());
    const int attempt = std::max(1, rec.run.attempt());
    const std::optional<absl::Time> step_started = rec.step_started_at;
    std::string step_outcome = "ok";
    std::string failure_cause;

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
        const std::string add_only = ApplyAddOnlyWindow(in, now, job);  // time_windows.h
        RETURN_IF_ERROR(
            Outbox::Enqueue(txn, kRosterJobsStream, EncodeQueueMessage(job), now, run_id));
        rec.run.set_state(v1::RUN_STATE_IMPORTING);
        rec.current_job_id = job.job_id();
        Touch(rec, now);
        detail =
            absl::StrCat("fetched ", event.remote_path(), " (", event.bytes(), " bytes) as file ",
                         event.file_id(), "; import job ", job.job_id(), " queued", add_only);
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
        step_outcome = "failed";
        failure_cause = "rejected";
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
        RETURN_IF_ERROR(
            Outbox::Enqueue(txn, kTransferJobsStream, EncodeQueueMessage(job), now, run_id));
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
      case v1::RunEvent::TYPE_FAILED: {
        const std::string error =
            event.error().empty() ? "worker reported a failure" : event.error();
        if (event.retryable() && attempt < options_.step_max_attempts) {
          // Transient: the same step again, as a new job, after a backoff.
          absl::BitGen gen;
          const absl::Duration wait =
              RetryBackoff(attempt, options_.retry_initial, options_.retry_max,
                           absl::Uniform<double>(gen, 0.0, 1.0));
          const absl::Time retry_at = now + wait;
          ASSIGN_OR_RETURN(std::string job_id,
                           RequeueStepJob(txn, rec, stored, attempt + 1, retry_at, now));
          rec.current_job_id = job_id;
          rec.run.set_attempt(attempt + 1);
          *rec.run.mutable_retry_at() = ToProtoTime(retry_at);
          rec.run.set_error(error);  // the last failure, cleared when the step moves on
          rec.step_started_at = retry_at;
          Touch(rec, now);
          detail = absl::StrCat(step, " attempt ", attempt, " of ", options_.step_max_attempts,
                                " failed: ", error, "; retry ", attempt + 1, " as job ", job_id,
                                " at ", FormatUtc(retry_at), " (in ",
                                absl::FormatDuration(absl::Trunc(wait, absl::Seconds(1))), ")");
          step_outcome = "retry";
          break;
        }
        if (event.retryable()) {
          rec.run.set_error(absl::StrCat(step, " failed after ", attempt,
                                         attempt == 1 ? " attempt: " : " attempts: ", error));
          failure_cause = "retries_exhausted";
        } else {
          rec.run.set_error(error);
          failure_cause = "worker";
        }
        RETURN_IF_ERROR(Outbox::DropUnsent(txn, run_id).status());
        Finish(rec, v1::RUN_STATE_FAILED, now);
        detail = rec.run.error();
        step_outcome = "failed";
        break;
      }
      default:
        log::Warn("event of unknown type ignored", fields);
        return absl::OkStatus();
    }
    if (step_outcome == "ok") {
      // The step is done: an earlier attempt's error no longer applies; the next step (if
      // any) starts its first attempt now.
      rec.run.clear_retry_at();
      rec.run.set_error("");
      if (!rec.current_job_id.empty()) {
        rec.run.set_attempt(1);
        rec.step_started_at = now;
      }
    }
    RETURN_IF_ERROR(RunStore::Update(txn, rec));
    RETURN_IF_ERROR(RunStore::AppendStep(
        txn, run_id, rec.run.state(), detail, now,
        rec.current_job_id.empty() ? event.job_id() : rec.current_job_id,
        rec.current_job_id.empty() ? attempt : rec.run.attempt()));
    applied = true;
    if (!step.empty() && step_started.has_value()) {
      effects.step_attempts.push_back(
          {rec.run.direction(), step, step_outcome, std::max(absl::ZeroDuration(),
                                                             now - *step_started)});
    }
    if (IsTerminal(rec.run.state())) {
      effects.finished = rec.run;
      effects.failure_cause = failure_cause;
    }
    return absl::OkStatus();
  });
  if (!status.ok()) {
    log::Error(absl::StrCat("event not applied: ", status.ToString()), fields);
    return status;
  }
  if (applied) log::Info("event applied", fields);
  if (!late_detail.empty()) {
    log::Fields late_fields = fields;
    late_fields.push_back({"detail", late_detail});
    log::Warn("late event for a run that had already ended: recorded as a step, state unchanged",
              late_fields);
  } else if (late_duplicate) {
    log::Info("late event recorded before; ignored", fields);
  }
  Report(effects);
  return absl::OkStatus();
}

void RunOrchestrator::Report(const Effects& effects) {
  if (metrics_ != nullptr) {
    for (const Effects::StepAttempt& a : effects.step_attempts) {
      metrics_->StepAttemptFinished(a.direction, a.step, a.outcome, a.duration);
    }
    if (!effects.late_event_type.empty()) metrics_->LateEvent(effects.late_event_type);
  }
  if (!effects.finished.has_value()) return;
  const v1::Run& run = *effects.finished;
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
    if (run.state() == v1::RUN_STATE_FAILED && !effects.failure_cause.empty()) {
      metrics_->RunFailed(effects.failure_cause);
    }
  }
}

absl::StatusOr<std::string> RunOrchestrator::RequeueStepJob(pqxx::work& txn, const RunRecord& rec,
                                                            const StoredIntegration& stored,
                                                            int attempt, absl::Time not_before,
                                                            absl::Time now) {
  const std::string& run_id = rec.run.run_id();
  const std::string step = StepName(rec.run.state());
  if (step.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "run ", run_id, ": no step to retry in state ", v1::RunState_Name(rec.run.state())));
  }
  // The job as it was queued (same file, same options), under a new id; a transfer job gets
  // the credentials as they are sealed now (a key rotation may have re-sealed them).
  ASSIGN_OR_RETURN(std::optional<Outbox::Entry> last, Outbox::LastForRun(txn, run_id));
  if (!last.has_value()) {
    return absl::DataLossError(
        absl::StrCat("run ", run_id, ": the job of step ", step, " is not in the outbox"));
  }
  const std::string job_id = StepJobId(run_id, step, attempt);
  std::string payload;
  if (last->stream == kTransferJobsStream) {
    ASSIGN_OR_RETURN(v1::TransferJob job, DecodeQueueMessage<v1::TransferJob>(last->payload));
    job.set_job_id(job_id);
    *job.mutable_credentials() = Sealed(stored);
    payload = EncodeQueueMessage(job);
  } else {
    ASSIGN_OR_RETURN(v1::RosterJob job, DecodeQueueMessage<v1::RosterJob>(last->payload));
    job.set_job_id(job_id);
    payload = EncodeQueueMessage(job);
  }
  RETURN_IF_ERROR(Outbox::Enqueue(txn, last->stream, payload, now, run_id, not_before));
  return job_id;
}

absl::Status RunOrchestrator::FailInTxn(pqxx::work& txn, RunRecord& rec, const std::string& error,
                                        const std::string& cause, absl::Time now,
                                        Effects& effects) {
  const std::string step = StepName(rec.run.state());
  const std::string job_id = rec.current_job_id;
  const int attempt = std::max(1, rec.run.attempt());
  if (!step.empty() && rec.step_started_at.has_value()) {
    effects.step_attempts.push_back({rec.run.direction(), step, "failed",
                                     std::max(absl::ZeroDuration(), now - *rec.step_started_at)});
  }
  ASSIGN_OR_RETURN(int64_t dropped, Outbox::DropUnsent(txn, rec.run.run_id()));
  rec.run.set_error(error);
  // A published job may still be done by a worker: its event is then recorded as late. (The
  // current job is the run's newest outbox entry, so when anything was dropped it was.)
  rec.last_job_id = dropped > 0 ? "" : job_id;
  Finish(rec, v1::RUN_STATE_FAILED, now);
  RETURN_IF_ERROR(RunStore::Update(txn, rec));
  RETURN_IF_ERROR(
      RunStore::AppendStep(txn, rec.run.run_id(), rec.run.state(), error, now, job_id, attempt));
  effects.finished = rec.run;
  effects.failure_cause = cause;
  return absl::OkStatus();
}

absl::StatusOr<int> RunOrchestrator::ExpireOnce() {
  std::vector<Effects> each;
  RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    each.clear();
    const absl::Time now = clock_->Now();
    ASSIGN_OR_RETURN(std::vector<RunRecord> expired,
                     RunStore::LockUnfinishedCreatedBefore(txn, now - options_.run_timeout,
                                                           /*limit=*/100));
    for (RunRecord& rec : expired) {
      Effects effects;
      const std::string error =
          absl::StrCat("timed out after ", absl::FormatDuration(options_.run_timeout),
                       " in state ", StateName(rec.run.state()));
      RETURN_IF_ERROR(FailInTxn(txn, rec, error, "timeout", now, effects));
      each.push_back(std::move(effects));
    }
    return absl::OkStatus();
  }));
  for (const Effects& effects : each) Report(effects);
  return static_cast<int>(each.size());
}

absl::Status RunOrchestrator::HandleDeadLetter(const std::string& job_stream,
                                               const std::string& payload,
                                               const std::string& reason) {
  std::string tenant_id, run_id, job_id;
  if (job_stream == kTransferJobsStream) {
    auto job = DecodeQueueMessage<v1::TransferJob>(payload);
    if (job.ok()) tenant_id = job->tenant_id(), run_id = job->run_id(), job_id = job->job_id();
  } else {
    auto job = DecodeQueueMessage<v1::RosterJob>(payload);
    if (job.ok()) tenant_id = job->tenant_id(), run_id = job->run_id(), job_id = job->job_id();
  }
  if (run_id.empty() || job_id.empty()) {
    log::Error("dead-lettered entry is not a job of a run; nothing to fail",
               {{"stream", job_stream}, {"reason", reason}});
    return absl::OkStatus();
  }
  const std::string error =
      absl::StrCat("job ", job_id, " dead-lettered from ", job_stream, ": ",
                   reason.empty() ? "no reason recorded" : reason);
  Effects effects;
  bool failed = false;
  RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    effects = Effects();
    failed = false;
    auto got = RunStore::Get(txn, tenant_id, run_id, /*for_update=*/true);
    if (absl::IsNotFound(got.status())) return absl::OkStatus();
    if (!got.ok()) return got.status();
    RunRecord rec = std::move(*got);
    if (IsTerminal(rec.run.state()) || rec.current_job_id != job_id) return absl::OkStatus();
    failed = true;
    return FailInTxn(txn, rec, error, "dead_letter", clock_->Now(), effects);
  }));
  log::Warn(failed ? "run failed: its job was dead-lettered"
                   : "dead-lettered job is no longer its run's current job; ignored",
            {{"run_id", run_id}, {"tenant", tenant_id}, {"job_id", job_id}, {"reason", reason}});
  Report(effects);
  return absl::OkStatus();
}

absl::StatusOr<v1::Run> RunOrchestrator::CancelRun(const std::string& tenant_id,
                                                   const std::string& run_id,
                                                   const std::string& requested_by,
                                                   const std::string& reason,
                                                   absl::Duration approval_lease) {
  if (tenant_id.empty()) return absl::InvalidArgumentError("tenant_id: is required");
  if (run_id.empty()) return absl::InvalidArgumentError("run_id: is required");
  Effects effects;
  v1::Run out;
  int64_t dropped = 0;
  RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    effects = Effects();
    ASSIGN_OR_RETURN(RunRecord rec, RunStore::Get(txn, tenant_id, run_id, /*for_update=*/true));
    const v1::RunState state = rec.run.state();
    if (state == v1::RUN_STATE_CANCELLED) {  // cancelled before: the same answer
      out = rec.run;
      return absl::OkStatus();
    }
    if (IsTerminal(state) && state != v1::RUN_STATE_HELD) {
      return absl::FailedPreconditionError(
          absl::StrCat("run ", run_id, " already finished ", StateName(state),
                       "; only a run in progress or HELD can be cancelled"));
    }
    const absl::Time now = clock_->Now();
    // An approval under way: the roster may be applying the removals right now.
    if (state == v1::RUN_STATE_HELD && ClaimFresh(rec, now, approval_lease)) {
      return ApprovalInProgress(rec, approval_lease);
    }
    std::string expired_claim;
    if (rec.approval_started_at.has_value()) {  // the approving scheduler died mid-approval
      expired_claim = absl::StrCat(
          "; an approval claimed at ",
          absl::FormatTime(absl::RFC3339_sec, *rec.approval_started_at, absl::UTCTimeZone()),
          " by ", rec.approval_by.empty() ? "an unnamed operator" : rec.approval_by,
          " never completed (claim expired)");
      rec.approval_started_at.reset();
      rec.approval_by.clear();
    }
    const std::string step = StepName(state);
    const std::string job_id = rec.current_job_id;
    if (!step.empty() && rec.step_started_at.has_value()) {
      effects.step_attempts.push_back({rec.run.direction(), step, "cancelled",
                                       std::max(absl::ZeroDuration(), now - *rec.step_started_at)});
    }
    ASSIGN_OR_RETURN(dropped, Outbox::DropUnsent(txn, run_id));
    rec.run.set_cancelled_by(requested_by);
    rec.run.set_cancel_reason(reason);
    // A published job may still be done by a worker: its event is then recorded as late.
    rec.last_job_id = dropped > 0 ? "" : job_id;
    Finish(rec, v1::RUN_STATE_CANCELLED, now);
    RETURN_IF_ERROR(RunStore::Update(txn, rec));
    std::string detail = absl::StrCat("cancelled in state ", StateName(state), " by ",
                                      requested_by.empty() ? "an unnamed operator" : requested_by);
    if (!reason.empty()) absl::StrAppend(&detail, ": ", reason);
    if (dropped > 0) absl::StrAppend(&detail, "; its unpublished job was dropped");
    if (state == v1::RUN_STATE_HELD) {
      // The roster is not told: the import keeps its held removals, approvable there.
      const std::string& import_id = rec.run.import_summary().import_id();
      absl::StrAppend(&detail, "; the held removals were not applied; they stay on import ",
                      import_id, " and are applied only if someone approves that import (",
                      "rosterctl imports approve ", import_id, ")");
    }
    absl::StrAppend(&detail, expired_claim);
    RETURN_IF_ERROR(RunStore::AppendStep(txn, run_id, v1::RUN_STATE_CANCELLED, detail, now,
                                         job_id, std::max(1, rec.run.attempt())));
    effects.finished = rec.run;
    out = rec.run;
    return absl::OkStatus();
  }));
  if (effects.finished.has_value()) {
    log::Info("run cancelled", {{"run_id", run_id},
                                {"tenant", tenant_id},
                                {"by", requested_by},
                                {"reason", reason},
                                {"dropped_jobs", absl::StrCat(dropped)}});
  }
  Report(effects);
  return out;
}

absl::StatusOr<RunRecord> RunOrchestrator::ClaimApproval(const std::string& tenant_id,
                                                         const std::string& run_id,
                                                         const std::string& approved_by,
                                                         absl::Duration approval_lease,
                                                         bool* already_approved) {
  if (tenant_id.empty()) return absl::InvalidArgumentError("tenant_id: is required");
  if (run_id.empty()) return absl::InvalidArgumentError("run_id: is required");
  RunRecord out;
  std::optional<RunRecord> took_over;  // an expired claim replaced
  RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    *already_approved = false;
    took_over.reset();
    ASSIGN_OR_RETURN(RunRecord rec, RunStore::Get(txn, tenant_id, run_id, /*for_update=*/true));
    const v1::Run& run = rec.run;
    if (run.state() == v1::RUN_STATE_SUCCEEDED && run.has_approved_at()) {
      *already_approved = true;
      out = std::move(rec);
      return absl::OkStatus();
    }
    if (run.state() != v1::RUN_STATE_HELD) {
      return absl::FailedPreconditionError(absl::StrCat(
          "run ", run_id, " is ", StateName(run.state()),
          "; only a HELD run (an import whose removals wait for approval) can be approved"));
    }
    if (run.import_summary().import_id().empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("run ", run_id, " is HELD but records no import id to approve"));
    }
    const absl::Time now = clock_->Now();
    if (ClaimFresh(rec, now, approval_lease)) return ApprovalInProgress(rec, approval_lease);
    if (rec.approval_started_at.has_value()) took_over = rec;
    rec.approval_started_at = now;
    rec.approval_by = approved_by;
    RETURN_IF_ERROR(RunStore::Update(txn, rec));
    out = std::move(rec);
    return absl::OkStatus();
  }));
  if (took_over.has_value()) {
    log::Warn("expired approval claim taken over (ApproveDeletions is idempotent on the roster)",
              {{"run_id", run_id},
               {"tenant", tenant_id},
               {"claimed_by", took_over->approval_by},
               {"claimed_at", FormatUtc(*took_over->approval_started_at)},
               {"approved_by", approved_by}});
  }
  return out;
}

absl::Status RunOrchestrator::ReleaseApproval(const std::string& tenant_id,
                                              const std::string& run_id, absl::Time claimed_at) {
  return pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    ASSIGN_OR_RETURN(RunRecord rec, RunStore::Get(txn, tenant_id, run_id, /*for_update=*/true));
    if (!rec.approval_started_at.has_value() ||
        absl::ToUnixMicros(*rec.approval_started_at) != absl::ToUnixMicros(claimed_at)) {
      return absl::OkStatus();  // not our claim any more (it expired and was taken over)
    }
    rec.approval_started_at.reset();
    rec.approval_by.clear();
    return RunStore::Update(txn, rec);
  });
}

absl::StatusOr<v1::Run> RunOrchestrator::CompleteApproval(const std::string& tenant_id,
                                                          const std::string& run_id,
                                                          const v1::ImportSummary& approval,
                                                          const std::string& approved_by) {
  Effects effects;
  v1::Run out;
  std::string late_detail;
  absl::Status not_held;
  RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    effects = Effects();
    late_detail.clear();
    not_held = absl::OkStatus();
    ASSIGN_OR_RETURN(RunRecord rec, RunStore::Get(txn, tenant_id, run_id, /*for_update=*/true));
    if (rec.run.state() == v1::RUN_STATE_SUCCEEDED && rec.run.has_approved_at()) {
      out = rec.run;  // approved before (e.g. an expired claim taken over)
      return absl::OkStatus();
    }
    const absl::Time now = clock_->Now();
    const std::string who = approved_by.empty() ? "an unnamed operator" : approved_by;
    if (rec.run.state() != v1::RUN_STATE_HELD) {
      // Only after the claim expired (the approval outlived the roster timeout) could a cancel
      // have got in. The roster applied the removals: the run's history must say so.
      const std::string detail = absl::StrCat(
          "held removals of import ", approval.import_id(), " were applied by the roster ",
          "(approval by ", who, ") after the run was ", StateName(rec.run.state()), ": ",
          approval.deleted(), " deleted, ", approval.deactivated(), " deactivated in total");
      ASSIGN_OR_RETURN(bool appended,
                       RunStore::AppendEventStep(txn, run_id, rec.run.state(), detail, now, "",
                                                 absl::StrCat("approval:", approval.import_id())));
      if (appended) {
        late_detail = detail;
        effects.late_event_type = "approved";
      }
      not_held = absl::FailedPreconditionError(
          absl::StrCat("run ", run_id, " is ", StateName(rec.run.state()),
                       ", no longer HELD; the roster applied the approval of import ",
                       approval.import_id(), " but the run was not changed (a step records it)"));
      return absl::OkStatus();  // commit the step
    }
    *rec.run.mutable_import_summary() = approval;
    rec.run.set_approved_by(approved_by);
    *rec.run.mutable_approved_at() = ToProtoTime(now);
    rec.approval_started_at.reset();
    rec.approval_by.clear();
    Finish(rec, v1::RUN_STATE_SUCCEEDED, now);
    RETURN_IF_ERROR(RunStore::Update(txn, rec));
    RETURN_IF_ERROR(RunStore::AppendStep(
        txn, run_id, v1::RUN_STATE_SUCCEEDED,
        absl::StrCat("held removals of import ", approval.import_id(), " approved by ", who,
                     ": ", approval.deleted(), " deleted, ", approval.deactivated(),
                     " deactivated in total; ", SummaryText(approval)),
        now));
    effects.finished = rec.run;
    out = rec.run;
    return absl::OkStatus();
  }));
  if (!late_detail.empty()) {
    log::Warn("held removals applied after the run had ended: recorded as a step",
              {{"run_id", run_id}, {"tenant", tenant_id}, {"detail", late_detail}});
  }
  Report(effects);
  if (!not_held.ok()) return not_held;
  return out;
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
      // Misfire catch-up, blackout windows and next_run_at: schedule_ticker.h.
      ASSIGN_OR_RETURN(std::optional<absl::Time> due_slot,
                       ScheduleDueSlot(txn, s, *cron, zone, now));
      if (!due_slot.has_value()) continue;
      ASSIGN_OR_RETURN(std::optional<v1::Run> run,
                       StartRunInTxn(txn, s, v1::RUN_TRIGGER_SCHEDULE, *due_slot));
      if (run.has_value()) {
        ++created;
        started_runs.push_back(*run);
      }
    }
    return absl::OkStatus();
  }));
  for (const v1::Run& run : started_runs) {
    if (metrics_ != nullptr) {
      metrics_->RunStarted(run.direction(), run.trigger(),
                           FromProtoTime(run.created_at()) - FromProtoTime(run.scheduled_for()));
    }
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

namespace rostersync::scheduler {

DeadLetterConsumer::DeadLetterConsumer(RunOrchestrator* orchestrator, RedisOptions redis,
                                       std::string job_stream, std::string consumer_name)
    : orchestrator_(orchestrator),
      job_stream_(std::move(job_stream)),
      dead_stream_(job_stream_ + ":dead"),
      conn_(redis),
      consumer_(redis,
                ConsumerOptions{.stream = dead_stream_,
                                .group = "scheduler",
                                .consumer = std::move(consumer_name)},
                [this](const Delivery& d) { return Handle(d); }) {}

absl::Status DeadLetterConsumer::Handle(const Delivery& delivery) {
  // StreamConsumer put the reason in a field of its own next to "msg".
  std::string reason;
  auto entry = conn_.Command({"XRANGE", dead_stream_, delivery.id, delivery.id});
  if (!entry.ok()) return entry.status();  // Redis trouble: leave it pending, retry
  if (!entry->elements.empty() && entry->elements[0].elements.size() == 2) {
    const auto& fields = entry->elements[0].elements[1].elements;
    for (size_t i = 0; i + 1 < fields.size(); i += 2) {
      if (fields[i].str == "reason") reason = fields[i + 1].str;
    }
  }
  return orchestrator_->HandleDeadLetter(job_stream_, delivery.payload, reason);
}

}  // namespace rostersync::scheduler
