#pragma once

// Maps the header row of a roster file onto rostersync's canonical person fields.
//
// Canonical fields: person_id, email, first_name, last_name, language, active, person_type,
// seat, and attr:<name> (a free-form attribute). An integration's header_map maps source
// headers to canonical fields, e.g. {"Employee ID": "person_id", "Dept": "attr:department"}.
// Source headers are matched after trimming spaces and case-folding. With an empty header_map
// a header that already is a canonical name ("email", "attr:department") maps to itself.
// Columns that map to nothing are ignored.
//
// The file is rejected (INVALID_ARGUMENT naming the file and column) when two columns have the
// same header, two columns map to one canonical field, the header_map names an unknown
// canonical field, or a required column is missing. Required: first_name, last_name,
// language, active, and at least one of email / person_id.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace rostersync::roster {

enum class Field {
  kPersonId,
  kEmail,
  kFirstName,
  kLastName,
  kLanguage,
  kActive,
  kPersonType,
  kSeat,
  kAttribute,
};

std::string_view FieldName(Field field);

// Trims ASCII whitespace and lowercases ASCII letters.
std::string NormalizeHeader(std::string_view header);

// Parses a canonical field name ("email", "attr:department"); the attribute name is returned
// in `attribute` (trimmed, case preserved). nullopt when unknown.
std::optional<Field> ParseCanonicalField(std::string_view name, std::string* attribute);

struct ColumnBinding {
  int index = 0;  // column in the file, 0-based
  Field field = Field::kAttribute;
  std::string attribute;      // for kAttribute
  std::string source_header;  // as written in the file (trimmed)
};

class FieldMapping {
 public:
  // `file_name` only names the file in errors.
  static absl::StatusOr<FieldMapping> Create(const std::map<std::string, std::string>& header_map,
                                             const std::vector<std::string>& header_row,
                                             std::string_view file_name);

  // Column of a (non-attribute) field, or -1 when the file has none.
  int column(Field field) const;
  bool has(Field field) const { return column(field) >= 0; }
  const std::vector<ColumnBinding>& bindings() const { return bindings_; }
  const std::vector<ColumnBinding>& attribute_columns() const { return attributes_; }
  size_t header_width() const { return header_width_; }
  // Header as written in the file for a column (for error messages).
  const std::string& header(int index) const { return headers_[index]; }

 private:
  std::vector<ColumnBinding> bindings_;
  std::vector<ColumnBinding> attributes_;
  std::map<Field, int> columns_;
  std::vector<std::string> headers_;
  size_t header_width_ = 0;
};

}  // namespace rostersync::roster
