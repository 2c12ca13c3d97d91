#pragma once

// Per-row validation of a mapped roster file. Every problem becomes a RowError with the
// 1-based physical line where the record starts, the column (as written in the file), the
// value and the reason.
//
// Rules:
//  - the record has as many fields as the header row;
//  - first_name, last_name, language and active are non-empty;
//  - the person key is person_id, or the lowercased email when person_id is absent or empty;
//    a row with neither is an error;
//  - email, when given: IsValidEmail();
//  - language: NormalizeLanguage() (BCP 47 subset);
//  - active: ParseBool();
//  - person_type: ParsePersonType(); empty means employee;
//  - every other mapped column is kept as a named attribute, typed by
//    ImportPolicy.attribute_types (NormalizeTyped()); an empty value is no attribute.
// The same person key twice in one file, and the same non-empty seat twice, are errors naming
// both lines; they are NOT checked by RowValidator (whose memory must not grow with the file)
// but on the staging table in SQL (StagingTable::InFileDuplicates) or, for small in-memory
// paths, by InMemoryDuplicates. Both word them with DuplicatePersonError/DuplicateSeatError.
// RowError.column is the column's header as written in the file (FieldMapping::header()) and
// RowError.value the value, at most kMaxEchoedValue bytes (CapValue()).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "rostersync/v1/common.pb.h"
#include "rostersync/v1/roster.pb.h"
#include "services/roster/csv_reader.h"
#include "services/roster/field_mapping.h"

namespace rostersync::roster {

// The longest value echoed in a RowError (value and reason), in bytes.
inline constexpr size_t kMaxEchoedValue = 200;
// `value` cut at a UTF-8 boundary so that with a trailing "..." it fits kMaxEchoedValue bytes.
std::string CapValue(std::string_view value);

// A reasonable RFC 5322 subset: local@domain.tld, exactly one '@', no spaces; the local part
// of atext characters and single dots (not first or last), at most 64 bytes; the domain of at
// least two dot-separated labels of letters, digits and '-' (not first or last, 1-63 bytes),
// the last not all digits and at least 2 long; at most 254 bytes. Non-ASCII (UTF-8) letters
// are accepted in both parts.
bool IsValidEmail(std::string_view email);

// A BCP 47 subset: a 2-3 letter ISO 639 language, an optional 4-letter script and an optional
// 2-letter or 3-digit region, separated by '-' or '_'. Normalized: "EN_us" -> "en-US",
// "zh-hant-tw" -> "zh-Hant-TW", "es-419". nullopt for anything else ("english", "e", "123").
std::optional<std::string> NormalizeLanguage(std::string_view language);

// The boolean forms HR systems write, case-insensitive, trimmed: true/false, yes/no, 1/0, y/n,
// t/f, active/inactive. nullopt for anything else.
std::optional<bool> ParseBool(std::string_view value);
inline constexpr char kBooleanForms[] = "true/false, yes/no, 1/0, y/n, t/f or active/inactive";
// ParseBool() (the active column).
std::optional<bool> ParseActive(std::string_view value);

// A date normalized to "YYYY-MM-DD". Accepted: YYYY-MM-DD; YYYY-MM-DDTHH:MM:SS[.fff] followed
// by Z or +HH:MM/-HH:MM (the date as written); or, when `date_format` is not empty, that
// absl::ParseTime format (e.g. "%m/%d/%Y"). Impossible dates (2026-02-30) are refused. On
// failure the status message is the reason for a RowError.
absl::StatusOr<std::string> NormalizeDate(std::string_view value, std::string_view date_format);

// A decimal integer with an optional sign that fits int64, normalized ("+007" -> "7").
std::optional<std::string> NormalizeInt(std::string_view value);

// Empty -> EMPLOYEE; nullopt when unknown. Case-insensitive, '-' or ' ' for '_'.
std::optional<v1::PersonType> ParsePersonType(std::string_view value);
inline constexpr char kPersonTypes[] =
    "employee, contractor, intern, part_time, student, staff or other";
// "employee", "part_time", ...; "" for UNSPECIFIED.
std::string PersonTypeName(v1::PersonType type);

// Types of attributes (ImportPolicy.attribute_types).
enum class AttributeType { kString, kDate, kBoolean, kEmail, kInt };
// "string", "date", "boolean", "email", "int" (case-insensitive; "" is string); else nullopt.
std::optional<AttributeType> ParseAttributeType(std::string_view name);
// The normalized value of a typed attribute: date -> YYYY-MM-DD, boolean -> "true"/"false",
// int -> canonical decimal, email and string -> as given (trimmed). On failure the status
// message is the reason for a RowError.
absl::StatusOr<std::string> NormalizeTyped(AttributeType type, std::string_view value,
                                           std::string_view date_format);

// A validated row. Fields whose column the file does not have are left for the diff to keep
// from the person already in the roster (see staging_table.h).
struct PersonRow {
  int64_t line = 0;
  v1::Person person;  // person_id is the key; attributes holds the file's attr columns
                      // with a non-empty value
  bool has_email = false;
  bool has_person_type = false;
  bool has_seat = false;  // the file has a seat column and this row's seat is non-empty
  bool key_from_email = false;  // person_id is the lowercased email (no person_id given)
  std::vector<std::string> attribute_columns;  // attribute names the file carries
};

class RowValidator {
 public:
  // Every attribute a string; dates ISO 8601 only.
  explicit RowValidator(const FieldMapping& mapping);
  // Attributes typed by policy.attribute_types (matched by attribute name, exactly or else
  // case-insensitively; a key may carry the "attr:" prefix), dates also in policy.date_format.
  // INVALID_ARGUMENT naming the setting when a type is unknown. `mapping` must outlive the
  // validator.
  static absl::StatusOr<RowValidator> Create(const FieldMapping& mapping,
                                             const v1::ImportPolicy& policy);

  // Validates one data record. Returns the row when valid; otherwise appends its errors to
  // `errors` (one per problem) and returns nullopt.
  std::optional<PersonRow> Validate(const CsvRecord& record, std::vector<v1::RowError>* errors);
  // The same into `*row`, which is reset first and whose storage is reused from call to call
  // (no fresh row, person and strings per record of a large file). True when valid; when not,
  // `*row` is unspecified.
  bool Validate(const CsvRecord& record, std::vector<v1::RowError>* errors, PersonRow* row);

  // Type of each mapping.attribute_columns() entry, in the same order.
  const std::vector<AttributeType>& attribute_types() const { return attribute_types_; }

 private:
  const FieldMapping& mapping_;
  std::vector<AttributeType> attribute_types_;
  std::string date_format_;
};

// The error of a row whose person key `key` appeared first on `first_line`; `column` is the
// key's column as written in the file.
v1::RowError DuplicatePersonError(int64_t line, const std::string& column,
                                  std::string_view key, int64_t first_line);
// The error of a row whose seat was given first on `first_line`.
v1::RowError DuplicateSeatError(int64_t line, const std::string& column, std::string_view seat,
                                int64_t first_line);
// The columns (as written in the file; "" when absent) that duplicate errors name: a key's
// person_id column, or its email column when the key is the email; the seat column.
struct DuplicateColumns {
  std::string person_id, email, seat;
  static DuplicateColumns Of(const FieldMapping& mapping);
  const std::string& key(bool key_from_email) const { return key_from_email ? email : person_id; }
};

// Within-file duplicates in memory. Its memory grows with the file, so imports find duplicates
// in SQL instead (StagingTable::InFileDuplicates); this one is for small in-memory checks.
// Feed every record in line order, valid or not.
class InMemoryDuplicates {
 public:
  explicit InMemoryDuplicates(DuplicateColumns columns) : columns_(std::move(columns)) {}
  // Appends an error for a key or a non-empty seat seen on an earlier line; true if any.
  bool Check(int64_t line, const std::string& key, bool key_from_email, const std::string& seat,
             std::vector<v1::RowError>* errors);

 private:
  DuplicateColumns columns_;
  std::map<std::string, int64_t> key_lines_;   // person key -> first line
  std::map<std::string, int64_t> seat_lines_;  // seat -> first line
};

}  // namespace rostersync::roster
