#include "services/roster/roster_worker.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/queue_codec.h"
#include "common/status_macros.h"
#include "common/time_util.h"

namespace rostersync::roster {
namespace {

bool IsTransient(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsAborted(s) || absl::IsDeadlineExceeded(s) ||
         absl::IsResourceExhausted(s);
}

// Records a permanent import failure in the import history under the job's id (status
// FAILED), like every other outcome, so that a redelivery of the job (crash before the ack, a
// racing reclaim) replays this failure instead of importing after the run was reported FAILED.
// When an outcome is already on record for the job (a concurrent delivery), returns that one.
absl::StatusOr<v1::ImportSummary> RecordFailedImport(RosterStore& store,
                                                     const v1::RosterJob& job,
                                                     const absl::Status& error) {
  v1::ImportSummary summary;
  summary.set_tenant_id(job.tenant_id());
  summary.set_import_id(NewId("imp"));
  summary.set_integration_id(job.integration_id());
  summary.set_run_id(job.run_id());
  summary.set_job_id(job.job_id());
  summary.set_source_file_id(job.file_id());
  summary.set_source("sftp");
  summary.set_status(v1::IMPORT_STATUS_FAILED);
  summary.set_message(std::string(error.message()));
  *summary.mutable_started_at() = ToProtoTime(absl::Now());
  *summary.mutable_finished_at() = summary.started_at();
  absl::Status s =
      store.pool().Transact([&](pqxx::work& txn) { return RosterStore::InsertImport(txn, summary); });
  if (absl::IsAlreadyExists(s)) {
    ASSIGN_OR_RETURN(auto existing, store.FindImportByJob(job.tenant_id(), job.job_id()));
    if (existing) return *existing;
  }
  RETURN_IF_ERROR(s);
  return summary;
}

}  // namespace

absl::Status RosterWorker::Handle(const Delivery& delivery) {
  absl::StatusOr<v1::RosterJob> job = DecodeQueueMessage<v1::RosterJob>(delivery.payload);
  if (!job.ok()) {
    // Nothing to report to: without ids no run can be told. Ack so it does not loop.
    log::Error("dropping malformed roster job",
               {{"entry", delivery.id}, {"error", std::string(job.status().message())}});
    return absl::OkStatus();
  }
  return HandleJob(*job);
}

absl::Status RosterWorker::Publish(const v1::RosterJob& job, v1::RunEvent event) {
  event.set_event_id(absl::StrCat(job.job_id(), ":", v1::RunEvent::Type_Name(event.type())));
  event.set_job_id(job.job_id());
  event.set_tenant_id(job.tenant_id());
  event.set_run_id(job.run_id());
  *event.mutable_at() = ToProtoTime(absl::Now());
  absl::StatusOr<std::string> id = publisher_.Publish(kEventsStream, EncodeQueueMessage(event));
  return id.status();
}

absl::Status RosterWorker::Fail(const v1::RosterJob& job, const absl::Status& error) {
  if (IsTransient(error)) {
    log::Warn("roster job failed transiently; will be redelivered",
              {{"tenant", job.tenant_id()},
               {"run_id", job.run_id()},
               {"job_id", job.job_id()},
               {"error", std::string(error.message())}});
    return error;
  }
  log::Error("roster job failed", {{"tenant", job.tenant_id()},
                                   {"run_id", job.run_id()},
                                   {"job_id", job.job_id()},
                                   {"error", std::string(error.message())}});
  v1::RunEvent event;
  event.set_type(v1::RunEvent::TYPE_FAILED);
  event.set_error(std::string(error.message()));
  return Publish(job, std::move(event));
}

absl::Status RosterWorker::HandleJob(const v1::RosterJob& job) {
  switch (job.op()) {
    case v1::RosterJob::OP_IMPORT: {
      absl::StatusOr<ImportOutcome> outcome = importer_.Import(job);
      if (!outcome.ok()) {
        if (IsTransient(outcome.status()) || job.tenant_id().empty() || job.job_id().empty()) {
          return Fail(job, outcome.status());
        }
        // Permanent: on record first, so every delivery of this job publishes the same event.
        absl::StatusOr<v1::ImportSummary> recorded =
            RecordFailedImport(importer_.store(), job, outcome.status());
        if (!recorded.ok()) {
          return Fail(job, IsTransient(recorded.status()) ? recorded.status() : outcome.status());
        }
        log::Error("roster import failed", {{"tenant", job.tenant_id()},
                                            {"run_id", job.run_id()},
                                            {"job_id", job.job_id()},
                                            {"error", recorded->message()}});
        outcome = ImportOutcome{*std::move(recorded), false, "", ""};
      }
      v1::RunEvent event;
      const v1::ImportSummary& s = outcome->summary;
      // HELD: adds and updates applied, removals wait for ApproveDeletions (held_reason).
      if (s.status() == v1::IMPORT_STATUS_APPLIED || s.status() == v1::IMPORT_STATUS_HELD) {
        event.set_type(v1::RunEvent::TYPE_IMPORTED);
      } else if (s.status() == v1::IMPORT_STATUS_FAILED) {
        event.set_type(v1::RunEvent::TYPE_FAILED);
        event.set_error(s.message());
      } else {
        event.set_type(v1::RunEvent::TYPE_IMPORT_REJECTED);
        event.set_error(s.message());
      }
      *event.mutable_import() = s;
      return Publish(job, std::move(event));
    }
    case v1::RosterJob::OP_EXPORT: {
      absl::StatusOr<std::string> file_id = exporter_.Export(job);
      if (!file_id.ok()) return Fail(job, file_id.status());
      v1::RunEvent event;
      event.set_type(v1::RunEvent::TYPE_RENDERED);
      event.set_file_id(*file_id);
      return Publish(job, std::move(event));
    }
    default:
      return Fail(
          job, absl::InvalidArgumentError(absl::StrCat("roster job ", job.job_id(), ": unknown op ",
                                                       static_cast<int>(job.op()))));
  }
}

}  // namespace rostersync::roster
