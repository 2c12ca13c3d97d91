#pragma once

// The roster's canonical CSV formats (RFC 4180, comma, CRLF line ends, UTF-8 without BOM,
// fields quoted only when they hold a comma, quote, CR, LF or leading/trailing space).
//
// Snapshot (FILE_KIND_BACKUP), written before every import and read back by a restore:
//   person_id,email,first_name,last_name,language,active,person_type,seat,attributes_json,
//   source_integration_id
// one row per person sorted by person_id; active is "true"/"false"; person_type is the
// lowercase name ("employee", "part_time", ...); seat is empty when unassigned;
// attributes_json is a JSON object with keys sorted ({} when none); source_integration_id is
// the integration that last imported the person. ParseSnapshot() reads it back exactly
// (everything but updated_at).
//
// Export (FILE_KIND_EXPORT), for a customer:
//   person_id,email,first_name,last_name,language,active,person_type,seat,attr:<a>,attr:<b>...
// one attr:<name> column per attribute name found in the roster (sorted), rows sorted by
// person_id. Such a file imports back with an empty header_map.
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "rostersync/v1/roster.pb.h"
#include "services/roster/csv_reader.h"

namespace rostersync::roster {

inline constexpr char kSnapshotHeader[] =
    "person_id,email,first_name,last_name,language,active,person_type,seat,attributes_json,"
    "source_integration_id";

// One CSV field, quoted when needed.
std::string CsvField(std::string_view value);
// CsvField(value) appended to `out`.
void AppendCsvField(std::string* out, std::string_view value);
// Fields joined with ',' and terminated with CRLF.
std::string CsvLine(const std::vector<std::string>& fields);

// Renders the snapshot; `write` receives it in pieces (header first). `people` must be sorted
// by person_id.
absl::Status RenderSnapshot(const std::vector<v1::Person>& people,
                            const std::function<absl::Status(std::string_view)>& write);
absl::StatusOr<std::vector<v1::Person>> ParseSnapshot(std::string_view csv,
                                                      const std::string& tenant_id);
// One snapshot row (CRLF-terminated), for writers that stream people in batches.
std::string SnapshotLine(const v1::Person& person);
// Checks a snapshot's header record.
absl::Status CheckSnapshotHeader(const std::vector<std::string>& fields);
// One data record of a snapshot; INVALID_ARGUMENT naming the record's line.
absl::StatusOr<v1::Person> ParseSnapshotRecord(const CsvRecord& record,
                                               const std::string& tenant_id);

// True when two people are equal in everything a snapshot keeps (all fields but updated_at).
bool SamePerson(const v1::Person& a, const v1::Person& b);

absl::Status RenderExport(const std::vector<v1::Person>& people,
                          const std::function<absl::Status(std::string_view)>& write);
// The export in pieces, for writers that stream people from a cursor: the header line for the
// attribute names of the whole roster (sorted bytewise, as RenderExport collects them), then
// one line per person, in person_id order.
std::string ExportHeaderLine(const std::vector<std::string>& attribute_names);
std::string ExportLine(const v1::Person& person, const std::vector<std::string>& attribute_names);

}  // namespace rostersync::roster
