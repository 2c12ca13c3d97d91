#include "services/roster/field_mapping.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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

// Decodes the UTF-8 sequence at s[i]; returns its length, or 0 when it is not valid UTF-8.
size_t DecodeUtf8(std::string_view s, size_t i, char32_t* cp) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len;
  char32_t v;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    v = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    v = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    v = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b(i + k) & 0x3F);
  }
  static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < kMin[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return len;
}

// Name of an invisible character that is removed, or nullptr.
const char* InvisibleName(char32_t cp) {
  switch (cp) {
    case 0x200B:
      return "zero-width space";
    case 0x200C:
      return "zero-width non-joiner";
    case 0x200D:
      return "zero-width joiner";
    case 0x2060:
      return "word joiner";
    case 0xFEFF:
      return "byte order mark";
    case 0x00AD:
      return "soft hyphen";
    case 0x200E:
      return "left-to-right mark";
    case 0x200F:
      return "right-to-left mark";
    case 0x061C:
      return "Arabic letter mark";
    case 0x180E:
      return "Mongolian vowel separator";
    default:
      break;
  }
  if ((cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069)) {
    return "bidirectional control";
  }
  if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F && cp != 0x85)) {
    return "control character";
  }
  return nullptr;
}

// Name of a non-ASCII character read as a space, or nullptr.
const char* UnicodeSpaceName(char32_t cp) {
  switch (cp) {
    case 0x00A0:
      return "no-break space";
    case 0x202F:
      return "narrow no-break space";
    case 0x3000:
      return "ideographic space";
    case 0x1680:
      return "Ogham space mark";
    case 0x205F:
      return "medium mathematical space";
    case 0x0085:
      return "next line character";
    case 0x2028:
      return "line separator";
    case 0x2029:
      return "paragraph separator";
    default:
      break;
  }
  if (cp >= 0x2000 && cp <= 0x200A) return "Unicode space";
  return nullptr;
}

std::string CodePoint(char32_t cp) { return absl::StrFormat("U+%04X", static_cast<uint32_t>(cp)); }

// Counts of one kind of character, in order of first appearance.
class ChangeTally {
 public:
  void Add(char32_t cp, const char* name) {
    for (Item& item : items_) {
      if (item.cp == cp) {
        ++item.count;
        return;
      }
    }
    items_.push_back({cp, name, 1});
  }
  bool empty() const { return items_.empty(); }
  // "a zero-width space (U+200B) and 2 soft hyphens (U+00AD)"
  std::string Describe() const {
    std::vector<std::string> parts;
    for (const Item& item : items_) {
      std::string name = item.name;
      // "an Arabic letter mark", "an Ogham space mark", but "a Unicode space".
      std::string article =
          std::string_view("aeioAO").find(name[0]) != std::string_view::npos ? "an " : "a ";
      parts.push_back(item.count == 1
                          ? absl::StrCat(article, name, " (", CodePoint(item.cp), ")")
                          : absl::StrCat(item.count, " ", name, "s (", CodePoint(item.cp), ")"));
    }
    if (parts.size() == 1) return parts[0];
    std::string last = parts.back();
    parts.pop_back();
    return absl::StrCat(absl::StrJoin(parts, ", "), " and ", last);
  }

 private:
  struct Item {
    char32_t cp;
    const char* name;
    int count;
  };
  std::vector<Item> items_;
};

// Lowercases ASCII letters and the Latin-1 capitals U+00C0-U+00DE (but U+00D7).
std::string FoldCase(std::string_view s) {
  std::string out = ToLower(s);
  for (size_t i = 0; i + 1 < out.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(out[i]);
    unsigned char d = static_cast<unsigned char>(out[i + 1]);
    if (c == 0xC3 && d >= 0x80 && d <= 0x9E && d != 0x97) {
      out[i + 1] = static_cast<char>(d + 0x20);
      ++i;
    }
  }
  return out;
}

std::string Quoted(std::string_view s) { return absl::StrCat("\"", std::string(s), "\""); }

}  // namespace

std::string_view FieldName(Field field) {
  for (const auto& [name, f] : kFieldNames) {
    if (f == field) return name;
  }
  return "attr";
}

CleanedHeader CleanHeader(std::string_view header) {
  // The header as pieces: text, or a space (ASCII or Unicode, the latter named for the notes).
  struct Piece {
    std::string_view text;  // empty for a space
    char32_t space_cp = 0;  // 0 for an ASCII space
    const char* space_name = nullptr;
  };
  std::vector<Piece> pieces;
  ChangeTally removed;
  for (size_t i = 0; i < header.size();) {
    char32_t cp = 0;
    size_t len = DecodeUtf8(header, i, &cp);
    if (len == 0) {  // not UTF-8: kept as it is
      pieces.push_back({header.substr(i, 1)});
      ++i;
      continue;
    }
    if (len == 1 && IsAsciiSpace(static_cast<char>(cp))) {
      pieces.push_back({{}, 0, nullptr});
    } else if (const char* space = UnicodeSpaceName(cp)) {
      pieces.push_back({{}, cp, space});
    } else if (const char* invisible = InvisibleName(cp)) {
      removed.Add(cp, invisible);
    } else {
      pieces.push_back({header.substr(i, len)});
    }
    i += len;
  }

  ChangeTally replaced;
  CleanedHeader out;
  size_t i = 0;
  while (i < pieces.size()) {
    if (!pieces[i].text.empty()) {
      out.display.append(pieces[i].text);
      ++i;
      continue;
    }
    // A run of spaces: dropped at either end, one ' ' inside.
    size_t end = i;
    bool has_ascii = false;
    while (end < pieces.size() && pieces[end].text.empty()) {
      if (pieces[end].space_cp == 0) has_ascii = true;
      ++end;
    }
    const bool interior = i > 0 && end < pieces.size();
    bool kept_one = has_ascii;  // an ASCII space in the run is the one kept
    for (size_t k = i; k < end; ++k) {
      if (pieces[k].space_cp == 0) continue;
      if (interior && !kept_one) {
        replaced.Add(pieces[k].space_cp, pieces[k].space_name);
        kept_one = true;
      } else {
        removed.Add(pieces[k].space_cp, pieces[k].space_name);
      }
    }
    if (interior) out.display.push_back(' ');
    i = end;
  }
  out.normalized = FoldCase(out.display);
  if (!removed.empty()) out.changes.push_back(absl::StrCat("removed ", removed.Describe()));
  if (!replaced.empty()) {
    out.changes.push_back(absl::StrCat("replaced ", replaced.Describe(), " with a space"));
  }
  return out;
}

std::string NormalizeHeader(std::string_view header) { return CleanHeader(header).normalized; }

std::set<std::string> NormalizedHeaderSet(const std::vector<std::string>& header_row) {
  std::set<std::string> out;
  for (const std::string& h : header_row) {
    std::string n = NormalizeHeader(h);
    if (!n.empty()) out.insert(std::move(n));
  }
  return out;
}

std::string DescribeHeaderChange(const std::set<std::string>& before,
                                 const std::set<std::string>& after) {
  std::vector<std::string> added, removed;
  for (const std::string& h : after) {
    if (before.count(h) == 0) added.push_back(Quoted(h));
  }
  for (const std::string& h : before) {
    if (after.count(h) == 0) removed.push_back(Quoted(h));
  }
  std::vector<std::string> parts;
  if (!added.empty()) parts.push_back(absl::StrCat("columns added: ", absl::StrJoin(added, ", ")));
  if (!removed.empty()) {
    parts.push_back(absl::StrCat("columns removed: ", absl::StrJoin(removed, ", ")));
  }
  return absl::StrJoin(parts, "; ");
}

std::optional<Field> ParseCanonicalField(std::string_view name, std::string* attribute) {
  const std::string cleaned = CleanHeader(name).display;
  std::string_view trimmed = cleaned;
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
    CleanedHeader cleaned = CleanHeader(source);
    ColumnBinding b{0, *field, attribute, ""};
    const std::string key = Key(b);
    if (auto [it, inserted] = targets.emplace(cleaned.normalized, std::pair(*field, attribute));
        !inserted && it->second != std::pair(*field, attribute)) {
      problems.push_back(
          absl::StrCat("header_map has \"", cleaned.display,
                       "\" twice, mapped to different fields (keys are matched after "
                       "trimming and case folding)"));
      continue;
    }
    source_of_target[key] = cleaned.display;
  }

  FieldMapping mapping;
  mapping.header_width_ = header_row.size();
  std::vector<std::vector<std::string>> changes(header_row.size());
  std::map<std::string, int> seen_headers;  // normalized -> column
  std::map<std::string, int> seen_targets;  // canonical key -> column
  auto with_notes = [&](int col) {
    std::string out = absl::StrCat("column ", col + 1, " ", Quoted(mapping.headers_[col]));
    if (!changes[col].empty()) absl::StrAppend(&out, " (", absl::StrJoin(changes[col], "; "), ")");
    return out;
  };
  for (int i = 0; i < static_cast<int>(header_row.size()); ++i) {
    CleanedHeader cleaned = CleanHeader(header_row[i]);
    mapping.headers_.push_back(cleaned.display);
    changes[i] = cleaned.changes;
    if (!cleaned.changes.empty()) {
      mapping.header_notes_.push_back(absl::StrCat("column ", i + 1, " ", Quoted(cleaned.display),
                                                   ": ", absl::StrJoin(cleaned.changes, "; ")));
    }
    const std::string& normalized = cleaned.normalized;
    const std::string& written = cleaned.display;
    if (normalized.empty()) continue;  // an unnamed column carries nothing we can map
    mapping.header_set_.insert(normalized);
    if (auto [it, inserted] = seen_headers.emplace(normalized, i); !inserted) {
      problems.push_back(absl::StrCat("duplicate column ", Quoted(written), " (columns ",
                                      it->second + 1, " and ", i + 1, ": ", with_notes(it->second),
                                      " and ", with_notes(i),
                                      " are the same after trimming and "
                                      "case folding)"));
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
      problems.push_back(absl::StrCat("columns ", it->second + 1, " ",
                                      Quoted(mapping.headers_[it->second]), " and ", i + 1, " ",
                                      Quoted(written), " both map to ", Quoted(key)));
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
    if (it == source_of_target.end()) return Quoted(canonical);
    return absl::StrCat(Quoted(canonical), " (mapped from ", Quoted(it->second),
                        ", which the file does not have)");
  };
  bool missing = false;
  for (Field f : {Field::kFirstName, Field::kLastName, Field::kLanguage, Field::kActive}) {
    if (!mapping.has(f)) {
      missing = true;
      problems.push_back(absl::StrCat("missing required column ", describe(FieldName(f))));
    }
  }
  if (!mapping.has(Field::kEmail) && !mapping.has(Field::kPersonId)) {
    missing = true;
    problems.push_back(absl::StrCat("missing required column ", describe("email"), " or ",
                                    describe("person_id"), " (one of them is needed)"));
  }
  if (missing) {
    constexpr size_t kMaxListed = 30;
    std::vector<std::string> listed;
    for (size_t i = 0; i < mapping.headers_.size() && i < kMaxListed; ++i) {
      listed.push_back(Quoted(mapping.headers_[i]));
    }
    if (mapping.headers_.size() > kMaxListed) {
      listed.push_back(absl::StrCat("and ", mapping.headers_.size() - kMaxListed, " more"));
    }
    problems.push_back(absl::StrCat("the file's columns are ", absl::StrJoin(listed, ", ")));
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
