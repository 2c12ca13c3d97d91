#pragma once

// Imports a SOURCE file from the archive into a tenant's roster, set-based and streaming.
//
//  1. Idempotency: when an import for the job_id exists, its stored summary is returned
//     (UploadRoster uses job_id "upload:<tenant>:<request_id>").
//  2. In ONE transaction on one connection: the file is streamed from the archive through
//     CsvTextReader (encoding from policy.encoding, delimiter from policy.delimiter / ".tsv" /
//     sniffed), FieldMapping (header_map; header notes reported) and RowValidator (typed by
//     policy.attribute_types / date_format) into a staging table with COPY (staging_table.h).
//     Memory does not grow with the file: rows, errors (beyond the first 100 kept for the
//     summary) and the error report all stream.
//  3. Invalid rows: every problem goes to an ERROR_REPORT file in the archive
//     (error_report_file_id). Above policy.max_invalid_share (default 5%) the file is REJECTED;
//     below, valid rows import and the keys of invalid rows are neither changed nor removed.
//     A malformed file (encoding, CSV, header) is REJECTED as a whole.
//  4. Under the tenant's advisory lock the diff is computed in SQL. A seat the file gives to
//     someone while another person keeps it rejects the file (the rows are in the report).
//  5. Guards (before anything is applied): removals above policy.max_removals (500), above
//     policy.max_removal_share (20%) of a roster of at least min_roster_for_share (100), a
//     header set changed against the last good (APPLIED/HELD) import of the integration
//     (unless allow_header_change), or a row count fallen by more than max_row_drop_share
//     (50%) against it: the removals are HELD (stored in roster.held_removals) while adds and
//     updates apply; status HELD with held and held_reason. Without removals nothing is held.
//  6. Preview: the diff is not applied; counts, the first N examples of each kind, and the
//     whole diff as a FILE_KIND_DIFF CSV (diff_file_id); status PREVIEW (recorded in the
//     history, never counted as a good import).
//  7. Apply: the whole current roster is streamed from a cursor as a FILE_KIND_BACKUP snapshot
//     (no backup, no import), then the diff is applied and the import recorded; commit. The
//     snapshot starts under the lock, before the diff, on a second connection that imports
//     this transaction's snapshot (pg_export_snapshot), so the two run side by side; the file
//     is finished only when the import is about to apply (a rejection leaves none).
//  8. A first import (a tenant with nobody, not a preview) skips the staging table and the
//     diff: under the tenant lock (only tried: when someone holds it, the staged way reads
//     the file first and then waits), the valid rows are COPYed straight into roster.people
//     (StagingTable::OpenDirectWriter), the same rows the staged diff would add; the backup
//     (of the empty roster) is taken from the snapshot exported after the COPY, which still
//     counts the import as running. A key or seat that repeats in the file, people that
//     appeared meanwhile or a held lock roll it back, and the file goes the staged way
//     (ImportOutcome::path "first, then staged"), which reports each repeat with both lines.
// A non-OK status means nothing was applied: UNAVAILABLE is transient (retry), anything else
// is permanent.
//
// ApproveDeletions applies exactly the held set of a HELD import (see ApplyHeldRemovals in
// staging_table.h: people changed since the import are skipped), after a BACKUP snapshot under
// the tenant lock; status becomes APPLIED with approved_at. A second approve returns the same
// summary; a non-held import is FAILED_PRECONDITION, and so is a held import of an integration
// that has had a newer good import since (its removal set is stale).
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/archive_client.h"
#include "rostersync/v1/jobs.pb.h"
#include "rostersync/v1/roster.pb.h"
#include "services/roster/person_validation.h"
#include "services/roster/roster_store.h"

namespace rostersync::roster {

inline constexpr int kMaxStoredRowErrors = 100;
inline constexpr int kDefaultImportExamples = 10;
inline constexpr int kMaxImportExamples = 100;
inline constexpr int64_t kDefaultMaxRemovals = 500;
inline constexpr double kDefaultMaxRemovalShare = 0.20;
inline constexpr int64_t kDefaultMinRosterForShare = 100;
inline constexpr double kDefaultMaxRowDropShare = 0.50;

// What reading a file found (besides the rows, which go to a sink).
struct FileScan {
  v1::FileInfo info;
  int64_t rows_read = 0;             // data records (header excluded)
  int64_t rejected_rows = 0;         // records with at least one error
  std::vector<v1::RowError> errors;  // the first kMaxStoredRowErrors row errors
  std::string rejection;             // non-empty: the file is refused as a whole
  std::vector<std::string> header_notes;
  std::set<std::string> header_set;
  std::vector<std::string> attribute_columns;
  bool has_email = false;
  bool has_person_type = false;
  DuplicateColumns key_columns;  // what within-file duplicate errors name
};

// An invalid record: its key when one can be read ("" otherwise) and its non-empty seat.
struct InvalidRow {
  int64_t line = 0;
  std::string key;
  bool key_from_email = false;
  std::string seat;
};

// Rows in line order. Within-file duplicates (same key or seat twice) are NOT found by the
// scan: the sink checks them (StagingTable::InFileDuplicates, InMemoryDuplicates).
struct RowSink {
  // The row may be modified (moved from) by the sink.
  std::function<absl::Status(PersonRow&)> row;
  std::function<absl::Status(const InvalidRow& row, const std::vector<v1::RowError>& errors)>
      invalid;
};

// Streams the file from the archive through decoder, reader, mapping and validation into
// `sink`. A non-OK status is an archive failure or a sink failure; problems with the file's
// content are in `rejection` / `errors`.
absl::StatusOr<FileScan> ScanRosterFile(Archive& archive, const std::string& tenant_id,
                                        const std::string& file_id,
                                        const std::map<std::string, std::string>& header_map,
                                        const v1::ImportPolicy& policy, const RowSink& sink);

struct ImportOutcome {
  v1::ImportSummary summary;
  bool replayed = false;  // the job had already been imported; nothing was done now
  // How the rows went in: "staged" (the staging table and a diff), "first" (a first import,
  // straight into the roster), "first, then staged" (a first import that had to be staged).
  std::string path;
  std::string staged_because;  // "first, then staged": why
};

struct ImportRequest {
  std::string tenant_id;
  std::string integration_id;
  std::string run_id;
  std::string job_id;  // idempotency key, unique across tenants
  std::string file_id;
  std::string source = "sftp";  // ImportSummary.source
  std::map<std::string, std::string> header_map;
  v1::ImportPolicy policy;  // sync_policy already resolved
  bool preview = false;
  int examples_per_kind = kDefaultImportExamples;  // preview only
};

class Importer {
 public:
  Importer(RosterStore& store, Archive& archive) : store_(store), archive_(archive) {}

  absl::StatusOr<ImportOutcome> Import(const v1::RosterJob& job);
  absl::StatusOr<ImportOutcome> Run(const ImportRequest& request);
  absl::StatusOr<v1::ImportSummary> ApproveDeletions(const std::string& tenant_id,
                                                     const std::string& import_id);

  Archive& archive() { return archive_; }
  RosterStore& store() { return store_; }

 private:
  absl::StatusOr<ImportOutcome> RecordRejection(v1::ImportSummary summary);

  RosterStore& store_;
  Archive& archive_;
};

}  // namespace rostersync::roster
