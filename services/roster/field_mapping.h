#pragma once

// Maps the header row of a roster file onto rostersync's canonical person fields.
//
// Canonical fields: person_id, email, first_name, last_name, language, active, person_type,
// seat, and attr:<name> (a free-form attribute). An integration's header_map maps source
// headers to canonical fields, e.g. {"Employee ID": "person_id", "Dept": "attr:department"}.
// Source headers (and header_map keys) are matched after NormalizeHeader(): invisible characters
// removed, Unicode spaces read as spaces, runs of spaces collapsed, trimmed and case-folded.
// What was removed or replaced is reported in header_notes(). With an empty header_map
// a header that already is a canonical name ("email", "attr:department") maps to itself.
// Columns that map to nothing are ignored.
//
// The file is rejected (INVALID_ARGUMENT naming the file and column) when two columns have the
// same header (after normalization; both columns named), two columns map to one canonical field,
// the header_map names an unknown canonical field, or a required column is missing. Required:
// first_name, last_name, language, active, and at least one of email / person_id.
#include <map>
#include <optional>
#include <set>
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

// A header cleaned for matching and display.
struct CleanedHeader {
  // Invisible characters removed, Unicode spaces read as ' ', runs of spaces collapsed,
  // trimmed; case preserved. Used in error messages and RowError.column.
  std::string display;
  // `display` case-folded (ASCII and Latin-1 letters): the form headers are matched in.
  std::string normalized;
  // What was done, grouped: e.g. "removed a zero-width space (U+200B) and 2 soft hyphens
  // (U+00AD)", "replaced a no-break space (U+00A0) with a space"; empty when only ASCII spaces
  // were trimmed or collapsed and case folded.
  std::vector<std::string> changes;
};

// Removes zero-width space U+200B, ZWNJ U+200C, ZWJ U+200D, word joiner U+2060, BOM U+FEFF
// (anywhere), soft hyphen U+00AD, LRM/RLM and other bidi controls, and control characters;
// reads NBSP U+00A0, U+2000-U+200A, U+202F, U+205F, U+3000, U+1680 and ASCII whitespace as a
// space. Bytes that are not valid UTF-8 are kept as they are.
CleanedHeader CleanHeader(std::string_view header);

// CleanHeader(header).normalized.
std::string NormalizeHeader(std::string_view header);

// The set of normalized, non-empty headers of a header row (for the header-change guard).
std::set<std::string> NormalizedHeaderSet(const std::vector<std::string>& header_row);

// "" when equal; otherwise e.g. `columns added: "cost center"; columns removed: "email"`.
std::string DescribeHeaderChange(const std::set<std::string>& before,
                                 const std::set<std::string>& after);

// Parses a canonical field name ("email", "attr:department"); the attribute name is returned
// in `attribute` (trimmed, case preserved). nullopt when unknown.
std::optional<Field> ParseCanonicalField(std::string_view name, std::string* attribute);

struct ColumnBinding {
  int index = 0;  // column in the file, 0-based
  Field field = Field::kAttribute;
  std::string attribute;      // for kAttribute
  std::string source_header;  // as written in the file (CleanedHeader::display)
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
  // Header as written in the file for a column (CleanedHeader::display; for error messages and
  // RowError.column).
  const std::string& header(int index) const { return headers_[index]; }
  // Human notes on what was removed from headers, one per affected column, e.g.
  //   column 3 "Email": removed a zero-width space (U+200B) and a no-break space (U+00A0)
  // for ImportSummary.header_notes.
  const std::vector<std::string>& header_notes() const { return header_notes_; }
  // NormalizedHeaderSet() of the file's header row.
  const std::set<std::string>& header_set() const { return header_set_; }

 private:
  std::vector<ColumnBinding> bindings_;
  std::vector<ColumnBinding> attributes_;
  std::map<Field, int> columns_;
  std::vector<std::string> headers_;
  std::vector<std::string> header_notes_;
  std::set<std::string> header_set_;
  size_t header_width_ = 0;
};

}  // namespace rostersync::roster
