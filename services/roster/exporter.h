#pragma once

// Renders a tenant's roster (seats included, attributes as attr:<name> columns, sorted by
// person_id; format in roster_csv.h) into the archive as a FILE_KIND_EXPORT file named by
// RosterJob.export_name. Idempotent by job_id: a job already rendered returns its file.
// Streamed from a cursor (RosterStore::StreamPeople): memory does not grow with the roster.
#include <string>

#include "absl/status/statusor.h"
#include "common/archive_client.h"
#include "rostersync/v1/jobs.pb.h"
#include "services/roster/roster_store.h"

namespace rostersync::roster {

inline constexpr char kDefaultExportName[] = "roster_export.csv";

class Exporter {
 public:
  Exporter(RosterStore& store, Archive& archive) : store_(store), archive_(archive) {}

  // Returns the archived file's id.
  absl::StatusOr<std::string> Export(const v1::RosterJob& job);

 private:
  RosterStore& store_;
  Archive& archive_;
};

}  // namespace rostersync::roster
