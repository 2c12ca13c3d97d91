#include "services/roster/person_validation.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "services/roster/ascii_text.h"

namespace rostersync::roster {
namespace {

v1::RowError MakeError(int64_t line, std::string column, std::string value, std::string reason) {
  v1::RowError e;
  e.set_line(line);
  e.set_column(std::move(column));
  e.set_value(std::move(value));
  e.set_reason(std::move(reason));
  return e;
}

bool IsAlpha(std::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isalpha(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool IsDigits(std::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

bool IsValidEmail(std::string_view email) {
  if (email.empty() || email.size() > 254) return false;
  size_t at = email.find('@');
  if (at == std::string_view::npos || email.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  std::string_view local = email.substr(0, at);
  std::string_view domain = email.substr(at + 1);
  if (local.empty() || local.size() > 64 || domain.empty()) return false;
  for (char c : email) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= ' ' || u == 0x7f || c == ',' || c == '"' || c == '<' || c == '>' || c == '(' ||
        c == ')' || c == '[' || c == ']' || c == ';' || c == ':' || c == '\\') {
      return false;
    }
  }
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return false;
  }
  size_t dot = domain.find('.');
  if (dot == std::string_view::npos || domain.front() == '.' || domain.back() == '.' ||
      domain.front() == '-' || domain.find("..") != std::string_view::npos) {
    return false;
  }
  return true;
}

std::optional<std::string> NormalizeLanguage(std::string_view language) {
  std::string_view s = Trim(language);
  size_t sep = s.find_first_of("-_");
  std::string_view lang = s.substr(0, sep);
  if (lang.size() < 2 || lang.size() > 3 || !IsAlpha(lang)) return std::nullopt;
  std::string out = ToLower(lang);
  if (sep == std::string_view::npos) return out;
  std::string_view region = s.substr(sep + 1);
  if (region.size() == 2 && IsAlpha(region)) {
    return absl::StrCat(out, "-", ToUpper(region));
  }
  if (region.size() == 3 && IsDigits(region)) return absl::StrCat(out, "-", std::string(region));
  return std::nullopt;
}

std::optional<bool> ParseActive(std::string_view value) {
  std::string v = ToLower(Trim(value));
  if (v == "true" || v == "yes" || v == "1" || v == "y" || v == "active") return true;
  if (v == "false" || v == "no" || v == "0" || v == "n" || v == "inactive") return false;
  return std::nullopt;
}

std::optional<v1::PersonType> ParsePersonType(std::string_view value) {
  std::string v = ToLower(Trim(value));
  for (char& c : v) {
    if (c == '-' || c == ' ') c = '_';
  }
  if (v.empty() || v == "employee") return v1::PERSON_TYPE_EMPLOYEE;
  if (v == "contractor") return v1::PERSON_TYPE_CONTRACTOR;
  if (v == "intern") return v1::PERSON_TYPE_INTERN;
  if (v == "part_time") return v1::PERSON_TYPE_PART_TIME;
  if (v == "student") return v1::PERSON_TYPE_STUDENT;
  if (v == "staff") return v1::PERSON_TYPE_STAFF;
  if (v == "other") return v1::PERSON_TYPE_OTHER;
  return std::nullopt;
}

std::string PersonTypeName(v1::PersonType type) {
  switch (type) {
    case v1::PERSON_TYPE_EMPLOYEE:
      return "employee";
    case v1::PERSON_TYPE_CONTRACTOR:
      return "contractor";
    case v1::PERSON_TYPE_INTERN:
      return "intern";
    case v1::PERSON_TYPE_PART_TIME:
      return "part_time";
    case v1::PERSON_TYPE_STUDENT:
      return "student";
    case v1::PERSON_TYPE_STAFF:
      return "staff";
    case v1::PERSON_TYPE_OTHER:
      return "other";
    default:
      return "";
  }
}

std::optional<PersonRow> RowValidator::Validate(const CsvRecord& record,
                                                std::vector<v1::RowError>* errors) {
  const size_t before = errors->size();
  const int64_t line = record.line;
  if (record.fields.size() != mapping_.header_width()) {
    errors->push_back(
        MakeError(line, "", "",
                  absl::StrCat("expected ", mapping_.header_width(),
                               " fields (as in the header), found ", record.fields.size())));
    return std::nullopt;
  }
  auto value = [&](Field f) -> std::string {
    int col = mapping_.column(f);
    if (col < 0) return "";
    return std::string(Trim(record.fields[col]));
  };
  auto column = [&](Field f) { return mapping_.header(mapping_.column(f)); };
  auto error = [&](Field f, std::string v, std::string reason) {
    errors->push_back(MakeError(line, column(f), std::move(v), std::move(reason)));
  };

  PersonRow row;
  row.line = line;
  v1::Person& p = row.person;

  for (Field f : {Field::kFirstName, Field::kLastName}) {
    std::string v = value(f);
    if (v.empty()) error(f, v, std::string(FieldName(f)) + " is required");
    (f == Field::kFirstName ? *p.mutable_first_name() : *p.mutable_last_name()) = v;
  }

  std::string lang = value(Field::kLanguage);
  if (lang.empty()) {
    error(Field::kLanguage, lang, "language is required");
  } else if (auto normalized = NormalizeLanguage(lang)) {
    p.set_language(*normalized);
  } else {
    error(Field::kLanguage, lang,
          "not a language code (expected 2-3 letters with an optional region, e.g. en or "
          "en-US)");
  }

  std::string active = value(Field::kActive);
  if (auto a = ParseActive(active)) {
    p.set_active(*a);
  } else {
    error(Field::kActive, active,
          active.empty() ? "active is required"
                         : "not a boolean (expected true/false, yes/no, 1/0, y/n or "
                           "active/inactive)");
  }

  if (mapping_.has(Field::kPersonType)) {
    std::string t = value(Field::kPersonType);
    if (auto type = ParsePersonType(t)) {
      p.set_person_type(*type);
      row.has_person_type = true;
    } else {
      error(Field::kPersonType, t,
            "unknown person type (expected employee, contractor, intern, part_time, student, "
            "staff or other)");
    }
  } else {
    p.set_person_type(v1::PERSON_TYPE_EMPLOYEE);
  }

  std::string email = value(Field::kEmail);
  if (mapping_.has(Field::kEmail)) {
    row.has_email = true;
    if (!email.empty() && !IsValidEmail(email)) {
      error(Field::kEmail, email, "not a valid email address");
    }
    p.set_email(email);
  }

  std::string person_id = value(Field::kPersonId);
  std::string key = person_id.empty() ? ToLower(email) : person_id;
  if (key.empty()) {
    errors->push_back(MakeError(
        line, mapping_.has(Field::kPersonId) ? column(Field::kPersonId) : column(Field::kEmail), "",
        "neither person_id nor email is set: the row has no person key"));
  } else if (auto [it, inserted] = key_lines_.emplace(key, line); !inserted) {
    errors->push_back(MakeError(
        line,
        mapping_.has(Field::kPersonId) && !person_id.empty() ? column(Field::kPersonId)
                                                             : column(Field::kEmail),
        key, absl::StrCat("duplicate person \"", key, "\": on lines ", it->second, " and ", line)));
  }
  p.set_person_id(key);

  if (mapping_.has(Field::kSeat)) {
    std::string seat = value(Field::kSeat);
    if (!seat.empty()) {
      row.has_seat = true;
      p.set_seat(seat);
      if (auto [it, inserted] = seat_lines_.emplace(seat, line); !inserted) {
        error(Field::kSeat, seat,
              absl::StrCat("seat \"", seat, "\" is given to two people: on lines ", it->second,
                           " and ", line));
      }
    }
  }

  for (const ColumnBinding& b : mapping_.attribute_columns()) {
    row.attribute_columns.push_back(b.attribute);
    std::string v(Trim(record.fields[b.index]));
    if (!v.empty()) (*p.mutable_attributes())[b.attribute] = v;
  }

  if (errors->size() != before) return std::nullopt;
  return row;
}

}  // namespace rostersync::roster
