#include "services/roster/roster_store.h"

#include <map>
#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "common/time_util.h"
#include "services/roster/person_validation.h"

namespace rostersync::roster {
namespace {

constexpr char kPersonColumns[] =
    "tenant_id, person_id, email, first_name, last_name, language, active, person_type, seat, "
    "attributes::text, source_integration_id, "
    "(extract(epoch from updated_at) * 1000000)::bigint";

constexpr char kImportColumns[] =
    "import_id, tenant_id, integration_id, run_id, job_id, source_file_id, backup_file_id, "
    "status, rows_read, added, updated, deleted, deactivated, unchanged, rejected_rows, "
    "errors::text, message, (extract(epoch from started_at) * 1000000)::bigint, "
    "(extract(epoch from finished_at) * 1000000)::bigint, seq, source, extra";

// Microseconds since the epoch -> timestamptz, exactly.
constexpr char kMicrosToTs[] = "(timestamptz 'epoch' + $%d::bigint * interval '1 microsecond')";


v1::Person PersonFromRow(const pqxx::row& r) {
  v1::Person p;
  p.set_tenant_id(r[0].as<std::string>());
  p.set_person_id(r[1].as<std::string>());
  p.set_email(r[2].as<std::string>());
  p.set_first_name(r[3].as<std::string>());
  p.set_last_name(r[4].as<std::string>());
  p.set_language(r[5].as<std::string>());
  p.set_active(r[6].as<bool>());
  p.set_person_type(ParsePersonType(r[7].as<std::string>()).value_or(v1::PERSON_TYPE_OTHER));
  p.set_seat(r[8].as<std::string>());
  nlohmann::json attrs = nlohmann::json::parse(r[9].as<std::string>(), nullptr, false);
  if (attrs.is_object()) {
    for (const auto& [k, v] : attrs.items()) {
      if (v.is_string()) (*p.mutable_attributes())[k] = v.get<std::string>();
    }
  }
  p.set_source_integration_id(r[10].as<std::string>());
  *p.mutable_updated_at() = ToProtoTime(absl::FromUnixMicros(r[11].as<int64_t>()));
  return p;
}

std::string ImportStatusName(v1::ImportStatus s) {
  switch (s) {
    case v1::IMPORT_STATUS_APPLIED:
      return "applied";
    case v1::IMPORT_STATUS_REJECTED:
      return "rejected";
    case v1::IMPORT_STATUS_FAILED:
      return "failed";
    case v1::IMPORT_STATUS_HELD:
      return "held";
    case v1::IMPORT_STATUS_PREVIEW:
      return "preview";
    default:
      return "unspecified";
  }
}

v1::ImportStatus ParseImportStatus(const std::string& s) {
  if (s == "applied") return v1::IMPORT_STATUS_APPLIED;
  if (s == "rejected") return v1::IMPORT_STATUS_REJECTED;
  if (s == "failed") return v1::IMPORT_STATUS_FAILED;
  if (s == "held") return v1::IMPORT_STATUS_HELD;
  if (s == "preview") return v1::IMPORT_STATUS_PREVIEW;
  return v1::IMPORT_STATUS_UNSPECIFIED;
}

std::string ErrorsJson(const v1::ImportSummary& s) {
  nlohmann::json arr = nlohmann::json::array();
  for (const v1::RowError& e : s.errors()) {
    arr.push_back(
        {{"line", e.line()}, {"column", e.column()}, {"value", e.value()}, {"reason", e.reason()}});
  }
  return arr.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Fields 20-26 of the summary, hex-encoded (see ImportFromRow).
std::string ExtraHex(const v1::ImportSummary& s) {
  v1::ImportSummary extra;
  extra.set_held(s.held());
  extra.set_held_reason(s.held_reason());
  extra.set_error_report_file_id(s.error_report_file_id());
  *extra.mutable_header_notes() = s.header_notes();
  extra.set_diff_file_id(s.diff_file_id());
  *extra.mutable_examples() = s.examples();
  if (s.has_approved_at()) *extra.mutable_approved_at() = s.approved_at();
  if (extra.ByteSizeLong() == 0) return "";
  return absl::BytesToHexString(extra.SerializeAsString());
}

v1::ImportSummary ImportFromRow(const pqxx::row& r, int64_t* seq) {
  v1::ImportSummary s;
  s.set_import_id(r[0].as<std::string>());
  s.set_tenant_id(r[1].as<std::string>());
  s.set_integration_id(r[2].as<std::string>());
  s.set_run_id(r[3].as<std::string>());
  s.set_job_id(r[4].as<std::string>());
  s.set_source_file_id(r[5].as<std::string>());
  s.set_backup_file_id(r[6].as<std::string>());
  s.set_status(ParseImportStatus(r[7].as<std::string>()));
  s.set_rows_read(r[8].as<int64_t>());
  s.set_added(r[9].as<int64_t>());
  s.set_updated(r[10].as<int64_t>());
  s.set_deleted(r[11].as<int64_t>());
  s.set_deactivated(r[12].as<int64_t>());
  s.set_unchanged(r[13].as<int64_t>());
  s.set_rejected_rows(r[14].as<int64_t>());
  nlohmann::json errs = nlohmann::json::parse(r[15].as<std::string>(), nullptr, false);
  if (errs.is_array()) {
    for (const auto& e : errs) {
      if (!e.is_object()) continue;
      v1::RowError* re = s.add_errors();
      re->set_line(e.value("line", int64_t{0}));
      re->set_column(e.value("column", std::string()));
      re->set_value(e.value("value", std::string()));
      re->set_reason(e.value("reason", std::string()));
    }
  }
  s.set_message(r[16].as<std::string>());
  *s.mutable_started_at() = ToProtoTime(absl::FromUnixMicros(r[17].as<int64_t>()));
  *s.mutable_finished_at() = ToProtoTime(absl::FromUnixMicros(r[18].as<int64_t>()));
  if (seq != nullptr) *seq = r[19].as<int64_t>();
  s.set_source(r[20].as<std::string>());
  // Fields 20-26 (held, held_reason, error_report_file_id, header_notes, diff_file_id,
  // examples, approved_at), stored as a hex-encoded ImportSummary holding only those.
  if (!r[21].is_null() && !r[21].as<std::string>().empty()) {
    v1::ImportSummary extra;
    if (extra.ParseFromString(absl::HexStringToBytes(r[21].as<std::string>()))) s.MergeFrom(extra);
  }
  return s;
}


// The advisory lock that serializes a tenant's bulk changes and seat assignments.
std::string TenantLockKey(const std::string& tenant_id) {
  return absl::StrCat("roster/", tenant_id);
}

}  // namespace

std::vector<Migration> RosterMigrations() {
  return {
      {1, "people, imports, exports", R"sql(
CREATE TABLE roster.people (
  tenant_id text NOT NULL,
  person_id text NOT NULL,
  email text NOT NULL DEFAULT '',
  first_name text NOT NULL DEFAULT '',
  last_name text NOT NULL DEFAULT '',
  language text NOT NULL DEFAULT '',
  active boolean NOT NULL DEFAULT true,
  person_type text NOT NULL DEFAULT 'employee',
  seat text NOT NULL DEFAULT '',
  attributes jsonb NOT NULL DEFAULT '{}'::jsonb,
  source_integration_id text NOT NULL DEFAULT '',
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, person_id)
);
CREATE UNIQUE INDEX people_seat_unique ON roster.people (tenant_id, seat) WHERE seat <> '';
CREATE INDEX people_by_type ON roster.people (tenant_id, person_type, person_id);

CREATE TABLE roster.imports (
  seq bigserial NOT NULL UNIQUE,
  import_id text PRIMARY KEY,
  tenant_id text NOT NULL,
  integration_id text NOT NULL DEFAULT '',
  run_id text NOT NULL DEFAULT '',
  job_id text NOT NULL UNIQUE,
  source_file_id text NOT NULL DEFAULT '',
  backup_file_id text NOT NULL DEFAULT '',
  status text NOT NULL,
  rows_read bigint NOT NULL DEFAULT 0,
  added bigint NOT NULL DEFAULT 0,
  updated bigint NOT NULL DEFAULT 0,
  deleted bigint NOT NULL DEFAULT 0,
  deactivated bigint NOT NULL DEFAULT 0,
  unchanged bigint NOT NULL DEFAULT 0,
  rejected_rows bigint NOT NULL DEFAULT 0,
  errors jsonb NOT NULL DEFAULT '[]'::jsonb,
  message text NOT NULL DEFAULT '',
  started_at timestamptz NOT NULL,
  finished_at timestamptz NOT NULL
);
CREATE INDEX imports_by_tenant ON roster.imports (tenant_id, seq DESC);

CREATE TABLE roster.exports (
  job_id text PRIMARY KEY,
  tenant_id text NOT NULL,
  file_id text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
)sql"},
      // Version 10 (not 2) so that it does not collide with the import pipeline's migrations.
      {2, "imports: held/preview details, header set; held removals", R"sql(
ALTER TABLE roster.imports ADD COLUMN IF NOT EXISTS extra text NOT NULL DEFAULT '';
ALTER TABLE roster.imports ADD COLUMN IF NOT EXISTS headers jsonb NOT NULL DEFAULT '[]'::jsonb;
CREATE INDEX IF NOT EXISTS imports_by_integration
  ON roster.imports (tenant_id, integration_id, seq DESC);
CREATE TABLE IF NOT EXISTS roster.held_removals (
  import_id text NOT NULL,
  tenant_id text NOT NULL,
  person_id text NOT NULL,
  action text NOT NULL,               -- 'deleted' or 'deactivated'
  person_updated_at timestamptz NOT NULL,
  PRIMARY KEY (import_id, person_id)
);
)sql"},
      {3, "imports.source", R"sql(
ALTER TABLE roster.imports ADD COLUMN IF NOT EXISTS source text NOT NULL DEFAULT '';
)sql"},
      // people_by_type cost more than the rest of a large import's INSERT (measured at 1M
      // people: 2.6 s of backend CPU with the primary key alone, 5.9 s with it; a "C" collation
      // on its columns saved about 5%), and every non-HOT update paid for it too. ListPeople's
      // type filter now reads the tenant's primary-key range in person_id order, as its
      // attribute and active filters already did.
      {4, "drop people_by_type (import speed)", R"sql(
DROP INDEX IF EXISTS roster.people_by_type;
)sql"},
  };
}

absl::Status RosterStore::Migrate() { return ApplyMigrations(pool_, kSchema, RosterMigrations()); }

absl::Status RosterStore::LockTenant(pqxx::work& txn, const std::string& tenant_id) {
  txn.exec_params("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                  TenantLockKey(tenant_id));
  return absl::OkStatus();
}

absl::StatusOr<bool> RosterStore::TryLockTenant(pqxx::work& txn, const std::string& tenant_id) {
  pqxx::result r = txn.exec_params("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))",
                                   TenantLockKey(tenant_id));
  return r[0][0].as<bool>();
}

absl::StatusOr<bool> RosterStore::HasPeople(pqxx::work& txn, const std::string& tenant_id) {
  pqxx::result r = txn.exec_params(
      "SELECT EXISTS (SELECT 1 FROM roster.people WHERE tenant_id = $1)", tenant_id);
  return r[0][0].as<bool>();
}

absl::StatusOr<std::vector<v1::Person>> RosterStore::LoadPeople(pqxx::work& txn,
                                                                const std::string& tenant_id) {
  pqxx::result r =
      txn.exec_params(absl::StrCat("SELECT ", kPersonColumns,
                                   " FROM roster.people WHERE tenant_id = $1 ORDER BY person_id"),
                      tenant_id);
  std::vector<v1::Person> people;
  people.reserve(r.size());
  for (const auto& row : r) people.push_back(PersonFromRow(row));
  return people;
}

absl::Status RosterStore::StreamPeople(pqxx::work& txn, const std::string& tenant_id,
                                       const std::function<absl::Status(const v1::Person&)>& fn,
                                       int batch) {
  try {
    txn.exec_params(absl::StrCat("DECLARE roster_people_cursor NO SCROLL CURSOR FOR SELECT ",
                                 kPersonColumns,
                                 " FROM roster.people WHERE tenant_id = $1 ORDER BY person_id"),
                    tenant_id);
    absl::Status status;
    const std::string fetch = absl::StrCat("FETCH ", batch, " FROM roster_people_cursor");
    while (status.ok()) {
      pqxx::result r = txn.exec(fetch);
      if (r.empty()) break;
      for (const auto& row : r) {
        status = fn(PersonFromRow(row));
        if (!status.ok()) break;
      }
    }
    txn.exec("CLOSE roster_people_cursor");
    return status;
  } catch (const std::exception& e) {
    return StatusFromPqxx(e);
  }
}

absl::StatusOr<std::vector<std::string>> RosterStore::AttributeNames(
    pqxx::work& txn, const std::string& tenant_id) {
  std::set<std::string> names;  // bytewise order, as RenderExport sorts them
  try {
    pqxx::result r = txn.exec_params(
        "SELECT DISTINCT k FROM roster.people, jsonb_object_keys(attributes) AS k "
        "WHERE tenant_id = $1",
        tenant_id);
    for (const auto& row : r) names.insert(row[0].as<std::string>());
  } catch (const std::exception& e) {
    return StatusFromPqxx(e);
  }
  return std::vector<std::string>(names.begin(), names.end());
}

absl::Status RosterStore::InsertImport(pqxx::work& txn, const v1::ImportSummary& s) {
  std::string started = absl::StrFormat(kMicrosToTs, 18);
  std::string finished = absl::StrFormat(kMicrosToTs, 19);
  txn.exec_params(
      absl::StrCat("INSERT INTO roster.imports (import_id, tenant_id, integration_id, run_id, "
                   "job_id, source_file_id, backup_file_id, status, rows_read, added, updated, "
                   "deleted, deactivated, unchanged, rejected_rows, errors, message, "
                   "started_at, finished_at, source, extra) VALUES ($1, $2, $3, $4, $5, $6, $7, "
                   "$8, $9, $10, $11, $12, $13, $14, $15, $16::jsonb, $17, ",
                   started, ", ", finished, ", $20, $21)"),
      s.import_id(), s.tenant_id(), s.integration_id(), s.run_id(), s.job_id(), s.source_file_id(),
      s.backup_file_id(), ImportStatusName(s.status()), s.rows_read(), s.added(), s.updated(),
      s.deleted(), s.deactivated(), s.unchanged(), s.rejected_rows(), ErrorsJson(s), s.message(),
      absl::ToUnixMicros(FromProtoTime(s.started_at())),
      absl::ToUnixMicros(FromProtoTime(s.finished_at())), s.source(), ExtraHex(s));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<v1::ImportSummary>> RosterStore::FindImportByJob(
    pqxx::work& txn, const std::string& tenant_id, const std::string& job_id) {
  pqxx::result r =
      txn.exec_params(absl::StrCat("SELECT ", kImportColumns,
                                   " FROM roster.imports WHERE tenant_id = $1 AND job_id = $2"),
                      tenant_id, job_id);
  if (r.empty()) return std::optional<v1::ImportSummary>();
  return std::optional<v1::ImportSummary>(ImportFromRow(r[0], nullptr));
}

absl::Status RosterStore::SetImportHeaders(pqxx::work& txn, const std::string& import_id,
                                          const std::set<std::string>& headers) {
  nlohmann::json arr = nlohmann::json::array();
  for (const std::string& h : headers) arr.push_back(h);
  txn.exec_params("UPDATE roster.imports SET headers = $2::jsonb WHERE import_id = $1", import_id,
                  arr.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<GoodImport>> RosterStore::LastGoodImport(
    pqxx::work& txn, const std::string& tenant_id, const std::string& integration_id) {
  pqxx::result r = txn.exec_params(
      "SELECT import_id, rows_read, headers::text FROM roster.imports WHERE tenant_id = $1 "
      "AND integration_id = $2 AND status IN ('applied', 'held') AND source <> 'restore' "
      "ORDER BY seq DESC LIMIT 1",
      tenant_id, integration_id);
  if (r.empty()) return std::optional<GoodImport>();
  GoodImport g;
  g.import_id = r[0][0].as<std::string>();
  g.rows_read = r[0][1].as<int64_t>();
  nlohmann::json arr = nlohmann::json::parse(r[0][2].as<std::string>(), nullptr, false);
  if (arr.is_array()) {
    for (const auto& h : arr) {
      if (h.is_string()) g.headers.insert(h.get<std::string>());
    }
  }
  return std::optional<GoodImport>(std::move(g));
}

absl::StatusOr<std::optional<v1::ImportSummary>> RosterStore::GetImportForUpdate(
    pqxx::work& txn, const std::string& tenant_id, const std::string& import_id, int64_t* seq) {
  pqxx::result r = txn.exec_params(
      absl::StrCat("SELECT ", kImportColumns,
                   " FROM roster.imports WHERE tenant_id = $1 AND import_id = $2 FOR UPDATE"),
      tenant_id, import_id);
  if (r.empty()) return std::optional<v1::ImportSummary>();
  return std::optional<v1::ImportSummary>(ImportFromRow(r[0], seq));
}

absl::StatusOr<bool> RosterStore::NewerGoodImport(pqxx::work& txn, const std::string& tenant_id,
                                                  const std::string& integration_id,
                                                  int64_t seq) {
  pqxx::result r = txn.exec_params(
      "SELECT 1 FROM roster.imports WHERE tenant_id = $1 AND integration_id = $2 "
      "AND status IN ('applied', 'held') AND seq > $3 LIMIT 1",
      tenant_id, integration_id, seq);
  return !r.empty();
}

absl::Status RosterStore::UpdateImportOutcome(pqxx::work& txn, const v1::ImportSummary& s) {
  txn.exec_params(
      "UPDATE roster.imports SET status = $3, deleted = $4, deactivated = $5, message = $6, "
      "extra = $7 WHERE tenant_id = $1 AND import_id = $2",
      s.tenant_id(), s.import_id(), ImportStatusName(s.status()), s.deleted(), s.deactivated(),
      s.message(), ExtraHex(s));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<v1::ImportSummary>> RosterStore::FindImportByJob(
    const std::string& tenant_id, const std::string& job_id) {
  std::optional<v1::ImportSummary> out;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& txn) -> absl::Status {
    ASSIGN_OR_RETURN(out, FindImportByJob(txn, tenant_id, job_id));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<v1::Person>> RosterStore::LoadPeople(const std::string& tenant_id) {
  std::vector<v1::Person> people;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& txn) -> absl::Status {
    ASSIGN_OR_RETURN(people, LoadPeople(txn, tenant_id));
    return absl::OkStatus();
  }));
  return people;
}

absl::StatusOr<v1::Person> RosterStore::GetPerson(const std::string& tenant_id,
                                                  const std::string& person_id) {
  std::optional<v1::Person> person;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& txn) -> absl::Status {
    pqxx::result r =
        txn.exec_params(absl::StrCat("SELECT ", kPersonColumns,
                                     " FROM roster.people WHERE tenant_id = $1 AND person_id = $2"),
                        tenant_id, person_id);
    if (!r.empty()) person = PersonFromRow(r[0]);
    return absl::OkStatus();
  }));
  if (!person) {
    return absl::NotFoundError(absl::StrCat("person \"", person_id, "\" not found"));
  }
  return *person;
}

absl::StatusOr<std::vector<v1::Person>> RosterStore::ListPeople(const std::string& tenant_id,
                                                                const PeopleFilter& filter) {
  std::vector<v1::Person> people;
  const std::string type =
      filter.person_type == v1::PERSON_TYPE_UNSPECIFIED ? "" : PersonTypeName(filter.person_type);
  const std::string active = !filter.active ? "" : (*filter.active ? "true" : "false");
  nlohmann::json attributes = nlohmann::json::object();
  for (const auto& [name, value] : filter.attributes) attributes[name] = value;
  const std::string attributes_json =
      attributes.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& txn) -> absl::Status {
    pqxx::result r =
        txn.exec_params(absl::StrCat("SELECT ", kPersonColumns,
                                     " FROM roster.people WHERE tenant_id = $1 AND person_id > $2 "
                                     "AND ($3::text = '' OR person_type = $3::text) "
                                     "AND ($4::text = '' OR active = ($4::text = 'true')) "
                                     "AND attributes @> $6::jsonb "
                                     "ORDER BY person_id LIMIT $5::int"),
                        tenant_id, filter.after_person_id, type, active, filter.limit,
                        attributes_json);
    for (const auto& row : r) people.push_back(PersonFromRow(row));
    return absl::OkStatus();
  }));
  return people;
}

absl::StatusOr<v1::Person> RosterStore::AssignSeat(const std::string& tenant_id,
                                                   const std::string& person_id,
                                                   const std::string& seat) {
  std::optional<v1::Person> person;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& txn) -> absl::Status {
    RETURN_IF_ERROR(LockTenant(txn, tenant_id));
    if (!seat.empty()) {
      pqxx::result holder = txn.exec_params(
          "SELECT person_id FROM roster.people WHERE tenant_id = $1 AND seat = $2 "
          "AND person_id <> $3",
          tenant_id, seat, person_id);
      if (!holder.empty()) {
        return absl::AlreadyExistsError(absl::StrCat("seat \"", seat,
                                                     "\" is already held by person \"",
                                                     holder[0][0].as<std::string>(), "\""));
      }
    }
    pqxx::result r = txn.exec_params(
        absl::StrCat("UPDATE roster.people SET seat = $3, updated_at = CASE WHEN seat = $3 "
                     "THEN updated_at ELSE now() END "
                     "WHERE tenant_id = $1 AND person_id = $2 RETURNING ",
                     kPersonColumns),
        tenant_id, person_id, seat);
    if (r.empty()) {
      return absl::NotFoundError(absl::StrCat("person \"", person_id, "\" not found"));
    }
    person = PersonFromRow(r[0]);
    return absl::OkStatus();
  }));
  return *person;
}

absl::StatusOr<std::vector<v1::ImportSummary>> RosterStore::ListImports(
    const std::string& tenant_id, const ImportsFilter& filter, std::vector<int64_t>* seqs) {
  std::vector<v1::ImportSummary> out;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& txn) -> absl::Status {
    pqxx::result r =
        txn.exec_params(absl::StrCat("SELECT ", kImportColumns,
                                     " FROM roster.imports WHERE tenant_id = $1 "
                                     "AND ($2::text = '' OR integration_id = $2::text) "
                                     "AND ($3::bigint = 0 OR seq < $3::bigint) "
                                     "ORDER BY seq DESC LIMIT $4::int"),
                        tenant_id, filter.integration_id, filter.before_seq, filter.limit);
    for (const auto& row : r) {
      int64_t seq = 0;
      out.push_back(ImportFromRow(row, &seq));
      if (seqs != nullptr) seqs->push_back(seq);
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::ImportSummary> RosterStore::GetImport(const std::string& tenant_id,
                                                         const std::string& import_id) {
  std::optional<v1::ImportSummary> out;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& txn) -> absl::Status {
    pqxx::result r = txn.exec_params(
        absl::StrCat("SELECT ", kImportColumns,
                     " FROM roster.imports WHERE tenant_id = $1 AND import_id = $2"),
        tenant_id, import_id);
    if (!r.empty()) out = ImportFromRow(r[0], nullptr);
    return absl::OkStatus();
  }));
  if (!out) return absl::NotFoundError(absl::StrCat("import \"", import_id, "\" not found"));
  return *out;
}

absl::StatusOr<std::optional<ExportRecord>> RosterStore::FindExport(const std::string& tenant_id,
                                                                    const std::string& job_id) {
  std::optional<ExportRecord> out;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& txn) -> absl::Status {
    pqxx::result r =
        txn.exec_params("SELECT file_id FROM roster.exports WHERE tenant_id = $1 AND job_id = $2",
                        tenant_id, job_id);
    if (!r.empty()) out = ExportRecord{job_id, tenant_id, r[0][0].as<std::string>()};
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<ExportRecord> RosterStore::RecordExport(const ExportRecord& record) {
  ExportRecord out = record;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& txn) -> absl::Status {
    pqxx::result r = txn.exec_params(
        "INSERT INTO roster.exports (job_id, tenant_id, file_id) VALUES ($1, $2, $3) "
        "ON CONFLICT (job_id) DO UPDATE SET job_id = EXCLUDED.job_id RETURNING file_id",
        record.job_id, record.tenant_id, record.file_id);
    out.file_id = r[0][0].as<std::string>();
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace rostersync::roster
