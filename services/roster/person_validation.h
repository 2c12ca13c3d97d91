#pragma once

// Per-row validation of a mapped roster file. Every problem becomes a RowError with the
// 1-based physical line where the record starts, the column (as written in the file), the
// value and the reason.
//
// Rules:
//  - the record has as many fields as the header row;
//  - first_name, last_name, language and active are non-empty;
//  - the person key is person_id, or the lowercased email when person_id is absent or empty;
//    a row with neither is an error; the same key twice in one file is an error naming both
//    lines;
//  - email, when given: one '@', a non-empty local part, a dotted domain, no spaces;
//  - language: a 2-3 letter code with an optional region ("en", "fil", "en-US", "pt_BR",
//    "es-419"), normalized to "xx-YY";
//  - active: true/false, yes/no, 1/0, y/n, active/inactive (case-insensitive);
//  - person_type: employee, contractor, intern, part_time, student, staff, other
//    (case-insensitive, '-' or ' ' for '_'); empty means employee;
//  - the same non-empty seat twice in one file is an error naming both lines.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rostersync/v1/common.pb.h"
#include "rostersync/v1/roster.pb.h"
#include "services/roster/csv_reader.h"
#include "services/roster/field_mapping.h"

namespace rostersync::roster {

bool IsValidEmail(std::string_view email);
// Normalized language tag, or nullopt.
std::optional<std::string> NormalizeLanguage(std::string_view language);
std::optional<bool> ParseActive(std::string_view value);
// Empty -> EMPLOYEE; nullopt when unknown.
std::optional<v1::PersonType> ParsePersonType(std::string_view value);
// "employee", "part_time", ...; "" for UNSPECIFIED.
std::string PersonTypeName(v1::PersonType type);

// A validated row. Fields whose column the file does not have are left for the diff to keep
// from the person already in the roster (see roster_diff.h).
struct PersonRow {
  int64_t line = 0;
  v1::Person person;  // person_id is the key; attributes holds the file's attr columns
                      // with a non-empty value
  bool has_email = false;
  bool has_person_type = false;
  bool has_seat = false;  // the file has a seat column and this row's seat is non-empty
  std::vector<std::string> attribute_columns;  // attribute names the file carries
};

class RowValidator {
 public:
  explicit RowValidator(const FieldMapping& mapping) : mapping_(mapping) {}

  // Validates one data record. Returns the row when valid; otherwise appends its errors to
  // `errors` and returns nullopt.
  std::optional<PersonRow> Validate(const CsvRecord& record, std::vector<v1::RowError>* errors);

 private:
  const FieldMapping& mapping_;
  std::map<std::string, int64_t> key_lines_;   // person key -> first line
  std::map<std::string, int64_t> seat_lines_;  // seat -> first line
};

}  // namespace rostersync::roster
