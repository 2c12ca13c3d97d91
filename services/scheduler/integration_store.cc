#include "services/scheduler/integration_store.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/time_util.h"

namespace rostersync::scheduler {
namespace {

constexpr char kSchemaV1[] = R"sql(
CREATE FUNCTION scheduler.ts(us bigint) RETURNS timestamptz LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN us IS NULL OR us < 0 THEN NULL
              ELSE timestamptz 'epoch' + us * interval '1 microsecond' END
$$;
CREATE FUNCTION scheduler.us(t timestamptz) RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN t IS NULL THEN -1 ELSE (extract(epoch FROM t) * 1000000)::bigint END
$$;

CREATE TABLE scheduler.integrations (
  integration_id     text PRIMARY KEY,
  tenant_id          text NOT NULL,
  name               text NOT NULL,
  direction          integer NOT NULL,
  definition         bytea NOT NULL,      -- serialized rostersync.v1.Integration, no secret
  sealed_credentials bytea NOT NULL,      -- AES-256-GCM under the master key
  credential_kind    integer NOT NULL,
  schedule           text NOT NULL DEFAULT '',
  time_zone          text NOT NULL DEFAULT 'UTC',
  active             boolean NOT NULL DEFAULT true,
  next_run_at        timestamptz,
  created_at         timestamptz NOT NULL,
  updated_at         timestamptz NOT NULL
);
CREATE INDEX integrations_tenant ON scheduler.integrations (tenant_id, integration_id);
CREATE INDEX integrations_due ON scheduler.integrations (next_run_at)
  WHERE active AND schedule <> '' AND next_run_at IS NOT NULL;

CREATE TABLE scheduler.runs (
  run_id            text PRIMARY KEY,
  tenant_id         text NOT NULL,
  integration_id    text NOT NULL REFERENCES scheduler.integrations (integration_id),
  direction         integer NOT NULL,
  state             integer NOT NULL,
  trigger           integer NOT NULL,
  error             text NOT NULL DEFAULT '',
  source_file_id    text NOT NULL DEFAULT '',
  export_file_id    text NOT NULL DEFAULT '',
  remote_path       text NOT NULL DEFAULT '',
  bytes_transferred bigint NOT NULL DEFAULT 0,
  import_summary    bytea,                -- serialized rostersync.v1.ImportSummary
  current_job_id    text NOT NULL DEFAULT '',
  scheduled_for     timestamptz,          -- the schedule slot; NULL for manual runs
  created_at        timestamptz NOT NULL,
  updated_at        timestamptz NOT NULL,
  finished_at       timestamptz,
  CONSTRAINT runs_schedule_slot UNIQUE (integration_id, scheduled_for)
);
CREATE INDEX runs_tenant_created ON scheduler.runs (tenant_id, created_at DESC, run_id DESC);
CREATE INDEX runs_in_progress ON scheduler.runs (state) WHERE finished_at IS NULL;

CREATE TABLE scheduler.run_steps (
  id     bigserial PRIMARY KEY,
  run_id text NOT NULL REFERENCES scheduler.runs (run_id) ON DELETE CASCADE,
  state  integer NOT NULL,
  detail text NOT NULL DEFAULT '',
  at     timestamptz NOT NULL
);
CREATE INDEX run_steps_run ON scheduler.run_steps (run_id, id);

CREATE TABLE scheduler.outbox (
  id         bigserial PRIMARY KEY,
  stream     text NOT NULL,
  payload    bytea NOT NULL,
  created_at timestamptz NOT NULL,
  sent_at    timestamptz
);
CREATE INDEX outbox_unsent ON scheduler.outbox (id) WHERE sent_at IS NULL;
)sql";

constexpr char kSelectColumns[] =
    "integration_id, tenant_id, name, direction, definition, sealed_credentials, "
    "credential_kind, schedule, time_zone, active, scheduler.us(next_run_at) AS next_run_us, "
    "scheduler.us(created_at) AS created_us, scheduler.us(updated_at) AS updated_us";

absl::StatusOr<StoredIntegration> FromRow(const pqxx::row& row) {
  StoredIntegration out;
  pqxx::binarystring definition(row["definition"]);
  if (!out.integration.ParseFromArray(definition.data(), static_cast<int>(definition.size()))) {
    return absl::DataLossError(absl::StrCat("scheduler.integrations: definition of ",
                                            row["integration_id"].as<std::string>(),
                                            " does not parse"));
  }
  v1::Integration& in = out.integration;
  in.set_integration_id(row["integration_id"].as<std::string>());
  in.set_tenant_id(row["tenant_id"].as<std::string>());
  in.set_name(row["name"].as<std::string>());
  in.set_direction(static_cast<v1::RunDirection>(row["direction"].as<int>()));
  in.set_credential_kind(static_cast<v1::CredentialKind>(row["credential_kind"].as<int>()));
  in.set_schedule(row["schedule"].as<std::string>());
  in.set_time_zone(row["time_zone"].as<std::string>());
  in.set_active(row["active"].as<bool>());
  if (auto next = FromMicrosOrNull(row["next_run_us"].as<int64_t>())) {
    *in.mutable_next_run_at() = ToProtoTime(*next);
  } else {
    in.clear_next_run_at();
  }
  *in.mutable_created_at() = ToProtoTime(absl::FromUnixMicros(row["created_us"].as<int64_t>()));
  *in.mutable_updated_at() = ToProtoTime(absl::FromUnixMicros(row["updated_us"].as<int64_t>()));
  out.sealed_credentials = pqxx::binarystring(row["sealed_credentials"]).str();
  return out;
}

// The definition column holds the integration without its output-only fields.
std::string Definition(const v1::Integration& in) {
  v1::Integration copy = in;
  copy.clear_created_at();
  copy.clear_updated_at();
  copy.clear_next_run_at();
  return copy.SerializeAsString();
}

int64_t OptionalMicros(const v1::Integration& in) {
  return in.has_next_run_at() ? absl::ToUnixMicros(FromProtoTime(in.next_run_at())) : -1;
}

}  // namespace

int64_t ToMicrosOrNull(std::optional<absl::Time> t) {
  return t.has_value() ? absl::ToUnixMicros(*t) : -1;
}

std::optional<absl::Time> FromMicrosOrNull(int64_t us) {
  if (us < 0) return std::nullopt;
  return absl::FromUnixMicros(us);
}

std::vector<Migration> SchedulerMigrations() {
  return {Migration{1, "integrations, runs, run steps, outbox", kSchemaV1}};
}

absl::Status ApplySchedulerMigrations(PgPool& pool) {
  return ApplyMigrations(pool, kSchema, SchedulerMigrations());
}

absl::Status IntegrationStore::Insert(pqxx::work& txn, const StoredIntegration& stored) {
  const v1::Integration& in = stored.integration;
  txn.exec_params(
      "INSERT INTO scheduler.integrations (integration_id, tenant_id, name, direction, "
      "definition, sealed_credentials, credential_kind, schedule, time_zone, active, "
      "next_run_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
      "scheduler.ts($11), scheduler.ts($12), scheduler.ts($13))",
      in.integration_id(), in.tenant_id(), in.name(), static_cast<int>(in.direction()),
      pqxx::binarystring(Definition(in)), pqxx::binarystring(stored.sealed_credentials),
      static_cast<int>(in.credential_kind()), in.schedule(), in.time_zone(), in.active(),
      OptionalMicros(in), absl::ToUnixMicros(FromProtoTime(in.created_at())),
      absl::ToUnixMicros(FromProtoTime(in.updated_at())));
  return absl::OkStatus();
}

absl::StatusOr<StoredIntegration> IntegrationStore::Get(pqxx::work& txn,
                                                        const std::string& tenant_id,
                                                        const std::string& integration_id,
                                                        bool for_update) {
  pqxx::result r = txn.exec_params(
      absl::StrCat("SELECT ", kSelectColumns,
                   " FROM scheduler.integrations WHERE tenant_id = $1 AND integration_id = $2",
                   for_update ? " FOR UPDATE" : ""),
      tenant_id, integration_id);
  if (r.empty()) {
    return absl::NotFoundError(absl::StrCat("integration ", integration_id, " not found"));
  }
  return FromRow(r[0]);
}

absl::StatusOr<std::vector<v1::Integration>> IntegrationStore::List(pqxx::work& txn,
                                                                    const std::string& tenant_id,
                                                                    const std::string& after_id,
                                                                    int limit) {
  pqxx::result r = txn.exec_params(
      absl::StrCat("SELECT ", kSelectColumns,
                   " FROM scheduler.integrations WHERE tenant_id = $1 AND integration_id > $2 "
                   "ORDER BY integration_id LIMIT $3"),
      tenant_id, after_id, limit);
  std::vector<v1::Integration> out;
  for (const pqxx::row& row : r) {
    auto stored = FromRow(row);
    if (!stored.ok()) return stored.status();
    out.push_back(std::move(stored->integration));
  }
  return out;
}

absl::Status IntegrationStore::Update(pqxx::work& txn, const StoredIntegration& stored) {
  const v1::Integration& in = stored.integration;
  pqxx::result r = txn.exec_params(
      "UPDATE scheduler.integrations SET name = $3, direction = $4, definition = $5, "
      "sealed_credentials = $6, credential_kind = $7, schedule = $8, time_zone = $9, "
      "active = $10, next_run_at = scheduler.ts($11), updated_at = scheduler.ts($12) "
      "WHERE tenant_id = $1 AND integration_id = $2",
      in.tenant_id(), in.integration_id(), in.name(), static_cast<int>(in.direction()),
      pqxx::binarystring(Definition(in)), pqxx::binarystring(stored.sealed_credentials),
      static_cast<int>(in.credential_kind()), in.schedule(), in.time_zone(), in.active(),
      OptionalMicros(in), absl::ToUnixMicros(FromProtoTime(in.updated_at())));
  if (r.affected_rows() == 0) {
    return absl::NotFoundError(absl::StrCat("integration ", in.integration_id(), " not found"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<StoredIntegration>> IntegrationStore::LockDue(pqxx::work& txn,
                                                                         absl::Time now,
                                                                         int limit) {
  pqxx::result r = txn.exec_params(
      absl::StrCat("SELECT ", kSelectColumns,
                   " FROM scheduler.integrations WHERE active AND schedule <> '' AND "
                   "next_run_at IS NOT NULL AND next_run_at <= scheduler.ts($1) "
                   "ORDER BY next_run_at LIMIT $2 FOR UPDATE SKIP LOCKED"),
      absl::ToUnixMicros(now), limit);
  std::vector<StoredIntegration> out;
  for (const pqxx::row& row : r) {
    auto stored = FromRow(row);
    if (!stored.ok()) return stored.status();
    out.push_back(std::move(*stored));
  }
  return out;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> IntegrationStore::ListIds(
    pqxx::work& txn, const std::string& tenant_id, const std::string& after_id, int limit) {
  pqxx::result r = txn.exec_params(
      "SELECT tenant_id, integration_id FROM scheduler.integrations "
      "WHERE ($1 = '' OR tenant_id = $1) AND integration_id > $2 "
      "ORDER BY integration_id LIMIT $3",
      tenant_id, after_id, limit);
  std::vector<std::pair<std::string, std::string>> out;
  for (const pqxx::row& row : r) {
    out.emplace_back(row[0].as<std::string>(), row[1].as<std::string>());
  }
  return out;
}

absl::Status IntegrationStore::SetSealedCredentials(pqxx::work& txn,
                                                    const std::string& integration_id,
                                                    const std::string& sealed_credentials) {
  txn.exec_params(
      "UPDATE scheduler.integrations SET sealed_credentials = $2 WHERE integration_id = $1",
      integration_id, pqxx::binarystring(sealed_credentials));
  return absl::OkStatus();
}

absl::Status IntegrationStore::SetNextRunAt(pqxx::work& txn, const std::string& integration_id,
                                            std::optional<absl::Time> next_run_at) {
  txn.exec_params(
      "UPDATE scheduler.integrations SET next_run_at = scheduler.ts($2) "
      "WHERE integration_id = $1",
      integration_id, ToMicrosOrNull(next_run_at));
  return absl::OkStatus();
}

}  // namespace rostersync::scheduler
