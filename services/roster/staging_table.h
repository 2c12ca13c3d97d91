#pragma once

// Set-based bulk changes to a tenant's roster: stage the target rows with COPY, diff them in
// SQL against roster.people, preview or apply the diff in the same transaction.
//
// FOR EVERY BULK PATH (file import, UploadRoster, RestoreBackup, BulkUpsertPeople):
//
//   // one pqxx::work on a dedicated connection (PgPool::Transact or WithConnection)
//   ASSIGN_OR_RETURN(StagingTable staging, StagingTable::Create(txn, tenant_id));
//   {
//     ASSIGN_OR_RETURN(std::unique_ptr<StagingWriter> w, staging.OpenWriter());
//     for each person: RETURN_IF_ERROR(w->Add(person, line, keep));   // COPY, memory flat
//     RETURN_IF_ERROR(w->Finish());   // no other query on txn while the writer is open
//   }
//   RETURN_IF_ERROR(RosterStore::LockTenant(txn, tenant_id));
//   RETURN_IF_ERROR(staging.ComputeDiff(spec));   // spec: see DiffSpec (kFullSync/kUpsertOnly/kExact)
//   ASSIGN_OR_RETURN(DiffCounts counts, staging.Counts());
//   ASSIGN_OR_RETURN(auto conflicts, staging.SeatConflicts(false, 100));  // must be empty
//   preview: staging.Examples(n) / staging.StreamDiff(fn) / staging.RenderDiffCsv(write)
//   apply:   WriteSnapshotFromCursor(txn, tenant, writer-sink)   (importer.h: backup first)
//            staging.Apply({...})
//
// A first import (the tenant locked and empty, not a preview) may instead COPY its valid rows
// straight into roster.people with OpenDirectWriter(): no diff, nothing to apply; when its
// needs_staging() is set after Finish(), roll back and go the way above.
//
// Restore (kExact): stage every person of the snapshot with StagedKeep{} (nothing kept) and
// source_integration_id/seat/attributes as in the snapshot; DiffSpec{.mode = kExact}. The
// roster then equals the staged rows exactly (people not staged are deleted).
// BulkUpsertPeople (kUpsertOnly): stage with StagedKeep{.seat = true} and
// DiffSpec{.mode = kUpsertOnly, .replace_attributes = true}: nobody is removed.
//
// Staging and diff tables are TEMP ... ON COMMIT DROP, so one StagingTable per transaction
// (for a tenant without people, roster_diff is a TEMP VIEW of the staging table, dropped with it).
// Diff kinds (roster_diff.kind): "added", "updated", "deleted", "deactivated". Staged rows
// that change nothing are not in roster_diff (Counts().unchanged is derived: valid staged rows
// minus added and updated), so a re-import of a mostly unchanged file writes only its changes.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "rostersync/v1/common.pb.h"
#include "rostersync/v1/roster.pb.h"

namespace rostersync::roster {

// Which fields of a staged row are NOT given and are kept from the person already in the
// roster (a new person gets '' / employee / no seat).
struct StagedKeep {
  bool email = false;        // the file has no email column
  bool person_type = false;  // the file has no person_type column
  bool seat = false;         // no seat given (file without seat column, or an empty cell)
};

class StagingWriter {
 public:
  virtual ~StagingWriter() = default;
  // `person.person_id` is the key; updated_at and tenant_id are ignored.
  // `key_from_email`: the key is the lowercased email (names the column of a duplicate).
  virtual absl::Status Add(const v1::Person& person, int64_t line, const StagedKeep& keep,
                           bool key_from_email = false) = 0;
  // A key present in the file whose row is invalid: neither applied nor removed. `seat` (the
  // row's non-empty seat, if any) only takes part in the within-file duplicate check.
  virtual absl::Status AddInvalidKey(const std::string& person_id, int64_t line,
                                     bool key_from_email = false,
                                     const std::string& seat = "") = 0;
  // Ends the COPY. Must be called before anything else is done on the transaction.
  virtual absl::Status Finish() = 0;
  virtual int64_t rows() const = 0;
};

// The valid rows of a tenant's first import, COPYed straight into roster.people
// (StagingTable::OpenDirectWriter). Invalid rows' keys and seats are kept in memory, at most
// kMaxDirectInvalidKeys (a few MB), for the repeat check at Finish(). A repeat among the
// valid rows is known only when the COPY ends: the server refuses it at the row and discards
// the rest, and libpq reports it at the end of the COPY.
class DirectWriter : public StagingWriter {
 public:
  // After Finish(): why these rows must be imported through the staging table after all (""
  // when they need not): a key or seat repeats in the file (the within-file duplicate check
  // reports each repeat with both lines), or too many invalid rows to check in memory. The
  // transaction must then be rolled back: roster.people holds part of the file, and the
  // transaction may be aborted.
  virtual const std::string& needs_staging() const = 0;
};
inline constexpr size_t kMaxDirectInvalidKeys = 100000;

enum class ApplyMode {
  kFullSync,    // staged rows upserted; absent people in scope per `policy`
  kUpsertOnly,  // staged rows upserted; nobody removed
  kExact,       // the roster becomes exactly the staged rows (others deleted)
};

struct DiffSpec {
  ApplyMode mode = ApplyMode::kFullSync;
  // kFullSync: DELETE deletes, DEACTIVATE/UNSPECIFIED deactivates (active ones), KEEP keeps.
  v1::SyncPolicy policy = v1::SYNC_POLICY_UNSPECIFIED;
  // kFullSync scope: only absent people whose source_integration_id equals this are removed.
  std::string integration_id;
  // false: the staged attributes replace only `attribute_columns` (file columns), other
  // attributes are kept; true: the staged map is the person's whole map.
  bool replace_attributes = false;
  std::vector<std::string> attribute_columns;
};

struct DiffCounts {
  int64_t added = 0, updated = 0, unchanged = 0, deleted = 0, deactivated = 0;
  int64_t removals() const { return deleted + deactivated; }
};

// A staged row that repeats the person key (`seat` false) or the seat (`seat` true) of the
// staged row on `first_line`.
struct InFileDuplicate {
  int64_t line = 0;
  int64_t first_line = 0;
  bool seat = false;
  std::string value;  // the key or the seat
  bool key_from_email = false;
};

struct ApplyOptions {
  // Removals are not applied but stored in roster.held_removals under `import_id`.
  bool hold_removals = false;
  std::string import_id;
};

class StagingTable {
 public:
  static absl::StatusOr<StagingTable> Create(pqxx::work& txn, const std::string& tenant_id);

  absl::StatusOr<std::unique_ptr<StagingWriter>> OpenWriter();
  // A first import: the tenant has nobody (the caller holds RosterStore::LockTenant and saw
  // no people after taking it), so every valid row is an add, and staging the rows to INSERT
  // them again writes the file twice (at 1M rows that INSERT was as long as the COPY). This
  // writer COPYs the valid rows straight into roster.people, as the staged diff would insert
  // them. The primary key and the seat index refuse a repeat among the valid rows; the
  // invalid rows' keys and seats are staged at Finish() and checked against both. Apply,
  // ComputeDiff and InFileDuplicates are not for this transaction; see DirectWriter for when
  // it must be rolled back.
  absl::StatusOr<std::unique_ptr<DirectWriter>> OpenDirectWriter(
      size_t max_invalid_keys = kMaxDirectInvalidKeys);
  // Within-file duplicates, found in SQL so that memory does not grow with the file: every
  // staged row (valid or not) whose person key, or non-empty seat, an earlier line already
  // has. Those rows are marked invalid (they take no part in the diff); `fn` gets each, in
  // line order (person before seat), through a cursor. `newly_invalid`: rows that were valid.
  // Call after the writer finished and before ComputeDiff.
  absl::Status InFileDuplicates(const std::function<absl::Status(const InFileDuplicate&)>& fn,
                                int64_t* newly_invalid);
  // Builds the diff table. Take RosterStore::LockTenant first when the diff will be applied.
  absl::Status ComputeDiff(const DiffSpec& spec);
  absl::StatusOr<DiffCounts> Counts();
  // Seats given by staged rows that someone else holds after the change (`removals_held`:
  // people to be deleted keep their seats). RowError on the assigning row's line.
  absl::StatusOr<std::vector<v1::RowError>> SeatConflicts(bool removals_held, int limit);
  // The first `per_kind` changes of each kind (file order, then person_id); unchanged rows
  // are not changes and are not in the diff.
  absl::StatusOr<std::vector<v1::PersonChange>> Examples(int per_kind);
  // Every change (unchanged rows excluded), through a cursor: added, updated, deactivated,
  // deleted, each in file order then person_id.
  absl::Status StreamDiff(const std::function<absl::Status(const v1::PersonChange&)>& fn);
  // StreamDiff as CSV (kDiffCsvHeader; after-state, or the removed state for deleted).
  absl::Status RenderDiffCsv(const std::function<absl::Status(std::string_view)>& write);
  absl::Status Apply(const ApplyOptions& options);

 private:
  StagingTable(pqxx::work& txn, std::string tenant_id)
      : txn_(&txn), tenant_id_(std::move(tenant_id)) {}
  // The index previews read the diff by (kind, line), built on first use.
  absl::Status EnsureDiffIndexes();

  pqxx::work* txn_;
  std::string tenant_id_;
  bool diffed_ = false;
  bool diff_is_view_ = false;  // the tenant had nobody: roster_diff is a view of the staging
  bool duplicates_checked_ = false;  // InFileDuplicates ran (repeated keys and seats invalid)
  // Valid rows in the staging table (written by the writer, less the duplicates invalidated).
  std::shared_ptr<int64_t> valid_rows_ = std::make_shared<int64_t>(0);
  bool diff_indexed_ = false;
};

inline constexpr char kDiffCsvHeader[] =
    "change,person_id,line,changed_fields,email,first_name,last_name,language,active,"
    "person_type,seat,attributes_json,source_integration_id";

// Streams the tenant's whole roster (sorted by person_id) as a snapshot CSV (roster_csv.h)
// through a server-side cursor, `batch` rows at a time: memory does not grow with the roster.
// Any transaction: the importer streams it from a REPEATABLE READ one on a second connection
// that imported the snapshot of the importing transaction (BackgroundSnapshot, importer.cc).
absl::Status StreamSnapshot(pqxx::transaction_base& txn, const std::string& tenant_id,
                            const std::function<absl::Status(std::string_view)>& write,
                            int batch = 5000);

struct HeldApproval {
  int64_t deleted = 0;
  int64_t deactivated = 0;
  int64_t skipped = 0;  // held people changed or gone since the import
};
// Applies the removals held under `import_id` (roster.held_removals). A held person is
// removed only when still present with the updated_at recorded when held; people changed
// since (reappeared in a later file, edited, seat assigned) are skipped.
absl::StatusOr<HeldApproval> ApplyHeldRemovals(pqxx::work& txn, const std::string& tenant_id,
                                               const std::string& import_id);

}  // namespace rostersync::roster
