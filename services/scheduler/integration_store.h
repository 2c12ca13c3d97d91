#pragma once

// The scheduler's PostgreSQL schema ("scheduler") and its integrations table.
// Runs, run steps and the outbox live in run_store.h. Every function here runs inside a
// caller's transaction (PgPool::Transact), so a run state change and its outbox job commit
// together; libpqxx exceptions propagate to Transact, which turns them into statuses.
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pg.h"
#include "rostersync/v1/scheduler.pb.h"

namespace rostersync::scheduler {

inline constexpr char kSchema[] = "scheduler";

std::vector<Migration> SchedulerMigrations();
// ApplyMigrations(pool, "scheduler", SchedulerMigrations()).
absl::Status ApplySchedulerMigrations(PgPool& pool);

// An integration as stored: the definition (no secret in it) and the sealed credentials.
struct StoredIntegration {
  v1::Integration integration;     // credential_kind, created/updated/next_run_at filled in
  std::string sealed_credentials;  // AES-256-GCM blob (common/sealing.h); never returned
};

class IntegrationStore {
 public:
  static absl::Status Insert(pqxx::work& txn, const StoredIntegration& stored);
  // NOT_FOUND when it does not exist or belongs to another tenant.
  static absl::StatusOr<StoredIntegration> Get(pqxx::work& txn, const std::string& tenant_id,
                                               const std::string& integration_id,
                                               bool for_update = false);
  // Ordered by integration_id, those after `after_id` (exclusive; "" = from the start).
  static absl::StatusOr<std::vector<v1::Integration>> List(pqxx::work& txn,
                                                           const std::string& tenant_id,
                                                           const std::string& after_id, int limit);
  // Rewrites every column from `stored` (tenant_id and integration_id select the row).
  static absl::Status Update(pqxx::work& txn, const StoredIntegration& stored);
  // Active integrations with a schedule whose next_run_at <= now, locked FOR UPDATE SKIP
  // LOCKED so two replicas do not both take the same one.
  static absl::StatusOr<std::vector<StoredIntegration>> LockDue(pqxx::work& txn, absl::Time now,
                                                                int limit);
  // (tenant_id, integration_id) of every integration (of `tenant_id` when non-empty) after
  // `after_id` in integration_id order, at most `limit`.
  static absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ListIds(
      pqxx::work& txn, const std::string& tenant_id, const std::string& after_id, int limit);
  static absl::Status SetSealedCredentials(pqxx::work& txn, const std::string& integration_id,
                                           const std::string& sealed_credentials);
  static absl::Status SetNextRunAt(pqxx::work& txn, const std::string& integration_id,
                                   std::optional<absl::Time> next_run_at);
};

// Helpers shared with run_store.cc: absl::Time <-> microseconds since the epoch as stored
// through the scheduler.ts()/scheduler.us() SQL functions (-1 = NULL).
int64_t ToMicrosOrNull(std::optional<absl::Time> t);
std::optional<absl::Time> FromMicrosOrNull(int64_t us);

}  // namespace rostersync::scheduler
