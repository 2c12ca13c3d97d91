#include "services/roster/field_mapping.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "services/roster/ascii_text.h"

namespace rostersync::roster {
namespace {

constexpr std::pair<std::string_view, Field> kFieldNames[] = {
    {"person_id", Field::kPersonId},     {"email", Field::kEmail},
    {"first_name", Field::kFirstName},   {"last_name", Field::kLastName},
    {"language", Field::kLanguage},      {"active", Field::kActive},
    {"person_type", Field::kPersonType}, {"seat", Field::kSeat},
};
constexpr std::string_view kAttrPrefix = "attr:";

std::string Key(const ColumnBinding& b) {
  return b.field == Field::kAttribute ? std::string(kAttrPrefix) + b.attribute
                                      : std::string(FieldName(b.field));
}

}  // namespace

std::string_view FieldName(Field field) {
  for (const auto& [name, f] : kFieldNames) {
    if (f == field) return name;
  }
  return "attr";
}

std::string NormalizeHeader(std::string_view header) { return ToLower(Trim(header)); }

std::optional<Field> ParseCanonicalField(std::string_view name, std::string* attribute) {
  std::string_view trimmed = Trim(name);
  std::string lower = ToLower(trimmed);
  if (lower.rfind(kAttrPrefix, 0) == 0) {
    std::string_view attr = Trim(trimmed.substr(kAttrPrefix.size()));
    if (attr.empty()) return std::nullopt;
    if (attribute != nullptr) *attribute = std::string(attr);
    return Field::kAttribute;
  }
  for (const auto& [field_name, f] : kFieldNames) {
    if (lower == field_name) return f;
  }
  return std::nullopt;
}

absl::StatusOr<FieldMapping> FieldMapping::Create(
    const std::map<std::string, std::string>& header_map,
    const std::vector<std::string>& header_row, std::string_view file_name) {
  std::vector<std::string> problems;

  // Normalized source header -> canonical target.
  std::map<std::string, std::pair<Field, std::string>> targets;
  std::map<std::string, std::string> source_of_target;  // canonical key -> source header
  for (const auto& [source, canonical] : header_map) {
    std::string attribute;
    std::optional<Field> field = ParseCanonicalField(canonical, &attribute);
    if (!field) {
      problems.push_back(absl::StrCat("header_map maps \"", source, "\" to unknown field \"",
                                      canonical,
                                      "\" (expected person_id, email, first_name, last_name, "
                                      "language, active, person_type, seat or attr:<name>)"));
      continue;
    }
    targets[NormalizeHeader(source)] = {*field, attribute};
    ColumnBinding b{0, *field, attribute, ""};
    source_of_target[Key(b)] = std::string(Trim(source));
  }

  FieldMapping mapping;
  mapping.header_width_ = header_row.size();
  std::map<std::string, int> seen_headers;  // normalized -> column
  std::map<std::string, int> seen_targets;  // canonical key -> column
  for (int i = 0; i < static_cast<int>(header_row.size()); ++i) {
    std::string written(Trim(header_row[i]));
    mapping.headers_.push_back(written);
    std::string normalized = NormalizeHeader(written);
    if (normalized.empty()) continue;  // an unnamed column carries nothing we can map
    if (auto [it, inserted] = seen_headers.emplace(normalized, i); !inserted) {
      problems.push_back(absl::StrCat("duplicate column \"", written, "\" (columns ",
                                      it->second + 1, " and ", i + 1, ")"));
      continue;
    }
    ColumnBinding binding{i, Field::kAttribute, "", written};
    if (!header_map.empty()) {
      auto t = targets.find(normalized);
      if (t == targets.end()) continue;
      binding.field = t->second.first;
      binding.attribute = t->second.second;
    } else {
      std::optional<Field> field = ParseCanonicalField(written, &binding.attribute);
      if (!field) continue;
      binding.field = *field;
    }
    std::string key = Key(binding);
    if (auto [it, inserted] = seen_targets.emplace(key, i); !inserted) {
      problems.push_back(absl::StrCat("columns \"", mapping.headers_[it->second], "\" and \"",
                                      written, "\" both map to \"", key, "\""));
      continue;
    }
    if (binding.field == Field::kAttribute) {
      mapping.attributes_.push_back(binding);
    } else {
      mapping.columns_[binding.field] = i;
    }
    mapping.bindings_.push_back(std::move(binding));
  }

  auto describe = [&](std::string_view canonical) {
    auto it = source_of_target.find(std::string(canonical));
    if (it == source_of_target.end()) return absl::StrCat("\"", std::string(canonical), "\"");
    return absl::StrCat("\"", std::string(canonical), "\" (mapped from \"", it->second, "\")");
  };
  for (Field f : {Field::kFirstName, Field::kLastName, Field::kLanguage, Field::kActive}) {
    if (!mapping.has(f)) {
      problems.push_back(absl::StrCat("missing required column ", describe(FieldName(f))));
    }
  }
  if (!mapping.has(Field::kEmail) && !mapping.has(Field::kPersonId)) {
    problems.push_back(absl::StrCat("missing required column ", describe("email"), " or ",
                                    describe("person_id"), " (one of them is needed)"));
  }
  if (!problems.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("file \"", std::string(file_name), "\": ", absl::StrJoin(problems, "; ")));
  }
  return mapping;
}

int FieldMapping::column(Field field) const {
  auto it = columns_.find(field);
  return it == columns_.end() ? -1 : it->second;
}

}  // namespace rostersync::roster
