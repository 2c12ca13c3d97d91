#include "services/roster/importer.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <iterator>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/time_util.h"
#include "services/roster/ascii_text.h"
#include "services/roster/csv_text_reader.h"
#include "services/roster/error_report.h"
#include "services/roster/field_mapping.h"
#include "services/roster/roster_csv.h"
#include "services/roster/roster_metrics.h"
#include "services/roster/staging_table.h"

namespace rostersync::roster {
namespace {

// Internal marker: the sink stops the transfer early because the file is already refused.
constexpr char kStopReading[] = "roster import: file refused, stop reading";

std::string DescribeError(const v1::RowError& e) {
  return absl::StrCat("line ", e.line(), e.column().empty() ? "" : ", column \"", e.column(),
                      e.column().empty() ? "" : "\"", ": ", e.reason());
}

// The key of a record the validator refused, when one can be read: person_id, else the
// lowercased email (the validator's rule); and its seat.
InvalidRow KeyOf(const FieldMapping& mapping, const CsvRecord& record) {
  auto value = [&](Field f) -> std::string {
    int c = mapping.column(f);
    if (c < 0 || c >= static_cast<int>(record.fields.size())) return "";
    return std::string(Trim(record.fields[c]));
  };
  InvalidRow row;
  row.line = record.line;
  std::string id = value(Field::kPersonId);
  row.key_from_email = id.empty();
  row.key = id.empty() ? ToLower(value(Field::kEmail)) : id;
  row.seat = value(Field::kSeat);
  return row;
}

// Merges row errors found after the scan (within-file duplicates) into the first
// kMaxStoredRowErrors kept, in line order.
void MergeErrors(std::vector<v1::RowError> more, std::vector<v1::RowError>* errors) {
  errors->insert(errors->end(), std::make_move_iterator(more.begin()),
                 std::make_move_iterator(more.end()));
  std::stable_sort(errors->begin(), errors->end(),
                   [](const v1::RowError& a, const v1::RowError& b) { return a.line() < b.line(); });
  if (errors->size() > kMaxStoredRowErrors) errors->resize(kMaxStoredRowErrors);
}

// An ERROR_REPORT file opened on the first error and streamed to the archive.
class LazyErrorReport {
 public:
  LazyErrorReport(Archive& archive, v1::PutFileHeader header)
      : archive_(archive), header_(std::move(header)) {}

  absl::Status Add(const v1::RowError& e) {
    if (!report_) {
      ASSIGN_OR_RETURN(writer_, archive_.OpenWriter(header_));
      report_.emplace([this](std::string_view bytes) { return writer_->Write(bytes); });
    }
    return report_->Add(e);
  }
  // "" when there was no error.
  absl::StatusOr<std::string> Finish() {
    if (!report_) return std::string();
    RETURN_IF_ERROR(report_->Finish());
    ASSIGN_OR_RETURN(v1::FileInfo info, writer_->Finish());
    return info.file_id();
  }

 private:
  Archive& archive_;
  v1::PutFileHeader header_;
  std::unique_ptr<ArchiveWriter> writer_;
  std::optional<ErrorReportWriter> report_;
};

v1::PutFileHeader FileHeader(const ImportRequest& r, v1::FileKind kind, const std::string& name,
                             const std::string& reason) {
  v1::PutFileHeader h;
  h.set_tenant_id(r.tenant_id);
  h.set_kind(kind);
  h.set_name(name);
  h.set_run_id(r.run_id);
  h.set_integration_id(r.integration_id);
  h.set_content_type("text/csv");
  (*h.mutable_labels())["job_id"] = r.job_id;
  (*h.mutable_labels())["reason"] = reason;
  (*h.mutable_labels())["source_file_id"] = r.file_id;
  return h;
}

// The pre-import BACKUP snapshot, streamed on a second connection while the importing
// transaction computes the diff (a large roster's snapshot and diff then share the time
// instead of adding up). The second transaction (REPEATABLE READ, read only) imports the
// snapshot the importing transaction exported under the tenant lock, so it reads exactly the
// roster the diff compares against and the apply changes. Wait() before applying anything;
// destroying it without Wait() (a rejection, an error) stops the stream and abandons the file:
// its archive writer is cancelled, never finished. Declare it after the importing
// transaction, so that the thread has ended before that transaction does.
class BackgroundSnapshot {
 public:
  BackgroundSnapshot(PgPool& pool, Archive& archive, v1::PutFileHeader header,
                     std::string snapshot_id)
      : pool_(pool),
        archive_(archive),
        header_(std::move(header)),
        snapshot_id_(std::move(snapshot_id)) {
    thread_ = std::thread([this] { result_ = Run(); });
  }
  BackgroundSnapshot(const BackgroundSnapshot&) = delete;
  BackgroundSnapshot& operator=(const BackgroundSnapshot&) = delete;
  ~BackgroundSnapshot() {
    Decide(/*keep=*/false);
    if (thread_.joinable()) thread_.join();
  }

  // The snapshot file, finished only now: an import that ends without calling this leaves no
  // backup behind.
  absl::StatusOr<v1::FileInfo> Wait() {
    Decide(/*keep=*/true);
    if (thread_.joinable()) thread_.join();
    return result_;
  }

 private:
  void Decide(bool keep) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (decided_) return;
      decided_ = true;
      stop_ = !keep;
    }
    decided_cv_.notify_all();
  }

  absl::StatusOr<v1::FileInfo> Run() {
    std::unique_ptr<ArchiveWriter> w;
    RETURN_IF_ERROR(pool_.WithConnection([&](pqxx::connection& conn) -> absl::Status {
      pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> txn(conn);
      txn.exec(absl::StrCat("SET TRANSACTION SNAPSHOT ", txn.quote(snapshot_id_)));
      ASSIGN_OR_RETURN(w, archive_.OpenWriter(header_));
      RETURN_IF_ERROR(
          StreamSnapshot(txn, header_.tenant_id(), [&](std::string_view bytes) -> absl::Status {
            if (stop_) return absl::CancelledError("import ended before its backup");
            return w->Write(bytes);
          }));
      // Everything is read: end the read-only transaction and give the connection back now,
      // not idle in a transaction while the import decides (a server's
      // idle_in_transaction_session_timeout would otherwise fail a good backup).
      txn.commit();
      return absl::OkStatus();
    }));
    {
      std::unique_lock<std::mutex> lock(mu_);
      decided_cv_.wait(lock, [&] { return decided_; });
    }
    // Abandoned: `w` is destroyed unfinished, which cancels the upload.
    if (stop_) return absl::CancelledError("import ended before its backup");
    return w->Finish();
  }

  PgPool& pool_;
  Archive& archive_;
  const v1::PutFileHeader header_;
  const std::string snapshot_id_;
  std::mutex mu_;
  std::condition_variable decided_cv_;
  bool decided_ = false;          // guarded by mu_
  std::atomic<bool> stop_{false};  // set (under mu_) before decided_
  absl::StatusOr<v1::FileInfo> result_ = absl::UnknownError("backup snapshot not taken");
  std::thread thread_;  // last: started once the members above exist
};

// Wall time of each phase of one import, logged when it ends (where the time goes).
class PhaseTimer {
 public:
  void Mark(const std::string& phase) {
    const absl::Time now = absl::Now();
    fields_.emplace_back(phase + "_ms", std::to_string(absl::ToInt64Milliseconds(now - last_)));
    last_ = now;
  }
  log::Fields Fields(log::Fields head) const {
    head.insert(head.end(), fields_.begin(), fields_.end());
    head.emplace_back("total_ms", std::to_string(absl::ToInt64Milliseconds(absl::Now() - start_)));
    return head;
  }

 private:
  absl::Time start_ = absl::Now();
  absl::Time last_ = start_;
  log::Fields fields_;
};

std::string Percent(double share) { return absl::StrFormat("%g%%", share * 100); }

// Why the removals of this import must be held ("" when they need not be).
std::string HoldReason(const v1::ImportPolicy& policy, const DiffCounts& counts,
                       int64_t roster_size, int64_t rows_read,
                       const std::optional<GoodImport>& last,
                       const std::set<std::string>& headers) {
  const int64_t removals = counts.removals();
  if (removals == 0) return "";
  std::vector<std::string> reasons;
  const int64_t max_removals =
      policy.has_max_removals() ? policy.max_removals() : kDefaultMaxRemovals;
  if (removals > max_removals) {
    reasons.push_back(absl::StrCat(removals, " removals exceed the limit of ", max_removals,
                                   " (import policy max_removals)"));
  }
  const double share =
      policy.has_max_removal_share() ? policy.max_removal_share() : kDefaultMaxRemovalShare;
  const int64_t min_roster = policy.has_min_roster_for_share() ? policy.min_roster_for_share()
                                                               : kDefaultMinRosterForShare;
  if (roster_size >= min_roster && static_cast<double>(removals) > share * roster_size) {
    reasons.push_back(absl::StrCat(removals, " removals are ",
                                   Percent(static_cast<double>(removals) / roster_size),
                                   " of the roster of ", roster_size, ", above ", Percent(share),
                                   " (import policy max_removal_share)"));
  }
  if (last) {
    if (!policy.allow_header_change() && !last->headers.empty()) {
      std::string change = DescribeHeaderChange(last->headers, headers);
      if (!change.empty()) {
        reasons.push_back(absl::StrCat("the header set changed against the last good import ",
                                       last->import_id, ": ", change,
                                       " (import policy allow_header_change)"));
      }
    }
    const double drop =
        policy.has_max_row_drop_share() ? policy.max_row_drop_share() : kDefaultMaxRowDropShare;
    if (last->rows_read > 0 &&
        static_cast<double>(rows_read) < static_cast<double>(last->rows_read) * (1.0 - drop)) {
      reasons.push_back(absl::StrCat("the row count fell from ", last->rows_read, " to ",
                                     rows_read, " against the last good import ",
                                     last->import_id, ", more than ", Percent(drop),
                                     " (import policy max_row_drop_share)"));
    }
  }
  return absl::StrJoin(reasons, "; ");
}

}  // namespace

absl::StatusOr<FileScan> ScanRosterFile(Archive& archive, const std::string& tenant_id,
                                        const std::string& file_id,
                                        const std::map<std::string, std::string>& header_map,
                                        const v1::ImportPolicy& policy, const RowSink& sink) {
  FileScan scan;
  ASSIGN_OR_RETURN(scan.info, archive.Stat(tenant_id, file_id));
  const std::string name = scan.info.name().empty() ? file_id : scan.info.name();
  if (scan.info.kind() != v1::FILE_KIND_SOURCE) {
    scan.rejection = absl::StrCat("file \"", name, "\" (", file_id, ") is not a SOURCE file");
    return scan;
  }
  CsvTextOptions options;
  options.encoding = policy.encoding();
  options.delimiter = policy.delimiter();
  options.file_name = name;
  absl::StatusOr<CsvTextReader> reader = CsvTextReader::Create(options);
  if (!reader.ok()) {
    scan.rejection = std::string(reader.status().message());
    return scan;
  }

  std::optional<FieldMapping> mapping;
  std::optional<RowValidator> validator;
  std::vector<CsvRecord> records;
  std::vector<v1::RowError> row_errors;
  absl::Status sink_error;

  PersonRow row;  // reused from record to record
  auto process = [&]() -> absl::Status {
    for (CsvRecord& record : records) {
      if (!mapping) {
        absl::StatusOr<FieldMapping> m = FieldMapping::Create(header_map, record.fields, name);
        if (!m.ok()) {
          scan.rejection = std::string(m.status().message());
          return absl::CancelledError(kStopReading);
        }
        mapping.emplace(*std::move(m));
        absl::StatusOr<RowValidator> v = RowValidator::Create(*mapping, policy);
        if (!v.ok()) {
          scan.rejection = absl::StrCat("file \"", name, "\": ", v.status().message());
          return absl::CancelledError(kStopReading);
        }
        validator.emplace(*std::move(v));
        scan.header_notes = mapping->header_notes();
        scan.header_set = mapping->header_set();
        for (const ColumnBinding& b : mapping->attribute_columns()) {
          scan.attribute_columns.push_back(b.attribute);
        }
        scan.has_email = mapping->has(Field::kEmail);
        scan.has_person_type = mapping->has(Field::kPersonType);
        scan.key_columns = DuplicateColumns::Of(*mapping);
        continue;
      }
      ++scan.rows_read;
      row_errors.clear();
      absl::Status s;
      if (validator->Validate(record, &row_errors, &row)) {
        s = sink.row ? sink.row(row) : absl::OkStatus();
      } else {
        ++scan.rejected_rows;
        for (const v1::RowError& e : row_errors) {
          if (scan.errors.size() < kMaxStoredRowErrors) scan.errors.push_back(e);
        }
        s = sink.invalid ? sink.invalid(KeyOf(*mapping, record), row_errors) : absl::OkStatus();
      }
      if (!s.ok()) {
        sink_error = s;
        return absl::CancelledError(kStopReading);
      }
    }
    records.clear();
    return absl::OkStatus();
  };
  auto parse_failed = [&](const absl::Status& s) {
    scan.rejection = std::string(s.message());  // CsvTextReader names the file
    return absl::CancelledError(kStopReading);
  };

  absl::StatusOr<v1::FileInfo> read =
      archive.Read(tenant_id, file_id, [&](std::string_view chunk) -> absl::Status {
        if (absl::Status s = reader->Feed(chunk, &records); !s.ok()) return parse_failed(s);
        return process();
      });
  if (!sink_error.ok()) return sink_error;
  if (!scan.rejection.empty()) return scan;  // refused while reading; cut short on purpose
  if (!read.ok()) return read.status();
  if (absl::Status s = reader->Finish(&records); !s.ok()) {
    (void)parse_failed(s);
    return scan;
  }
  (void)process();
  if (!sink_error.ok()) return sink_error;
  if (!scan.rejection.empty()) return scan;
  if (!mapping) {
    scan.rejection = absl::StrCat("file \"", name, "\" is empty: no header row");
    return scan;
  }
  // How the file was read, when it was not plain UTF-8 with commas.
  if (reader->had_bom() || reader->encoding_name() != "utf-8") {
    scan.header_notes.push_back(absl::StrCat("read as ", std::string(reader->encoding_name()),
                                             reader->had_bom() ? " (byte order mark removed)" : ""));
  }
  if (reader->delimiter() != ',') {
    scan.header_notes.push_back(
        absl::StrCat("delimiter ", DelimiterName(reader->delimiter()),
                     reader->delimiter_reason().empty() ? "" : ": ", reader->delimiter_reason()));
  }
  return scan;
}

absl::StatusOr<ImportOutcome> Importer::RecordRejection(v1::ImportSummary summary) {
  summary.set_status(v1::IMPORT_STATUS_REJECTED);
  *summary.mutable_finished_at() = ToProtoTime(absl::Now());
  absl::Status s = store_.pool().Transact(
      [&](pqxx::work& txn) { return RosterStore::InsertImport(txn, summary); });
  if (absl::IsAlreadyExists(s)) {
    // A concurrent delivery of the same job recorded it first.
    ASSIGN_OR_RETURN(auto existing, store_.FindImportByJob(summary.tenant_id(), summary.job_id()));
    if (existing) return ImportOutcome{*existing, true, "", ""};
  }
  RETURN_IF_ERROR(s);
  log::Warn("import rejected", {{"tenant", summary.tenant_id()},
                                {"run_id", summary.run_id()},
                                {"import_id", summary.import_id()},
                                {"reason", summary.message()}});
  RecordImportMetrics(summary);
  return ImportOutcome{std::move(summary), false, "", ""};
}

absl::StatusOr<ImportOutcome> Importer::Import(const v1::RosterJob& job) {
  ImportRequest r;
  r.tenant_id = job.tenant_id();
  r.integration_id = job.integration_id();
  r.run_id = job.run_id();
  r.job_id = job.job_id();
  r.file_id = job.file_id();
  r.header_map = std::map<std::string, std::string>(job.header_map().begin(),
                                                    job.header_map().end());
  r.policy = job.policy();
  if (r.policy.sync_policy() == v1::SYNC_POLICY_UNSPECIFIED) {
    r.policy.set_sync_policy(job.sync_policy());
  }
  return Run(r);
}

namespace {

// One try at an import, in one transaction.
struct ImportAttempt {
  explicit ImportAttempt(const v1::ImportSummary& start) : summary(start) {}
  v1::ImportSummary summary;
  bool rejected = false;      // refused as a whole: nothing applied; record the rejection
  bool replayed = false;      // the job was imported before: `summary` is that import's
  std::string needs_staging;  // a first import that must go through the staging table
  std::set<std::string> header_set;
};

// Valid rows to `writer`; an invalid row's problems to the report, its key (and seat) to the
// writer.
RowSink ImportSink(const ImportRequest& r, StagingWriter& writer, LazyErrorReport& report) {
  RowSink sink;
  sink.row = [&r, &writer](PersonRow& row) {
    v1::Person& p = row.person;
    p.set_source_integration_id(r.integration_id);
    StagedKeep keep;
    keep.email = !row.has_email;
    keep.person_type = !row.has_person_type;
    keep.seat = !row.has_seat;
    return writer.Add(p, row.line, keep, row.key_from_email);
  };
  sink.invalid = [&writer, &report](const InvalidRow& row,
                                    const std::vector<v1::RowError>& errors) -> absl::Status {
    for (const v1::RowError& e : errors) RETURN_IF_ERROR(report.Add(e));
    if (!row.key.empty() || !row.seat.empty()) {
      return writer.AddInvalidKey(row.key, row.line, row.key_from_email, row.seat);
    }
    return absl::OkStatus();
  };
  return sink;
}

// A scan that could not read the source file: true (the attempt rejected) when the file is
// not in the archive; the status of any other failure.
absl::StatusOr<bool> SourceMissing(const absl::StatusOr<FileScan>& scan, const ImportRequest& r,
                                   ImportAttempt& a) {
  if (scan.ok()) return false;
  if (!absl::IsNotFound(scan.status())) return scan.status();
  a.summary.set_message(absl::StrCat("source file ", r.file_id, ": ", scan.status().message()));
  a.rejected = true;
  return true;
}

absl::Status FinishReport(LazyErrorReport& report, v1::ImportSummary& summary) {
  ASSIGN_OR_RETURN(std::string id, report.Finish());
  summary.set_error_report_file_id(id);
  return absl::OkStatus();
}

// Records what reading the file found in the summary. True when the file is refused as a
// whole (malformed, or too many invalid rows): the attempt is rejected, its message set and
// its error report finished.
absl::StatusOr<bool> RefuseFile(const FileScan& scan, const ImportRequest& r,
                                LazyErrorReport& report, ImportAttempt& a) {
  v1::ImportSummary& summary = a.summary;
  summary.set_rows_read(scan.rows_read);
  summary.set_rejected_rows(scan.rejected_rows);
  for (const v1::RowError& e : scan.errors) *summary.add_errors() = e;
  for (const std::string& n : scan.header_notes) summary.add_header_notes(n);
  a.header_set = scan.header_set;
  std::string refusal = scan.rejection;
  if (refusal.empty() && ExceedsInvalidShare(scan.rejected_rows, scan.rows_read, r.policy)) {
    const std::string name = scan.info.name().empty() ? r.file_id : scan.info.name();
    refusal = absl::StrCat("file \"", name, "\": ",
                           DescribeInvalidShare(scan.rejected_rows, scan.rows_read, r.policy),
                           "; first: ", DescribeError(scan.errors.front()));
  }
  if (refusal.empty()) return false;
  RETURN_IF_ERROR(FinishReport(report, summary));
  summary.set_message(refusal);
  a.rejected = true;
  return true;
}

// Under the tenant lock: true when the job was imported meanwhile (`a` is then that import).
absl::StatusOr<bool> FindReplay(pqxx::work& txn, const ImportRequest& r, ImportAttempt& a) {
  ASSIGN_OR_RETURN(auto done, RosterStore::FindImportByJob(txn, r.tenant_id, r.job_id));
  if (!done) return false;
  a.summary = *done;
  a.replayed = true;
  return true;
}

// The pre-import backup of an import to apply, streaming from this transaction's snapshot,
// exported now: call it under the tenant lock. It shows the roster as committed before this
// transaction (an exported snapshot counts its own transaction as running, so rows this
// transaction already wrote are not in it).
std::unique_ptr<BackgroundSnapshot> StartBackup(PgPool& pool, Archive& archive, pqxx::work& txn,
                                                const ImportRequest& r,
                                                const v1::ImportSummary& summary) {
  pqxx::result exported = txn.exec("SELECT pg_export_snapshot()");
  return std::make_unique<BackgroundSnapshot>(
      pool, archive,
      FileHeader(r, v1::FILE_KIND_BACKUP,
                 absl::StrCat("roster_backup_",
                              r.run_id.empty() ? summary.import_id() : r.run_id, ".csv"),
                 "pre-import"),
      exported[0][0].as<std::string>());
}

// No backup, no import: waits for the snapshot before anything is applied or committed.
absl::Status AwaitBackup(BackgroundSnapshot& backup, v1::ImportSummary& summary) {
  absl::StatusOr<v1::FileInfo> file = backup.Wait();
  if (!file.ok()) {
    return absl::Status(file.status().code(),
                        absl::StrCat("pre-import backup failed, nothing applied: ",
                                     file.status().message()));
  }
  summary.set_backup_file_id(file->file_id());
  return absl::OkStatus();
}

void NoteSkippedRows(v1::ImportSummary& summary) {
  if (summary.rejected_rows() > 0) {
    summary.set_message(absl::StrCat(summary.rejected_rows(), " of ", summary.rows_read(),
                                     " rows were invalid and skipped (see the error report)"));
  }
}

// Records the import in the history and commits.
absl::Status RecordAndCommit(pqxx::work& txn, ImportAttempt& a, PhaseTimer& timer) {
  *a.summary.mutable_finished_at() = ToProtoTime(absl::Now());
  RETURN_IF_ERROR(RosterStore::InsertImport(txn, a.summary));
  RETURN_IF_ERROR(RosterStore::SetImportHeaders(txn, a.summary.import_id(), a.header_set));
  timer.Mark("history");
  txn.commit();
  timer.Mark("commit");
  return absl::OkStatus();
}

// A first import (the tenant has nobody, under its lock): the valid rows are COPYed straight
// into roster.people (StagingTable::OpenDirectWriter), with no diff to compute. The lock is
// held while the file is read; it is only tried, so that a tenant whose lock someone holds
// goes the staged way, which reads the file before it waits. Sets `needs_staging` (nothing
// applied) when the lock is taken, the tenant has people after all, or a key or seat repeats
// in the file.
absl::Status ImportFirst(pqxx::connection& conn, PgPool& pool, Archive& archive,
                         const ImportRequest& r, ImportAttempt& a, PhaseTimer& timer) {
  pqxx::work txn(conn);
  ASSIGN_OR_RETURN(bool locked, RosterStore::TryLockTenant(txn, r.tenant_id));
  if (!locked) {
    a.needs_staging = "the tenant's lock is held (another import or change)";
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(bool replayed, FindReplay(txn, r, a));
  if (replayed) return absl::OkStatus();
  ASSIGN_OR_RETURN(bool has_people, RosterStore::HasPeople(txn, r.tenant_id));
  if (has_people) {
    a.needs_staging = "the tenant has people now";
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(StagingTable staging, StagingTable::Create(txn, r.tenant_id));
  timer.Mark("first_lock");
  ASSIGN_OR_RETURN(std::unique_ptr<DirectWriter> writer, staging.OpenDirectWriter());
  LazyErrorReport report(
      archive, FileHeader(r, v1::FILE_KIND_ERROR_REPORT,
                          absl::StrCat("errors_", a.summary.import_id(), ".csv"), "row-errors"));
  absl::StatusOr<FileScan> scan = ScanRosterFile(archive, r.tenant_id, r.file_id, r.header_map,
                                                 r.policy, ImportSink(r, *writer, report));
  RETURN_IF_ERROR(writer->Finish());
  timer.Mark("first_scan_copy");
  if (!writer->needs_staging().empty()) {
    a.needs_staging = writer->needs_staging();
    return absl::OkStatus();  // rolled back; the error report is abandoned
  }
  ASSIGN_OR_RETURN(bool missing, SourceMissing(scan, r, a));
  if (missing) return absl::OkStatus();
  ASSIGN_OR_RETURN(bool refused, RefuseFile(*scan, r, report, a));
  if (refused) return absl::OkStatus();
  // The backup of the roster before: still nobody in this transaction's exported snapshot,
  // which counts this (uncommitted) transaction as running.
  std::unique_ptr<BackgroundSnapshot> backup = StartBackup(pool, archive, txn, r, a.summary);
  RETURN_IF_ERROR(FinishReport(report, a.summary));
  RETURN_IF_ERROR(AwaitBackup(*backup, a.summary));
  timer.Mark("snapshot");
  a.summary.set_added(writer->rows());
  a.summary.set_status(v1::IMPORT_STATUS_APPLIED);
  NoteSkippedRows(a.summary);
  return RecordAndCommit(txn, a, timer);
}

// Any import through the staging table: COPY, within-file duplicates, diff, guards; then a
// preview, or backup and apply.
absl::Status ImportStaged(pqxx::connection& conn, PgPool& pool, Archive& archive,
                          const ImportRequest& r, ImportAttempt& a, PhaseTimer& timer) {
  v1::ImportSummary& summary = a.summary;
  const std::string& tenant = r.tenant_id;
  pqxx::work txn(conn);
  ASSIGN_OR_RETURN(StagingTable staging, StagingTable::Create(txn, tenant));
  ASSIGN_OR_RETURN(std::unique_ptr<StagingWriter> writer, staging.OpenWriter());
  LazyErrorReport report(
      archive, FileHeader(r, v1::FILE_KIND_ERROR_REPORT,
                          absl::StrCat("errors_", summary.import_id(), ".csv"), "row-errors"));
  absl::StatusOr<FileScan> scan = ScanRosterFile(archive, tenant, r.file_id, r.header_map,
                                                 r.policy, ImportSink(r, *writer, report));
  RETURN_IF_ERROR(writer->Finish());
  timer.Mark("scan_copy");
  ASSIGN_OR_RETURN(bool missing, SourceMissing(scan, r, a));
  if (missing) return absl::OkStatus();
  if (scan->rejection.empty()) {
    // The same key or seat twice in the file: found in SQL on the staging table.
    std::vector<v1::RowError> found;
    int64_t newly_invalid = 0;
    RETURN_IF_ERROR(staging.InFileDuplicates(
        [&](const InFileDuplicate& d) -> absl::Status {
          v1::RowError e =
              d.seat ? DuplicateSeatError(d.line, scan->key_columns.seat, d.value, d.first_line)
                     : DuplicatePersonError(d.line, scan->key_columns.key(d.key_from_email),
                                            d.value, d.first_line);
          if (found.size() < kMaxStoredRowErrors) found.push_back(e);
          return report.Add(e);
        },
        &newly_invalid));
    scan->rejected_rows += newly_invalid;
    MergeErrors(std::move(found), &scan->errors);
    timer.Mark("duplicates");
  }
  ASSIGN_OR_RETURN(bool refused, RefuseFile(*scan, r, report, a));
  if (refused) return absl::OkStatus();

  RETURN_IF_ERROR(RosterStore::LockTenant(txn, tenant));
  ASSIGN_OR_RETURN(bool replayed, FindReplay(txn, r, a));
  if (replayed) return absl::OkStatus();
  // An import to apply backs the roster up first: the snapshot streams on a second
  // connection, from this transaction's snapshot (taken now, under the lock), while the diff
  // is computed here; it must be complete before anything is applied.
  std::unique_ptr<BackgroundSnapshot> backup;
  if (!r.preview) backup = StartBackup(pool, archive, txn, r, summary);
  DiffSpec spec;
  spec.mode = ApplyMode::kFullSync;
  spec.policy = r.policy.sync_policy();
  spec.integration_id = r.integration_id;
  spec.attribute_columns = scan->attribute_columns;
  timer.Mark("lock");
  RETURN_IF_ERROR(staging.ComputeDiff(spec));
  timer.Mark("diff");
  ASSIGN_OR_RETURN(DiffCounts counts, staging.Counts());

  // The roster's size matters only to the share of removals (HoldReason holds nothing
  // without removals): a re-import that removes nobody does not count a large roster.
  int64_t roster_size = 0;
  if (counts.removals() > 0) {
    pqxx::result size =
        txn.exec_params("SELECT count(*) FROM roster.people WHERE tenant_id = $1", tenant);
    roster_size = size[0][0].as<int64_t>();
  }
  ASSIGN_OR_RETURN(std::optional<GoodImport> last,
                   RosterStore::LastGoodImport(txn, tenant, r.integration_id));
  const std::string hold =
      HoldReason(r.policy, counts, roster_size, scan->rows_read, last, scan->header_set);
  const bool held = !hold.empty();

  timer.Mark("counts_guards");
  ASSIGN_OR_RETURN(std::vector<v1::RowError> conflicts,
                   staging.SeatConflicts(held, kMaxStoredRowErrors));
  timer.Mark("seat_conflicts");
  if (!conflicts.empty()) {
    for (const v1::RowError& e : conflicts) RETURN_IF_ERROR(report.Add(e));
    RETURN_IF_ERROR(FinishReport(report, summary));
    summary.clear_errors();
    for (const v1::RowError& e : conflicts) *summary.add_errors() = e;
    summary.set_rejected_rows(summary.rejected_rows() + static_cast<int64_t>(conflicts.size()));
    const std::string name = scan->info.name().empty() ? r.file_id : scan->info.name();
    summary.set_message(absl::StrCat("file \"", name, "\": ", conflicts.size(),
                                     " rows give a seat someone else keeps; first: ",
                                     DescribeError(conflicts.front())));
    a.rejected = true;
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(FinishReport(report, summary));

  summary.set_unchanged(counts.unchanged);
  summary.set_added(counts.added);
  summary.set_updated(counts.updated);
  if (held) {
    summary.set_held(counts.removals());
    summary.set_held_reason(hold);
  }
  if (r.preview) {
    summary.set_deleted(counts.deleted);
    summary.set_deactivated(counts.deactivated);
    ASSIGN_OR_RETURN(std::vector<v1::PersonChange> examples,
                     staging.Examples(std::clamp(r.examples_per_kind, 0, kMaxImportExamples)));
    for (v1::PersonChange& c : examples) *summary.add_examples() = std::move(c);
    ASSIGN_OR_RETURN(std::unique_ptr<ArchiveWriter> diff,
                     archive.OpenWriter(FileHeader(
                         r, v1::FILE_KIND_DIFF,
                         absl::StrCat("diff_", summary.import_id(), ".csv"), "preview")));
    RETURN_IF_ERROR(
        staging.RenderDiffCsv([&](std::string_view bytes) { return diff->Write(bytes); }));
    ASSIGN_OR_RETURN(v1::FileInfo diff_info, diff->Finish());
    summary.set_diff_file_id(diff_info.file_id());
    summary.set_status(v1::IMPORT_STATUS_PREVIEW);
  } else {
    RETURN_IF_ERROR(AwaitBackup(*backup, summary));
    timer.Mark("snapshot");
    RETURN_IF_ERROR(staging.Apply({held, summary.import_id()}));
    timer.Mark("apply");
    if (held) {
      summary.set_status(v1::IMPORT_STATUS_HELD);
    } else {
      summary.set_status(v1::IMPORT_STATUS_APPLIED);
      summary.set_deleted(counts.deleted);
      summary.set_deactivated(counts.deactivated);
    }
    NoteSkippedRows(summary);
  }
  return RecordAndCommit(txn, a, timer);
}

}  // namespace

absl::StatusOr<ImportOutcome> Importer::Run(const ImportRequest& r) {
  const std::string& tenant = r.tenant_id;
  if (tenant.empty() || r.job_id.empty()) {
    return absl::InvalidArgumentError("roster import: tenant_id and job_id are required");
  }
  ASSIGN_OR_RETURN(auto existing, store_.FindImportByJob(tenant, r.job_id));
  if (existing) return ImportOutcome{*existing, true, "", ""};

  v1::ImportSummary start;
  start.set_tenant_id(tenant);
  start.set_import_id(NewId("imp"));
  start.set_integration_id(r.integration_id);
  start.set_run_id(r.run_id);
  start.set_job_id(r.job_id);
  start.set_source_file_id(r.file_id);
  start.set_source(r.source);
  *start.mutable_started_at() = ToProtoTime(absl::Now());

  if (r.file_id.empty()) {
    start.set_message("roster import: file_id is required");
    return RecordRejection(std::move(start));
  }

  // A first import to apply writes the file straight into the roster; if it cannot (a repeat
  // in the file, people meanwhile), it is rolled back and the file goes the staged way.
  PhaseTimer timer;
  ImportAttempt a(start);
  std::string path = "staged";
  std::string staged_because;
  bool done = false;
  absl::Status status;
  if (!r.preview) {
    bool has_people = true;
    status = store_.pool().Transact([&](pqxx::work& txn) -> absl::Status {
      ASSIGN_OR_RETURN(has_people, RosterStore::HasPeople(txn, tenant));
      return absl::OkStatus();
    });
    if (status.ok() && !has_people) {
      path = "first";
      status = store_.pool().WithConnection([&](pqxx::connection& conn) {
        return ImportFirst(conn, store_.pool(), archive_, r, a, timer);
      });
      done = !status.ok() || a.needs_staging.empty();
      if (!done) {
        log::Info("first import goes the staged way", {{"tenant", tenant},
                                                       {"import_id", start.import_id()},
                                                       {"reason", a.needs_staging}});
        path = "first, then staged";
        staged_because = a.needs_staging;
        a = ImportAttempt(start);
      }
    }
    if (!status.ok()) done = true;
  }
  if (!done) {
    status = store_.pool().WithConnection([&](pqxx::connection& conn) {
      return ImportStaged(conn, store_.pool(), archive_, r, a, timer);
    });
  }
  if (absl::IsAlreadyExists(status)) {
    ASSIGN_OR_RETURN(auto found, store_.FindImportByJob(tenant, r.job_id));
    if (found) return ImportOutcome{*found, true, "", ""};
  }
  if (!status.ok()) {
    log::Error("import failed, nothing applied", {{"tenant", tenant},
                                                  {"run_id", r.run_id},
                                                  {"error", std::string(status.message())}});
    RecordImportFailure();
    return status;
  }
  v1::ImportSummary& summary = a.summary;
  log::Info("import phases", timer.Fields({{"tenant", tenant},
                                           {"import_id", summary.import_id()},
                                           {"path", path},
                                           {"rows_read", std::to_string(summary.rows_read())}}));
  if (a.replayed) return ImportOutcome{summary, true, path, staged_because};
  if (a.rejected) {
    ASSIGN_OR_RETURN(ImportOutcome out, RecordRejection(std::move(summary)));
    if (!out.replayed) {
      out.path = path;
      out.staged_because = staged_because;
    }
    return out;
  }
  log::Info("import done", {{"tenant", tenant},
                            {"run_id", r.run_id},
                            {"import_id", summary.import_id()},
                            {"status", v1::ImportStatus_Name(summary.status())},
                            {"backup_file_id", summary.backup_file_id()},
                            {"added", std::to_string(summary.added())},
                            {"updated", std::to_string(summary.updated())},
                            {"deleted", std::to_string(summary.deleted())},
                            {"deactivated", std::to_string(summary.deactivated())},
                            {"held", std::to_string(summary.held())}});
  if (summary.status() != v1::IMPORT_STATUS_PREVIEW) RecordImportMetrics(summary);
  return ImportOutcome{std::move(summary), false, path, staged_because};
}

absl::StatusOr<v1::ImportSummary> Importer::ApproveDeletions(const std::string& tenant_id,
                                                             const std::string& import_id) {
  if (tenant_id.empty()) return absl::InvalidArgumentError("tenant_id is required");
  if (import_id.empty()) return absl::InvalidArgumentError("import_id is required");
  v1::ImportSummary summary;
  absl::Status s = store_.pool().Transact([&](pqxx::work& txn) -> absl::Status {
    RETURN_IF_ERROR(RosterStore::LockTenant(txn, tenant_id));
    int64_t seq = 0;
    ASSIGN_OR_RETURN(auto found, RosterStore::GetImportForUpdate(txn, tenant_id, import_id, &seq));
    if (!found) return absl::NotFoundError(absl::StrCat("import \"", import_id, "\" not found"));
    summary = *found;
    if (summary.has_approved_at()) return absl::OkStatus();  // approved before: same answer
    if (summary.status() != v1::IMPORT_STATUS_HELD) {
      return absl::FailedPreconditionError(
          absl::StrCat("import \"", import_id, "\" has no held removals (status ",
                       v1::ImportStatus_Name(summary.status()), ")"));
    }
    ASSIGN_OR_RETURN(bool newer,
                     RosterStore::NewerGoodImport(txn, tenant_id, summary.integration_id(), seq));
    if (newer) {
      return absl::FailedPreconditionError(absl::StrCat(
          "import \"", import_id, "\": integration \"", summary.integration_id(),
          "\" has imported a newer file since; its held removals are stale and are not applied"));
    }
    ImportRequest r;
    r.tenant_id = tenant_id;
    r.integration_id = summary.integration_id();
    r.run_id = summary.run_id();
    r.job_id = summary.job_id();
    r.file_id = summary.source_file_id();
    ASSIGN_OR_RETURN(std::unique_ptr<ArchiveWriter> w,
                     archive_.OpenWriter(FileHeader(
                         r, v1::FILE_KIND_BACKUP,
                         absl::StrCat("roster_backup_approve_", import_id, ".csv"),
                         "pre-approve-deletions")));
    absl::Status snap =
        StreamSnapshot(txn, tenant_id, [&](std::string_view bytes) { return w->Write(bytes); });
    absl::StatusOr<v1::FileInfo> backup =
        snap.ok() ? w->Finish() : absl::StatusOr<v1::FileInfo>(snap);
    if (!backup.ok()) {
      return absl::Status(backup.status().code(),
                          absl::StrCat("pre-approval backup failed, nothing applied: ",
                                       backup.status().message()));
    }
    ASSIGN_OR_RETURN(HeldApproval applied, ApplyHeldRemovals(txn, tenant_id, import_id));
    summary.set_status(v1::IMPORT_STATUS_APPLIED);
    summary.set_deleted(summary.deleted() + applied.deleted);
    summary.set_deactivated(summary.deactivated() + applied.deactivated);
    *summary.mutable_approved_at() = ToProtoTime(absl::Now());
    summary.set_message(absl::StrCat(
        summary.message(), summary.message().empty() ? "" : "; ", "held removals approved: ",
        applied.deleted, " deleted, ", applied.deactivated, " deactivated, ", applied.skipped,
        " skipped (changed since the import); backup before approval: ", backup->file_id()));
    return RosterStore::UpdateImportOutcome(txn, summary);
  });
  RETURN_IF_ERROR(s);
  log::Info("held removals approved", {{"tenant", tenant_id},
                                       {"import_id", import_id},
                                       {"deleted", std::to_string(summary.deleted())},
                                       {"deactivated", std::to_string(summary.deactivated())}});
  return summary;
}

}  // namespace rostersync::roster
