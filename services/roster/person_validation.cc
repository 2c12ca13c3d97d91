#include "services/roster/person_validation.h"

#include <cstdio>
#include <limits>

#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "services/roster/ascii_text.h"

namespace rostersync::roster {
namespace {

v1::RowError MakeError(int64_t line, std::string column, std::string_view value,
                       std::string reason) {
  v1::RowError e;
  e.set_line(line);
  e.set_column(std::move(column));
  e.set_value(CapValue(value));
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

absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

bool IsAtext(unsigned char c) {
  if (c >= 0x80 || absl::ascii_isalnum(c)) return true;
  static constexpr std::string_view kSpecials = "!#$%&'*+/=?^_`{|}~-";
  return kSpecials.find(static_cast<char>(c)) != std::string_view::npos;
}

bool IsValidDomainLabel(std::string_view label) {
  if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
    return false;
  }
  for (char c : label) {
    unsigned char u = static_cast<unsigned char>(c);
    if (!(u >= 0x80 || absl::ascii_isalnum(u) || c == '-')) return false;
  }
  return true;
}

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0)) return 29;
  return kDays[month - 1];
}

int Num(std::string_view digits) {
  int v = 0;
  for (char c : digits) v = v * 10 + (c - '0');
  return v;
}

// Two ASCII digits at s[i].
bool Digits2(std::string_view s, size_t i) { return i + 2 <= s.size() && IsDigits(s.substr(i, 2)); }

std::string Quoted(std::string_view s) { return absl::StrCat("\"", std::string(s), "\""); }

}  // namespace

std::string CapValue(std::string_view value) {
  if (value.size() <= kMaxEchoedValue) return std::string(value);
  size_t cut = kMaxEchoedValue - 3;
  // Back off continuation bytes so that a UTF-8 sequence is not split.
  while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;
  return absl::StrCat(std::string(value.substr(0, cut)), "...");
}

bool IsValidEmail(std::string_view email) {
  if (email.empty() || email.size() > 254) return false;
  size_t at = email.find('@');
  if (at == std::string_view::npos || email.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  std::string_view local = email.substr(0, at);
  std::string_view domain = email.substr(at + 1);
  if (local.empty() || local.size() > 64 || domain.empty()) return false;
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return false;
  }
  for (char c : local) {
    if (c != '.' && !IsAtext(static_cast<unsigned char>(c))) return false;
  }
  absl::InlinedVector<std::string_view, 8> labels;  // no allocation for usual domains
  for (absl::string_view l : absl::StrSplit(AbslView(domain), '.')) {
    labels.emplace_back(l.data(), l.size());
  }
  if (labels.size() < 2) return false;
  for (std::string_view label : labels) {
    if (!IsValidDomainLabel(label)) return false;
  }
  std::string_view tld = labels.back();
  return tld.size() >= 2 && !IsDigits(tld);
}

std::optional<std::string> NormalizeLanguage(std::string_view language) {
  std::string_view s = Trim(language);
  absl::InlinedVector<std::string_view, 4> tags;  // no allocation for usual tags
  for (absl::string_view t : absl::StrSplit(AbslView(s), absl::ByAnyChar("-_"))) {
    tags.emplace_back(t.data(), t.size());
  }
  size_t i = 0;
  if (tags.empty() || tags[0].size() < 2 || tags[0].size() > 3 || !IsAlpha(tags[0])) {
    return std::nullopt;
  }
  std::string out = ToLower(tags[i++]);
  if (i < tags.size() && tags[i].size() == 4 && IsAlpha(tags[i])) {  // script: Hant
    std::string script = ToLower(tags[i++]);
    script[0] = absl::ascii_toupper(static_cast<unsigned char>(script[0]));
    absl::StrAppend(&out, "-", script);
  }
  if (i < tags.size()) {  // region: US or 419
    std::string_view region = tags[i++];
    if (region.size() == 2 && IsAlpha(region)) {
      absl::StrAppend(&out, "-", ToUpper(region));
    } else if (region.size() == 3 && IsDigits(region)) {
      absl::StrAppend(&out, "-", std::string(region));
    } else {
      return std::nullopt;
    }
  }
  if (i != tags.size()) return std::nullopt;
  return out;
}

std::optional<bool> ParseBool(std::string_view value) {
  std::string v = ToLower(Trim(value));
  if (v == "true" || v == "yes" || v == "1" || v == "y" || v == "t" || v == "active") {
    return true;
  }
  if (v == "false" || v == "no" || v == "0" || v == "n" || v == "f" || v == "inactive") {
    return false;
  }
  return std::nullopt;
}

std::optional<bool> ParseActive(std::string_view value) { return ParseBool(value); }

absl::StatusOr<std::string> NormalizeDate(std::string_view value, std::string_view date_format) {
  std::string_view v = Trim(value);
  auto expected = [&]() {
    std::string forms = "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ";
    if (!date_format.empty()) {
      forms = absl::StrCat("YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or the integration's date format ",
                           Quoted(date_format));
    }
    return absl::StrCat("not a date (expected ", forms, ")");
  };
  // ISO 8601: YYYY-MM-DD, optionally THH:MM:SS[.fff](Z|+HH:MM|-HH:MM).
  const bool iso_date = v.size() >= 10 && IsDigits(v.substr(0, 4)) && v[4] == '-' &&
                        Digits2(v, 5) && v[7] == '-' && Digits2(v, 8);
  if (iso_date) {
    bool ok = v.size() == 10;
    if (!ok && v.size() >= 20 && (v[10] == 'T' || v[10] == 't') && Digits2(v, 11) && v[13] == ':' &&
        Digits2(v, 14) && v[16] == ':' && Digits2(v, 17) && Num(v.substr(11, 2)) < 24 &&
        Num(v.substr(14, 2)) < 60 && Num(v.substr(17, 2)) <= 60) {
      std::string_view rest = v.substr(19);
      if (rest.size() > 1 && rest[0] == '.') {
        size_t n = 1;
        while (n < rest.size() && absl::ascii_isdigit(static_cast<unsigned char>(rest[n]))) ++n;
        if (n > 1) rest.remove_prefix(n);
      }
      ok = rest == "Z" || rest == "z" ||
           (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && Digits2(rest, 1) &&
            rest[3] == ':' && Digits2(rest, 4) && Num(rest.substr(1, 2)) < 24 &&
            Num(rest.substr(4, 2)) < 60);
    }
    if (ok) {
      const int year = Num(v.substr(0, 4));
      const int month = Num(v.substr(5, 2));
      const int day = Num(v.substr(8, 2));
      if (year < 1 || month < 1 || month > 12) {
        return absl::InvalidArgumentError(absl::StrCat(
            "not a date: month ", std::string(v.substr(5, 2)), " is not between 01 and 12"));
      }
      if (day < 1 || day > DaysInMonth(year, month)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "not a date: ", std::string(v.substr(0, 7)), " has no day ",
            std::string(v.substr(8, 2)), " (it has ", DaysInMonth(year, month), " days)"));
      }
      return std::string(v.substr(0, 10));
    }
  }
  if (!date_format.empty() && !v.empty()) {
    absl::Time t;
    std::string err;
    if (absl::ParseTime(AbslView(date_format), AbslView(v), absl::UTCTimeZone(), &t, &err)) {
      const absl::CivilDay day = absl::ToCivilDay(t, absl::UTCTimeZone());
      if (day.year() >= 1 && day.year() <= 9999) {
        return absl::StrFormat("%04d-%02d-%02d", static_cast<int>(day.year()), day.month(),
                               day.day());
      }
    }
  }
  return absl::InvalidArgumentError(expected());
}

std::optional<std::string> NormalizeInt(std::string_view value) {
  std::string_view v = Trim(value);
  if (v.empty()) return std::nullopt;
  std::string_view digits = v;
  if (digits.front() == '+' || digits.front() == '-') digits.remove_prefix(1);
  if (digits.empty() || !IsDigits(digits)) return std::nullopt;
  int64_t n = 0;
  if (!absl::SimpleAtoi(AbslView(v), &n)) return std::nullopt;
  return absl::StrCat(n);
}

std::optional<AttributeType> ParseAttributeType(std::string_view name) {
  std::string n = ToLower(Trim(name));
  if (n.empty() || n == "string") return AttributeType::kString;
  if (n == "date") return AttributeType::kDate;
  if (n == "boolean") return AttributeType::kBoolean;
  if (n == "email") return AttributeType::kEmail;
  if (n == "int") return AttributeType::kInt;
  return std::nullopt;
}

absl::StatusOr<std::string> NormalizeTyped(AttributeType type, std::string_view value,
                                           std::string_view date_format) {
  std::string_view v = Trim(value);
  switch (type) {
    case AttributeType::kString:
      return std::string(v);
    case AttributeType::kDate:
      return NormalizeDate(v, date_format);
    case AttributeType::kBoolean:
      if (auto b = ParseBool(v)) return std::string(*b ? "true" : "false");
      return absl::InvalidArgumentError(
          absl::StrCat("not a boolean (expected ", kBooleanForms, ")"));
    case AttributeType::kEmail:
      if (IsValidEmail(v)) return std::string(v);
      return absl::InvalidArgumentError(
          "not a valid email address (expected local@domain.tld, one '@', no spaces)");
    case AttributeType::kInt:
      if (auto n = NormalizeInt(v)) return *n;
      return absl::InvalidArgumentError(
          "not an integer (expected digits with an optional sign, within 64 bits)");
  }
  return absl::InternalError("unknown attribute type");
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

RowValidator::RowValidator(const FieldMapping& mapping)
    : mapping_(mapping),
      attribute_types_(mapping.attribute_columns().size(), AttributeType::kString) {}

absl::StatusOr<RowValidator> RowValidator::Create(const FieldMapping& mapping,
                                                  const v1::ImportPolicy& policy) {
  RowValidator validator(mapping);
  validator.date_format_ = policy.date_format();
  // Attribute name (as given, and lowercased) -> type.
  std::map<std::string, AttributeType> exact, folded;
  for (const auto& [raw_name, type_name] : policy.attribute_types()) {
    std::optional<AttributeType> type = ParseAttributeType(type_name);
    if (!type) {
      return absl::InvalidArgumentError(absl::StrCat(
          "import policy: attribute_types[", Quoted(raw_name), "] = ", Quoted(type_name),
          " is not one of string, date, boolean, email, int"));
    }
    std::string_view name = Trim(raw_name);
    if (ToLower(name).rfind("attr:", 0) == 0) name = Trim(name.substr(5));
    exact[std::string(name)] = *type;
    folded[ToLower(name)] = *type;
  }
  const std::vector<ColumnBinding>& columns = mapping.attribute_columns();
  for (size_t i = 0; i < columns.size(); ++i) {
    if (auto it = exact.find(columns[i].attribute); it != exact.end()) {
      validator.attribute_types_[i] = it->second;
    } else if (auto f = folded.find(ToLower(columns[i].attribute)); f != folded.end()) {
      validator.attribute_types_[i] = f->second;
    }
  }
  return validator;
}

std::optional<PersonRow> RowValidator::Validate(const CsvRecord& record,
                                                std::vector<v1::RowError>* errors) {
  PersonRow row;
  if (!Validate(record, errors, &row)) return std::nullopt;
  return row;
}

bool RowValidator::Validate(const CsvRecord& record, std::vector<v1::RowError>* errors,
                            PersonRow* out) {
  const size_t before = errors->size();
  const int64_t line = record.line;
  if (record.fields.size() != mapping_.header_width()) {
    errors->push_back(
        MakeError(line, "", "",
                  absl::StrCat("expected ", mapping_.header_width(),
                               " fields (as in the header), found ", record.fields.size())));
    return false;
  }
  // Views into the record: values are copied once, into the row's (reused) strings.
  auto value = [&](Field f) -> std::string_view {
    int col = mapping_.column(f);
    if (col < 0) return {};
    return Trim(record.fields[col]);
  };
  auto column = [&](Field f) { return mapping_.header(mapping_.column(f)); };
  auto error = [&](Field f, std::string_view v, std::string reason) {
    errors->push_back(MakeError(line, column(f), v, std::move(reason)));
  };

  PersonRow& row = *out;
  row.line = line;
  row.has_email = false;
  row.has_person_type = false;
  row.has_seat = false;
  row.key_from_email = false;
  row.attribute_columns.clear();
  v1::Person& p = row.person;
  p.Clear();

  for (Field f : {Field::kFirstName, Field::kLastName}) {
    std::string_view v = value(f);
    if (v.empty()) error(f, v, absl::StrCat(std::string(FieldName(f)), " is required"));
    (f == Field::kFirstName ? p.mutable_first_name() : p.mutable_last_name())
        ->assign(v.data(), v.size());
  }

  std::string_view lang = value(Field::kLanguage);
  if (lang.empty()) {
    error(Field::kLanguage, lang, "language is required");
  } else if (auto normalized = NormalizeLanguage(lang)) {
    p.set_language(*normalized);
  } else {
    error(Field::kLanguage, lang,
          "not a language code (expected ISO 639-1 / BCP 47: 2-3 letters with an optional "
          "4-letter script and 2-letter or 3-digit region, e.g. en, en-US, zh-Hant-TW, es-419)");
  }

  std::string_view active = value(Field::kActive);
  if (auto a = ParseBool(active)) {
    p.set_active(*a);
  } else {
    error(Field::kActive, active,
          active.empty() ? std::string("active is required")
                         : absl::StrCat("not a boolean (expected ", kBooleanForms, ")"));
  }

  if (mapping_.has(Field::kPersonType)) {
    std::string_view t = value(Field::kPersonType);
    if (auto type = ParsePersonType(t)) {
      p.set_person_type(*type);
      row.has_person_type = true;
    } else {
      error(
          Field::kPersonType, t,
          absl::StrCat("unknown person type (expected ", kPersonTypes, "; empty means employee)"));
    }
  } else {
    p.set_person_type(v1::PERSON_TYPE_EMPLOYEE);
  }

  std::string_view email = value(Field::kEmail);
  if (mapping_.has(Field::kEmail)) {
    row.has_email = true;
    if (!email.empty() && !IsValidEmail(email)) {
      error(Field::kEmail, email,
            "not a valid email address (expected local@domain.tld, one '@', no spaces)");
    }
    p.mutable_email()->assign(email.data(), email.size());
  }

  std::string_view person_id = value(Field::kPersonId);
  if (person_id.empty()) {
    p.set_person_id(ToLower(email));
  } else {
    p.mutable_person_id()->assign(person_id.data(), person_id.size());
  }
  if (p.person_id().empty()) {
    errors->push_back(MakeError(
        line, mapping_.has(Field::kPersonId) ? column(Field::kPersonId) : column(Field::kEmail), "",
        "neither person_id nor email is set: the row has no person key"));
  }
  row.key_from_email = person_id.empty();

  if (mapping_.has(Field::kSeat)) {
    std::string_view seat = value(Field::kSeat);
    if (!seat.empty()) {
      row.has_seat = true;
      p.mutable_seat()->assign(seat.data(), seat.size());
    }
  }

  const std::vector<ColumnBinding>& attributes = mapping_.attribute_columns();
  for (size_t i = 0; i < attributes.size(); ++i) {
    const ColumnBinding& b = attributes[i];
    row.attribute_columns.push_back(b.attribute);
    std::string_view v = Trim(record.fields[b.index]);
    if (v.empty()) continue;
    absl::StatusOr<std::string> typed = NormalizeTyped(attribute_types_[i], v, date_format_);
    if (!typed.ok()) {
      errors->push_back(MakeError(line, mapping_.header(b.index), v,
                                  absl::StrCat("attribute ", Quoted(b.attribute), ": ",
                                               std::string(typed.status().message()))));
      continue;
    }
    (*p.mutable_attributes())[b.attribute] = *std::move(typed);
  }

  return errors->size() == before;
}

v1::RowError DuplicatePersonError(int64_t line, const std::string& column,
                                  std::string_view key, int64_t first_line) {
  return MakeError(line, column, key,
                   absl::StrCat("duplicate person ", Quoted(CapValue(key)), ": on lines ",
                                first_line, " and ", line));
}

v1::RowError DuplicateSeatError(int64_t line, const std::string& column, std::string_view seat,
                                int64_t first_line) {
  return MakeError(line, column, seat,
                   absl::StrCat("seat ", Quoted(CapValue(seat)),
                                " is given to two people: on lines ", first_line, " and ", line));
}

DuplicateColumns DuplicateColumns::Of(const FieldMapping& mapping) {
  auto header = [&](Field f) {
    const int c = mapping.column(f);
    return c < 0 ? std::string() : mapping.header(c);
  };
  return {header(Field::kPersonId), header(Field::kEmail), header(Field::kSeat)};
}

bool InMemoryDuplicates::Check(int64_t line, const std::string& key, bool key_from_email,
                               const std::string& seat, std::vector<v1::RowError>* errors) {
  bool found = false;
  if (!key.empty()) {
    if (auto [it, inserted] = key_lines_.emplace(key, line); !inserted) {
      errors->push_back(DuplicatePersonError(line, columns_.key(key_from_email), key, it->second));
      found = true;
    }
  }
  if (!seat.empty()) {
    if (auto [it, inserted] = seat_lines_.emplace(seat, line); !inserted) {
      errors->push_back(DuplicateSeatError(line, columns_.seat, seat, it->second));
      found = true;
    }
  }
  return found;
}

}  // namespace rostersync::roster
