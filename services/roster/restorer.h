#pragma once

// RestoreBackup: brings back the roster held by a FILE_KIND_BACKUP snapshot exactly (people,
// seats, attributes, active, type, language, email, names, source_integration_id), deleting
// the people the backup does not have.
//
//  1. The file must be a BACKUP of the same tenant: NOT_FOUND otherwise (another tenant's
//     file is not found), INVALID_ARGUMENT naming it when it is another kind.
//  2. In ONE transaction: the backup is streamed from the archive through the CSV reader into
//     the staging table (staging_table.h, mode kExact) with COPY, so memory does not grow with
//     the roster; then, under the tenant's advisory lock (apply only), it is diffed against the
//     roster in SQL and checked (header, every row, unique person ids and seats: INVALID_ARGUMENT
//     naming the file and line).
//  3. Preview: the counts per kind and the first N changes of each kind; status PREVIEW,
//     nothing applied, nothing recorded.
//  4. Apply: the current roster is written as a new BACKUP file first (no backup, no restore),
//     then the stage is applied and an import history row is recorded (source "restore",
//     source_file_id = the restored backup, backup_file_id = the new snapshot).
#include <string>

#include "absl/status/statusor.h"
#include "common/archive_client.h"
#include "rostersync/v1/roster.pb.h"
#include "services/roster/roster_store.h"

namespace rostersync::roster {

inline constexpr int kDefaultExamplesPerKind = 10;
inline constexpr int kMaxExamplesPerKind = 100;

// Streams the tenant's whole roster, sorted by person_id, in the snapshot format
// (roster_csv.h) into a new archive file described by `header` (kind BACKUP), in batches, so
// that memory does not grow with the roster. Call it inside the transaction that holds the
// tenant's lock, before changing anything.
absl::StatusOr<v1::FileInfo> WriteRosterSnapshot(pqxx::work& txn, Archive& archive,
                                                 const v1::PutFileHeader& header);

class Restorer {
 public:
  Restorer(RosterStore& store, Archive& archive) : store_(store), archive_(archive) {}

  absl::StatusOr<v1::ImportSummary> Restore(const v1::RestoreBackupRequest& request);

 private:
  RosterStore& store_;
  Archive& archive_;
};

}  // namespace rostersync::roster
