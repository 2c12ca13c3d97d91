#include "services/roster/restorer.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/time_util.h"
#include "services/roster/csv_reader.h"
#include "services/roster/person_validation.h"
#include "services/roster/roster_csv.h"
#include "services/roster/roster_metrics.h"
#include "services/roster/staging_table.h"

namespace rostersync::roster {
namespace {


std::string FileLabel(const v1::FileInfo& info, const std::string& file_id) {
  if (info.name().empty()) return absl::StrCat("backup file ", file_id);
  return absl::StrCat("backup file \"", info.name(), "\" (", file_id, ")");
}

// Streams a snapshot file from the archive into `stage`. Problems with the content are
// INVALID_ARGUMENT naming the file and line.
absl::Status LoadSnapshot(Archive& archive, const std::string& tenant_id,
                          const std::string& file_id, const std::string& label,
                          StagingWriter& stage) {
  CsvReader reader;
  std::vector<CsvRecord> records;
  bool header_seen = false;
  absl::Status content;  // the first problem with the file's content
  auto process = [&]() -> absl::Status {
    for (const CsvRecord& record : records) {
      if (!header_seen) {
        header_seen = true;
        if (absl::Status s = CheckSnapshotHeader(record.fields); !s.ok()) {
          content = absl::InvalidArgumentError(absl::StrCat(label, ": ", s.message()));
          break;
        }
        continue;
      }
      absl::StatusOr<v1::Person> person = ParseSnapshotRecord(record, tenant_id);
      if (!person.ok()) {
        content = absl::InvalidArgumentError(absl::StrCat(label, ": ", person.status().message()));
        break;
      }
      // Nothing kept from the current roster: the backup's row is the person, exactly.
      if (absl::Status s = stage.Add(*person, record.line, StagedKeep{}); !s.ok()) {
        records.clear();
        return s;
      }
    }
    records.clear();
    if (!content.ok()) return absl::CancelledError("restore: stop reading");
    return absl::OkStatus();
  };
  absl::StatusOr<v1::FileInfo> read =
      archive.Read(tenant_id, file_id, [&](std::string_view chunk) -> absl::Status {
        if (absl::Status s = reader.Feed(chunk, &records); !s.ok()) {
          content = absl::InvalidArgumentError(absl::StrCat(label, ": ", s.message()));
          return absl::CancelledError("restore: stop reading");
        }
        return process();
      });
  if (!content.ok()) return content;
  if (!read.ok()) {
    return absl::Status(read.status().code(),
                        absl::StrCat(label, ": cannot read: ", read.status().message()));
  }
  if (absl::Status s = reader.Finish(&records); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(label, ": ", s.message()));
  }
  RETURN_IF_ERROR(process());
  if (!content.ok()) return content;
  if (!header_seen) {
    return absl::InvalidArgumentError(absl::StrCat(label, ": empty, not a roster snapshot"));
  }
  return absl::OkStatus();
}

// The same person_id twice in the backup (a snapshot never has it; a damaged one might).
absl::Status CheckDistinct(pqxx::work& txn, const std::string& label) {
  try {
    pqxx::result r = txn.exec(
        "SELECT person_id, min(line), max(line) FROM roster_staging WHERE valid "
        "GROUP BY person_id HAVING count(*) > 1 ORDER BY min(line) LIMIT 1");
    if (r.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(
        label, ": line ", r[0][1].as<int64_t>(), " and line ", r[0][2].as<int64_t>(),
        ": the same person_id \"", CapValue(r[0][0].as<std::string>()), "\""));
  } catch (const std::exception& e) {
    return StatusFromPqxx(e);
  }
}

}  // namespace

absl::StatusOr<v1::FileInfo> WriteRosterSnapshot(pqxx::work& txn, Archive& archive,
                                                 const v1::PutFileHeader& header) {
  ASSIGN_OR_RETURN(std::unique_ptr<ArchiveWriter> writer, archive.OpenWriter(header));
  RETURN_IF_ERROR(StreamSnapshot(txn, header.tenant_id(),
                                 [&](std::string_view bytes) { return writer->Write(bytes); }));
  return writer->Finish();
}

absl::StatusOr<v1::ImportSummary> Restorer::Restore(const v1::RestoreBackupRequest& request) {
  const std::string& tenant = request.tenant_id();
  const std::string& file_id = request.backup_file_id();
  if (tenant.empty()) return absl::InvalidArgumentError("tenant_id is required");
  if (file_id.empty()) return absl::InvalidArgumentError("backup_file_id is required");
  if (request.examples_per_kind() < 0) {
    return absl::InvalidArgumentError("examples_per_kind: must not be negative");
  }
  const int examples = request.examples_per_kind() == 0
                           ? kDefaultExamplesPerKind
                           : std::min(request.examples_per_kind(), kMaxExamplesPerKind);

  absl::StatusOr<v1::FileInfo> info = archive_.Stat(tenant, file_id);
  if (!info.ok()) {
    return absl::Status(info.status().code(),
                        absl::StrCat("backup file ", file_id, ": ", info.status().message()));
  }
  const std::string label = FileLabel(*info, file_id);
  if (info->kind() != v1::FILE_KIND_BACKUP) {
    return absl::InvalidArgumentError(absl::StrCat(
        label, " is a ", v1::FileKind_Name(info->kind()), " file, not a FILE_KIND_BACKUP; only a "
        "roster backup can be restored"));
  }

  v1::ImportSummary summary;
  summary.set_tenant_id(tenant);
  summary.set_import_id(NewId("imp"));
  summary.set_job_id(absl::StrCat("restore:", summary.import_id()));
  summary.set_source_file_id(file_id);
  summary.set_source("restore");
  *summary.mutable_started_at() = ToProtoTime(absl::Now());

  absl::Status s = store_.pool().Transact([&](pqxx::work& txn) -> absl::Status {
    // The backup is staged before the lock is taken (reading it needs no lock).
    ASSIGN_OR_RETURN(StagingTable staging, StagingTable::Create(txn, tenant));
    {
      ASSIGN_OR_RETURN(std::unique_ptr<StagingWriter> writer, staging.OpenWriter());
      RETURN_IF_ERROR(LoadSnapshot(archive_, tenant, file_id, label, *writer));
      RETURN_IF_ERROR(writer->Finish());
    }
    if (!request.preview()) RETURN_IF_ERROR(RosterStore::LockTenant(txn, tenant));
    DiffSpec spec;
    spec.mode = ApplyMode::kExact;
    spec.replace_attributes = true;
    RETURN_IF_ERROR(staging.ComputeDiff(spec));
    RETURN_IF_ERROR(CheckDistinct(txn, label));
    ASSIGN_OR_RETURN(std::vector<v1::RowError> conflicts,
                     staging.SeatConflicts(/*removals_held=*/false, 1));
    if (!conflicts.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(label, ": line ", conflicts[0].line(), ": ",
                                                     conflicts[0].reason()));
    }
    ASSIGN_OR_RETURN(DiffCounts counts, staging.Counts());
    summary.set_rows_read(counts.added + counts.updated + counts.unchanged);
    summary.set_added(counts.added);
    summary.set_updated(counts.updated);
    summary.set_deleted(counts.deleted);
    summary.set_unchanged(counts.unchanged);
    if (request.preview()) {
      ASSIGN_OR_RETURN(std::vector<v1::PersonChange> changes,
                       staging.Examples(examples));
      for (v1::PersonChange& c : changes) *summary.add_examples() = std::move(c);
      summary.set_status(v1::IMPORT_STATUS_PREVIEW);
      *summary.mutable_finished_at() = ToProtoTime(absl::Now());
      return absl::OkStatus();  // nothing changed; the stage goes with the transaction
    }
    // No backup, no restore: the current roster is snapshotted under the lock first.
    v1::PutFileHeader header;
    header.set_tenant_id(tenant);
    header.set_kind(v1::FILE_KIND_BACKUP);
    header.set_name(absl::StrCat("roster_backup_pre_restore_", summary.import_id(), ".csv"));
    header.set_content_type("text/csv");
    (*header.mutable_labels())["reason"] = "pre-restore";
    (*header.mutable_labels())["import_id"] = summary.import_id();
    (*header.mutable_labels())["restored_file_id"] = file_id;
    absl::StatusOr<v1::FileInfo> backup = WriteRosterSnapshot(txn, archive_, header);
    if (!backup.ok()) {
      return absl::Status(
          backup.status().code(),
          absl::StrCat("pre-restore backup failed, nothing applied: ", backup.status().message()));
    }
    summary.set_backup_file_id(backup->file_id());
    RETURN_IF_ERROR(staging.Apply(ApplyOptions{}));
    summary.set_status(v1::IMPORT_STATUS_APPLIED);
    summary.set_message(absl::StrCat("restored ", label));
    *summary.mutable_finished_at() = ToProtoTime(absl::Now());
    return RosterStore::InsertImport(txn, summary);
  });
  if (!s.ok()) {
    if (!request.preview()) {
      log::Error("restore failed, nothing applied", {{"tenant", tenant},
                                                      {"backup_file_id", file_id},
                                                      {"error", std::string(s.message())}});
    }
    return s;
  }
  if (!request.preview()) {
    log::Info("restore applied", {{"tenant", tenant},
                                  {"import_id", summary.import_id()},
                                  {"restored_file_id", file_id},
                                  {"backup_file_id", summary.backup_file_id()},
                                  {"added", std::to_string(summary.added())},
                                  {"updated", std::to_string(summary.updated())},
                                  {"deleted", std::to_string(summary.deleted())}});
    RecordImportMetrics(summary);
  }
  return summary;
}

}  // namespace rostersync::roster
