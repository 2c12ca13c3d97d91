#pragma once

// Imports a SOURCE file from the archive into a tenant's roster.
//
//  1. Idempotency: when an import for the job_id exists, its stored summary is returned.
//  2. The file is streamed from the archive through the CSV reader, mapped (header_map) and
//     validated row by row. A missing required column, a duplicate header, a malformed CSV
//     or any invalid row rejects the whole file: status REJECTED with the first 100 row
//     errors, recorded in the import history, nothing applied.
//  3. In ONE transaction: take the tenant's advisory lock, load the roster, compute the diff,
//     write the whole current roster (seats and attributes included) as a FILE_KIND_BACKUP
//     snapshot into the archive, apply the diff, record the import history with the source
//     and backup file ids and counts, commit. No backup, no import: when the snapshot fails
//     the transaction is rolled back and the error returned.
// A non-OK status means nothing was applied: UNAVAILABLE is transient (retry), anything else
// is permanent.
#include <map>
#include <memory>
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

// The outcome of reading and validating one file.
struct ParsedFile {
  v1::FileInfo info;
  std::vector<PersonRow> rows;       // valid rows
  std::vector<v1::RowError> errors;  // the first kMaxStoredRowErrors row errors
  int64_t rows_read = 0;             // data records (header excluded)
  int64_t rejected_rows = 0;         // records with at least one error
  std::string rejection;             // non-empty: the file is refused as a whole
};

// Streams the file from the archive, parses, maps and validates it. A non-OK status is an
// archive failure (the file could not be read); problems with the file's content are
// reported in `rejection` / `errors`.
absl::StatusOr<ParsedFile> ReadRosterFile(Archive& archive, const std::string& tenant_id,
                                          const std::string& file_id,
                                          const std::map<std::string, std::string>& header_map);

// Writes the snapshot of `people` (sorted by person_id) as a FILE_KIND_BACKUP file.
absl::StatusOr<v1::FileInfo> WriteSnapshot(Archive& archive, const v1::RosterJob& job,
                                           const std::vector<v1::Person>& people);

struct ImportOutcome {
  v1::ImportSummary summary;
  bool replayed = false;  // the job had already been imported; nothing was done now
};

class Importer {
 public:
  Importer(RosterStore& store, Archive& archive) : store_(store), archive_(archive) {}

  absl::StatusOr<ImportOutcome> Import(const v1::RosterJob& job);

 private:
  absl::StatusOr<ImportOutcome> RecordRejection(v1::ImportSummary summary);

  RosterStore& store_;
  Archive& archive_;
};

}  // namespace rostersync::roster
