#include "services/roster/importer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/time_util.h"
#include "services/roster/csv_reader.h"
#include "services/roster/field_mapping.h"
#include "services/roster/roster_csv.h"
#include "services/roster/roster_metrics.h"

namespace rostersync::roster {
namespace {

// Internal marker: the sink stops the transfer early because the file is already refused.
constexpr char kStopReading[] = "roster import: file refused, stop reading";

std::string DescribeError(const v1::RowError& e) {
  return absl::StrCat("line ", e.line(), e.column().empty() ? "" : ", column \"", e.column(),
                      e.column().empty() ? "" : "\"", ": ", e.reason());
}

}  // namespace

absl::StatusOr<ParsedFile> ReadRosterFile(Archive& archive, const std::string& tenant_id,
                                          const std::string& file_id,
                                          const std::map<std::string, std::string>& header_map) {
  ParsedFile parsed;
  ASSIGN_OR_RETURN(parsed.info, archive.Stat(tenant_id, file_id));
  const std::string& name = parsed.info.name().empty() ? file_id : parsed.info.name();
  if (parsed.info.kind() != v1::FILE_KIND_SOURCE) {
    parsed.rejection = absl::StrCat("file \"", name, "\" (", file_id, ") is not a SOURCE file");
    return parsed;
  }

  CsvReader reader;
  std::optional<FieldMapping> mapping;
  std::optional<RowValidator> validator;
  std::vector<CsvRecord> records;
  std::vector<v1::RowError> row_errors;

  auto process = [&]() -> absl::Status {
    for (CsvRecord& record : records) {
      if (!mapping) {
        absl::StatusOr<FieldMapping> m = FieldMapping::Create(header_map, record.fields, name);
        if (!m.ok()) {
          parsed.rejection = std::string(m.status().message());
          return absl::CancelledError(kStopReading);
        }
        mapping.emplace(*std::move(m));
        validator.emplace(*mapping);
        continue;
      }
      ++parsed.rows_read;
      row_errors.clear();
      std::optional<PersonRow> row = validator->Validate(record, &row_errors);
      if (row) {
        parsed.rows.push_back(*std::move(row));
      } else {
        ++parsed.rejected_rows;
        for (v1::RowError& e : row_errors) {
          if (parsed.errors.size() < kMaxStoredRowErrors) parsed.errors.push_back(std::move(e));
        }
      }
    }
    records.clear();
    return absl::OkStatus();
  };
  auto parse_failed = [&](const absl::Status& s) {
    parsed.rejection = absl::StrCat("file \"", name, "\": ", s.message());
    return absl::CancelledError(kStopReading);
  };

  absl::StatusOr<v1::FileInfo> read =
      archive.Read(tenant_id, file_id, [&](std::string_view chunk) -> absl::Status {
        if (absl::Status s = reader.Feed(chunk, &records); !s.ok()) return parse_failed(s);
        return process();
      });
  if (!parsed.rejection.empty()) {
    parsed.rows.clear();
    return parsed;  // refused while reading; the transfer was cut short on purpose
  }
  if (!read.ok()) return read.status();
  if (absl::Status s = reader.Finish(&records); !s.ok()) {
    (void)parse_failed(s);
    parsed.rows.clear();
    return parsed;
  }
  (void)process();
  if (!parsed.rejection.empty()) return parsed;
  if (!mapping) {
    parsed.rejection = absl::StrCat("file \"", name, "\" is empty: no header row");
    return parsed;
  }
  if (parsed.rejected_rows > 0) {
    parsed.rejection =
        absl::StrCat("file \"", name, "\": ", parsed.rejected_rows, " of ", parsed.rows_read,
                     " rows are invalid; first: ", DescribeError(parsed.errors.front()));
    parsed.rows.clear();
  }
  return parsed;
}

absl::StatusOr<v1::FileInfo> WriteSnapshot(Archive& archive, const v1::RosterJob& job,
                                           const std::vector<v1::Person>& people) {
  v1::PutFileHeader header;
  header.set_tenant_id(job.tenant_id());
  header.set_kind(v1::FILE_KIND_BACKUP);
  header.set_name(absl::StrCat("roster_backup_", job.run_id(), ".csv"));
  header.set_run_id(job.run_id());
  header.set_integration_id(job.integration_id());
  header.set_content_type("text/csv");
  (*header.mutable_labels())["job_id"] = job.job_id();
  (*header.mutable_labels())["reason"] = "pre-import";
  (*header.mutable_labels())["source_file_id"] = job.file_id();
  ASSIGN_OR_RETURN(std::unique_ptr<ArchiveWriter> writer, archive.OpenWriter(header));
  RETURN_IF_ERROR(
      RenderSnapshot(people, [&](std::string_view bytes) { return writer->Write(bytes); }));
  return writer->Finish();
}

absl::StatusOr<ImportOutcome> Importer::RecordRejection(v1::ImportSummary summary) {
  summary.set_status(v1::IMPORT_STATUS_REJECTED);
  *summary.mutable_finished_at() = ToProtoTime(absl::Now());
  absl::Status s = store_.pool().Transact(
      [&](pqxx::work& txn) { return RosterStore::InsertImport(txn, summary); });
  if (absl::IsAlreadyExists(s)) {
    // A concurrent delivery of the same job recorded it first.
    ASSIGN_OR_RETURN(auto existing, store_.FindImportByJob(summary.tenant_id(), summary.job_id()));
    if (existing) return ImportOutcome{*existing, true};
  }
  RETURN_IF_ERROR(s);
  log::Warn("import rejected", {{"tenant", summary.tenant_id()},
                                {"run_id", summary.run_id()},
                                {"import_id", summary.import_id()},
                                {"reason", summary.message()}});
  RecordImportMetrics(summary);
  return ImportOutcome{std::move(summary), false};
}

absl::StatusOr<ImportOutcome> Importer::Import(const v1::RosterJob& job) {
  const std::string& tenant = job.tenant_id();
  if (tenant.empty() || job.job_id().empty()) {
    return absl::InvalidArgumentError("roster job: tenant_id and job_id are required");
  }
  ASSIGN_OR_RETURN(auto existing, store_.FindImportByJob(tenant, job.job_id()));
  if (existing) return ImportOutcome{*existing, true};

  v1::ImportSummary summary;
  summary.set_tenant_id(tenant);
  summary.set_import_id(NewId("imp"));
  summary.set_integration_id(job.integration_id());
  summary.set_run_id(job.run_id());
  summary.set_job_id(job.job_id());
  summary.set_source_file_id(job.file_id());
  *summary.mutable_started_at() = ToProtoTime(absl::Now());

  if (job.file_id().empty()) {
    summary.set_message("roster job: file_id is required for OP_IMPORT");
    return RecordRejection(std::move(summary));
  }
  std::map<std::string, std::string> header_map(job.header_map().begin(), job.header_map().end());
  absl::StatusOr<ParsedFile> parsed = ReadRosterFile(archive_, tenant, job.file_id(), header_map);
  if (!parsed.ok()) {
    if (absl::IsNotFound(parsed.status())) {
      summary.set_message(
          absl::StrCat("source file ", job.file_id(), ": ", parsed.status().message()));
      return RecordRejection(std::move(summary));
    }
    return parsed.status();  // nothing read, nothing applied
  }
  summary.set_rows_read(parsed->rows_read);
  summary.set_rejected_rows(parsed->rejected_rows);
  for (const v1::RowError& e : parsed->errors) *summary.add_errors() = e;
  if (!parsed->rejection.empty()) {
    summary.set_message(parsed->rejection);
    return RecordRejection(std::move(summary));
  }

  ImportOutcome outcome;
  bool rejected = false;
  absl::Status s = store_.pool().Transact([&](pqxx::work& txn) -> absl::Status {
    RETURN_IF_ERROR(RosterStore::LockTenant(txn, tenant));
    ASSIGN_OR_RETURN(auto done, RosterStore::FindImportByJob(txn, tenant, job.job_id()));
    if (done) {
      outcome = ImportOutcome{*done, true};
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(std::vector<v1::Person> current, RosterStore::LoadPeople(txn, tenant));
    RosterDiff diff = ComputeDiff(current, parsed->rows, job.sync_policy(), job.integration_id());
    if (!diff.errors.empty()) {
      std::sort(diff.errors.begin(), diff.errors.end(),
                [](const v1::RowError& a, const v1::RowError& b) { return a.line() < b.line(); });
      summary.set_rejected_rows(static_cast<int64_t>(diff.errors.size()));
      for (size_t i = 0; i < diff.errors.size() && i < kMaxStoredRowErrors; ++i) {
        *summary.add_errors() = diff.errors[i];
      }
      summary.set_message(
          absl::StrCat("file \"", parsed->info.name(), "\": ", diff.errors.size(),
                       " rows are invalid; first: ", DescribeError(diff.errors.front())));
      rejected = true;
      return absl::OkStatus();  // nothing applied; recorded below
    }
    // No backup, no import: the snapshot is taken under the lock, before anything changes.
    absl::StatusOr<v1::FileInfo> backup = WriteSnapshot(archive_, job, current);
    if (!backup.ok()) {
      return absl::Status(
          backup.status().code(),
          absl::StrCat("pre-import backup failed, nothing applied: ", backup.status().message()));
    }
    RETURN_IF_ERROR(RosterStore::ApplyDiff(txn, tenant, diff));
    summary.set_backup_file_id(backup->file_id());
    summary.set_status(v1::IMPORT_STATUS_APPLIED);
    summary.set_added(static_cast<int64_t>(diff.added.size()));
    summary.set_updated(static_cast<int64_t>(diff.updated.size()));
    summary.set_deleted(static_cast<int64_t>(diff.deleted.size()));
    summary.set_deactivated(static_cast<int64_t>(diff.deactivated.size()));
    summary.set_unchanged(diff.unchanged);
    *summary.mutable_finished_at() = ToProtoTime(absl::Now());
    RETURN_IF_ERROR(RosterStore::InsertImport(txn, summary));
    outcome = ImportOutcome{summary, false};
    return absl::OkStatus();
  });
  if (!s.ok()) {
    log::Error("import failed, nothing applied",
               {{"tenant", tenant}, {"run_id", job.run_id()}, {"error", std::string(s.message())}});
    RecordImportFailure();
    return s;
  }
  if (rejected) return RecordRejection(std::move(summary));
  if (!outcome.replayed) {
    log::Info("import applied", {{"tenant", tenant},
                                 {"run_id", job.run_id()},
                                 {"import_id", summary.import_id()},
                                 {"backup_file_id", summary.backup_file_id()},
                                 {"added", std::to_string(summary.added())},
                                 {"updated", std::to_string(summary.updated())},
                                 {"deleted", std::to_string(summary.deleted())},
                                 {"deactivated", std::to_string(summary.deactivated())}});
    RecordImportMetrics(outcome.summary);
  }
  return outcome;
}

}  // namespace rostersync::roster
