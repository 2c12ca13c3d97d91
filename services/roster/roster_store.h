#pragma once

// The roster's PostgreSQL schema ("roster") and every query on it. Everything is scoped by
// tenant. Seats are unique per tenant (partial unique index where seat <> '').
//
// Tables:
//   roster.people   (tenant_id, person_id) PK, email, first_name, last_name, language, active,
//                   person_type (lowercase name), seat, attributes jsonb,
//                   source_integration_id, updated_at
//   roster.imports  import history: import_id PK, job_id UNIQUE, tenant, integration, run,
//                   source/backup file ids, status, counts, errors jsonb, message, times
//   roster.exports  rendered exports keyed by job_id (idempotent OP_EXPORT)
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/pg.h"
#include "rostersync/v1/roster.pb.h"

namespace rostersync::roster {

inline constexpr char kSchema[] = "roster";

std::vector<Migration> RosterMigrations();

struct PeopleFilter {
  v1::PersonType person_type = v1::PERSON_TYPE_UNSPECIFIED;  // UNSPECIFIED: every type
  std::optional<bool> active;
  std::string after_person_id;  // keyset: people with person_id > this
  int limit = 100;
  std::map<std::string, std::string> attributes;  // each must equal the person's attribute
};

struct ImportsFilter {
  std::string integration_id;  // "" = every integration
  int64_t before_seq = 0;      // keyset: 0 = from the newest
  int limit = 50;
};

// The last good (APPLIED or HELD) import of an integration, for the import guards.
struct GoodImport {
  std::string import_id;
  int64_t rows_read = 0;
  std::set<std::string> headers;  // NormalizedHeaderSet of its file (empty when unknown)
};

struct ExportRecord {
  std::string job_id;
  std::string tenant_id;
  std::string file_id;
};

class RosterStore {
 public:
  explicit RosterStore(PgPool& pool) : pool_(pool) {}

  absl::Status Migrate();
  PgPool& pool() { return pool_; }

  // --- inside a caller's transaction ---
  // Serializes bulk changes and seat assignments of one tenant until the transaction ends.
  static absl::Status LockTenant(pqxx::work& txn, const std::string& tenant_id);
  // LockTenant without waiting: false (nothing taken) when another transaction holds it.
  static absl::StatusOr<bool> TryLockTenant(pqxx::work& txn, const std::string& tenant_id);
  // Whether the tenant has anybody in its roster.
  static absl::StatusOr<bool> HasPeople(pqxx::work& txn, const std::string& tenant_id);
  // The tenant's people sorted by person_id through a server-side cursor, `batch` at a time
  // (memory does not grow with the roster); the sorted distinct attribute names of the roster.
  static absl::Status StreamPeople(pqxx::work& txn, const std::string& tenant_id,
                                   const std::function<absl::Status(const v1::Person&)>& fn,
                                   int batch = 2000);
  static absl::StatusOr<std::vector<std::string>> AttributeNames(pqxx::work& txn,
                                                                 const std::string& tenant_id);
  // The whole roster, sorted by person_id.
  static absl::StatusOr<std::vector<v1::Person>> LoadPeople(pqxx::work& txn,
                                                            const std::string& tenant_id);
  static absl::Status InsertImport(pqxx::work& txn, const v1::ImportSummary& summary);
  static absl::StatusOr<std::optional<v1::ImportSummary>> FindImportByJob(
      pqxx::work& txn, const std::string& tenant_id, const std::string& job_id);

  // Import pipeline (importer.h): header set of an import's file, for the header guard.
  static absl::Status SetImportHeaders(pqxx::work& txn, const std::string& import_id,
                                       const std::set<std::string>& headers);
  static absl::StatusOr<std::optional<GoodImport>> LastGoodImport(
      pqxx::work& txn, const std::string& tenant_id, const std::string& integration_id);
  // Locks the import row (FOR UPDATE); `seq` receives its position in the history.
  static absl::StatusOr<std::optional<v1::ImportSummary>> GetImportForUpdate(
      pqxx::work& txn, const std::string& tenant_id, const std::string& import_id,
      int64_t* seq);
  // An APPLIED or HELD import of the integration recorded after `seq`.
  static absl::StatusOr<bool> NewerGoodImport(pqxx::work& txn, const std::string& tenant_id,
                                              const std::string& integration_id, int64_t seq);
  // Rewrites status, deleted, deactivated, message and fields 20-26 of a recorded import.
  static absl::Status UpdateImportOutcome(pqxx::work& txn, const v1::ImportSummary& summary);

  // --- own transactions ---
  absl::StatusOr<std::optional<v1::ImportSummary>> FindImportByJob(const std::string& tenant_id,
                                                                   const std::string& job_id);
  absl::StatusOr<std::vector<v1::Person>> LoadPeople(const std::string& tenant_id);
  absl::StatusOr<v1::Person> GetPerson(const std::string& tenant_id, const std::string& person_id);
  absl::StatusOr<std::vector<v1::Person>> ListPeople(const std::string& tenant_id,
                                                     const PeopleFilter& filter);
  // Empty seat releases. ALREADY_EXISTS naming the holder when another person has the seat;
  // NOT_FOUND when the person does not exist.
  absl::StatusOr<v1::Person> AssignSeat(const std::string& tenant_id, const std::string& person_id,
                                        const std::string& seat);
  // Newest first; `seqs` receives each import's keyset position.
  absl::StatusOr<std::vector<v1::ImportSummary>> ListImports(const std::string& tenant_id,
                                                             const ImportsFilter& filter,
                                                             std::vector<int64_t>* seqs);
  absl::StatusOr<v1::ImportSummary> GetImport(const std::string& tenant_id,
                                              const std::string& import_id);
  absl::StatusOr<std::optional<ExportRecord>> FindExport(const std::string& tenant_id,
                                                         const std::string& job_id);
  // Records an export; when one already exists for the job, returns that one.
  absl::StatusOr<ExportRecord> RecordExport(const ExportRecord& record);

 private:
  PgPool& pool_;
};

}  // namespace rostersync::roster
