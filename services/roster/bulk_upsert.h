#pragma once

// BulkUpsertPeople: people given over the API, upserted by person_id. An import like any
// other: backed up first, recorded in the import history (source "api"), and idempotent by
// the caller's request_id.
//
//  - Every person is validated first; INVALID_ARGUMENT lists the problems, each naming the
//    index and the field ("people[3].email: ..."). Rules: person_id, first_name, last_name
//    and language are required; email, when given, IsValidEmail(); language NormalizeLanguage()
//    (stored normalized); person_type a known value (UNSPECIFIED means employee); attribute
//    names non-empty; tenant_id empty or the request's; the same person_id twice names both
//    indexes. `seat` is ignored: seats are left as they are (AssignSeat owns them) and new
//    people get none. An empty source_integration_id keeps the person's current one.
//  - In ONE transaction under the tenant's advisory lock: the people are staged with COPY
//    (staging_table.h, mode kUpsertOnly, seats kept, attributes replaced),
//    diffed in SQL, the current roster is written as a FILE_KIND_BACKUP snapshot (no backup,
//    no upsert), the upsert is applied (nobody is removed) and the import is recorded with
//    job_id "api:<tenant>:<request_id>".
//  - The same request_id again returns the first call's summary and applies nothing (even
//    when the people differ: a request_id names one request).
#include <string>

#include "absl/status/statusor.h"
#include "common/archive_client.h"
#include "rostersync/v1/roster.pb.h"
#include "services/roster/roster_store.h"

namespace rostersync::roster {

inline constexpr int kMaxBulkUpsertPeople = 10000;
inline constexpr int kMaxReportedProblems = 20;

// Validates and normalizes the request's people in place (language normalized, person_type
// UNSPECIFIED -> EMPLOYEE, tenant_id set). INVALID_ARGUMENT naming index and field.
absl::Status ValidateBulkPeople(v1::BulkUpsertPeopleRequest& request);

class BulkUpserter {
 public:
  BulkUpserter(RosterStore& store, Archive& archive) : store_(store), archive_(archive) {}

  absl::StatusOr<v1::ImportSummary> Upsert(v1::BulkUpsertPeopleRequest request);

 private:
  RosterStore& store_;
  Archive& archive_;
};

}  // namespace rostersync::roster
