#include "services/roster/bulk_upsert.h"

#include <map>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/time_util.h"
#include "services/roster/person_validation.h"
#include "services/roster/restorer.h"
#include "services/roster/roster_metrics.h"
#include "services/roster/staging_table.h"

namespace rostersync::roster {
namespace {

std::string JobId(const std::string& tenant, const std::string& request_id) {
  return absl::StrCat("api:", tenant, ":", request_id);
}

// A PostgreSQL text[] literal.
std::string TextArrayLiteral(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

// People given without a source_integration_id keep the one they have (an API edit does not
// take a person away from the integration that owns it).
absl::Status KeepSourceIntegrations(pqxx::work& txn, v1::BulkUpsertPeopleRequest& request) {
  std::map<std::string, int> unsourced;
  for (int i = 0; i < request.people_size(); ++i) {
    if (request.people(i).source_integration_id().empty()) {
      unsourced.emplace(request.people(i).person_id(), i);
    }
  }
  if (unsourced.empty()) return absl::OkStatus();
  std::vector<std::string> ids;
  for (const auto& [id, i] : unsourced) ids.push_back(id);
  try {
    pqxx::result r = txn.exec_params(
        "SELECT person_id, source_integration_id FROM roster.people WHERE tenant_id = $1 "
        "AND person_id = ANY($2::text[]) AND source_integration_id <> ''",
        request.tenant_id(), TextArrayLiteral(ids));
    for (const auto& row : r) {
      auto it = unsourced.find(row[0].as<std::string>());
      if (it == unsourced.end()) continue;
      request.mutable_people(it->second)->set_source_integration_id(row[1].as<std::string>());
    }
  } catch (const std::exception& e) {
    return StatusFromPqxx(e);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateBulkPeople(v1::BulkUpsertPeopleRequest& request) {
  if (request.people_size() == 0) return absl::InvalidArgumentError("people: none given");
  if (request.people_size() > kMaxBulkUpsertPeople) {
    return absl::InvalidArgumentError(absl::StrCat("people: ", request.people_size(),
                                                   " given, at most ", kMaxBulkUpsertPeople,
                                                   " per request"));
  }
  std::vector<std::string> problems;
  int64_t total = 0;
  auto problem = [&](int i, const char* field, const std::string& reason) {
    ++total;
    if (static_cast<int>(problems.size()) < kMaxReportedProblems) {
      problems.push_back(absl::StrCat("people[", i, "].", field, ": ", reason));
    }
  };
  std::map<std::string, int> first_index;
  for (int i = 0; i < request.people_size(); ++i) {
    v1::Person& p = *request.mutable_people(i);
    if (!p.tenant_id().empty() && p.tenant_id() != request.tenant_id()) {
      problem(i, "tenant_id", absl::StrCat("\"", CapValue(p.tenant_id()),
                                           "\" is not the request's tenant"));
    }
    p.set_tenant_id(request.tenant_id());
    if (p.person_id().empty()) {
      problem(i, "person_id", "is required");
    } else if (auto [it, inserted] = first_index.emplace(p.person_id(), i); !inserted) {
      problem(i, "person_id",
              absl::StrCat("\"", CapValue(p.person_id()), "\" is also people[", it->second, "]"));
    }
    if (p.first_name().empty()) problem(i, "first_name", "is required");
    if (p.last_name().empty()) problem(i, "last_name", "is required");
    if (!p.email().empty() && !IsValidEmail(p.email())) {
      problem(i, "email", absl::StrCat("\"", CapValue(p.email()), "\" is not a valid address"));
    }
    if (p.language().empty()) {
      problem(i, "language", "is required");
    } else if (std::optional<std::string> lang = NormalizeLanguage(p.language()); !lang) {
      problem(i, "language", absl::StrCat("\"", CapValue(p.language()),
                                          "\" is not a language code (BCP 47, e.g. en-US)"));
    } else {
      p.set_language(*lang);
    }
    if (!v1::PersonType_IsValid(p.person_type())) {
      problem(i, "person_type",
              absl::StrCat("unknown value ", static_cast<int>(p.person_type())));
    } else if (p.person_type() == v1::PERSON_TYPE_UNSPECIFIED) {
      p.set_person_type(v1::PERSON_TYPE_EMPLOYEE);
    }
    for (const auto& [k, v] : p.attributes()) {
      if (k.empty()) problem(i, "attributes", "an attribute name is empty");
    }
    p.clear_seat();  // seats are left as they are
    p.clear_updated_at();
  }
  if (problems.empty()) return absl::OkStatus();
  std::string more =
      total > static_cast<int64_t>(problems.size())
          ? absl::StrCat("; and ", total - static_cast<int64_t>(problems.size()), " more")
          : "";
  return absl::InvalidArgumentError(
      absl::StrCat(total, " invalid field(s): ", absl::StrJoin(problems, "; "), more));
}

absl::StatusOr<v1::ImportSummary> BulkUpserter::Upsert(v1::BulkUpsertPeopleRequest request) {
  const std::string tenant = request.tenant_id();
  if (tenant.empty()) return absl::InvalidArgumentError("tenant_id is required");
  if (request.request_id().empty()) {
    return absl::InvalidArgumentError(
        "request_id is required (an idempotency key chosen by the caller)");
  }
  const std::string job_id = JobId(tenant, request.request_id());
  ASSIGN_OR_RETURN(auto existing, store_.FindImportByJob(tenant, job_id));
  if (existing) return *existing;
  RETURN_IF_ERROR(ValidateBulkPeople(request));

  v1::ImportSummary summary;
  summary.set_tenant_id(tenant);
  summary.set_import_id(NewId("imp"));
  summary.set_job_id(job_id);
  summary.set_source("api");
  summary.set_rows_read(request.people_size());
  *summary.mutable_started_at() = ToProtoTime(absl::Now());

  bool replayed = false;
  absl::Status s = store_.pool().Transact([&](pqxx::work& txn) -> absl::Status {
    RETURN_IF_ERROR(RosterStore::LockTenant(txn, tenant));
    ASSIGN_OR_RETURN(auto done, RosterStore::FindImportByJob(txn, tenant, job_id));
    if (done) {
      summary = *done;
      replayed = true;
      return absl::OkStatus();
    }
    RETURN_IF_ERROR(KeepSourceIntegrations(txn, request));
    ASSIGN_OR_RETURN(StagingTable staging, StagingTable::Create(txn, tenant));
    {
      ASSIGN_OR_RETURN(std::unique_ptr<StagingWriter> writer, staging.OpenWriter());
      StagedKeep keep;
      keep.seat = true;  // seats are left as they are; new people get none
      for (int i = 0; i < request.people_size(); ++i) {
        RETURN_IF_ERROR(writer->Add(request.people(i), i, keep));
      }
      RETURN_IF_ERROR(writer->Finish());
    }
    DiffSpec spec;
    spec.mode = ApplyMode::kUpsertOnly;
    spec.replace_attributes = true;  // the given map is the person's whole map
    RETURN_IF_ERROR(staging.ComputeDiff(spec));
    ASSIGN_OR_RETURN(DiffCounts counts, staging.Counts());
    // No backup, no upsert: the current roster is snapshotted under the lock first.
    v1::PutFileHeader header;
    header.set_tenant_id(tenant);
    header.set_kind(v1::FILE_KIND_BACKUP);
    header.set_name(absl::StrCat("roster_backup_pre_bulk_upsert_", summary.import_id(), ".csv"));
    header.set_content_type("text/csv");
    (*header.mutable_labels())["reason"] = "pre-bulk-upsert";
    (*header.mutable_labels())["import_id"] = summary.import_id();
    (*header.mutable_labels())["request_id"] = request.request_id();
    absl::StatusOr<v1::FileInfo> backup = WriteRosterSnapshot(txn, archive_, header);
    if (!backup.ok()) {
      return absl::Status(backup.status().code(),
                          absl::StrCat("pre-upsert backup failed, nothing applied: ",
                                       backup.status().message()));
    }
    summary.set_backup_file_id(backup->file_id());
    RETURN_IF_ERROR(staging.Apply(ApplyOptions{}));
    summary.set_added(counts.added);
    summary.set_updated(counts.updated);
    summary.set_unchanged(counts.unchanged);
    summary.set_status(v1::IMPORT_STATUS_APPLIED);
    *summary.mutable_finished_at() = ToProtoTime(absl::Now());
    return RosterStore::InsertImport(txn, summary);
  });
  if (absl::IsAlreadyExists(s)) {
    // A concurrent call with the same request_id recorded it first.
    ASSIGN_OR_RETURN(auto first, store_.FindImportByJob(tenant, job_id));
    if (first) return *first;
  }
  if (!s.ok()) {
    log::Error("bulk upsert failed, nothing applied",
               {{"tenant", tenant}, {"error", std::string(s.message())}});
    return s;
  }
  if (!replayed) {
    log::Info("bulk upsert applied", {{"tenant", tenant},
                                      {"import_id", summary.import_id()},
                                      {"backup_file_id", summary.backup_file_id()},
                                      {"added", std::to_string(summary.added())},
                                      {"updated", std::to_string(summary.updated())}});
    RecordImportMetrics(summary);
  }
  return summary;
}

}  // namespace rostersync::roster
