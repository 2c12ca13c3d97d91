#include "services/roster/delimiter_sniffer.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "services/roster/ascii_text.h"

namespace rostersync::roster {
namespace {

constexpr char kCandidates[] = {',', ';', '\t', '|'};

// Field counts of the first `max_records` records of `sample` split by `delim`, honoring
// quotes. A record that is not valid CSV for this delimiter (text after a closing quote) gets
// count -1. Blank lines are skipped. An incomplete last record is dropped unless whole_file.
std::vector<int> FieldCounts(std::string_view sample, char delim, bool whole_file,
                             int max_records) {
  std::vector<int> counts;
  int fields = 0;            // fields completed in the current record
  bool any = false;          // the current record has content (not a blank line)
  bool quoted = false;       // inside a quoted field
  bool after_quote = false;  // just closed a quoted field
  bool bad = false;
  auto end_record = [&]() {
    if (any) counts.push_back(bad ? -1 : fields + 1);
    fields = 0;
    any = false;
    bad = false;
    after_quote = false;
  };
  bool field_start = true;
  for (size_t i = 0; i < sample.size() && static_cast<int>(counts.size()) < max_records; ++i) {
    const char c = sample[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < sample.size() && sample[i + 1] == '"') {
          ++i;
        } else {
          quoted = false;
          after_quote = true;
        }
      }
      continue;
    }
    if (c == delim) {
      ++fields;
      any = true;
      field_start = true;
      after_quote = false;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < sample.size() && sample[i + 1] == '\n') ++i;
      end_record();
      field_start = true;
    } else {
      any = true;
      if (after_quote) bad = true;
      if (c == '"' && field_start) quoted = true;
      field_start = false;
    }
  }
  if (static_cast<int>(counts.size()) < max_records) {
    if (quoted) {
      // A quote still open at the end of the sample: with the wrong delimiter a stray quote
      // swallows the rest of the sample, so that counts as one inconsistent record.
      if (!counts.empty()) counts.push_back(-1);
    } else if (whole_file) {
      end_record();
    }
  }
  return counts;
}

struct Score {
  char delim = ',';
  int columns = 0;  // fields in the header
  int agree = 0;    // following records with the header's count
  int records = 0;  // following records examined
  double share() const { return records == 0 ? 1.0 : static_cast<double>(agree) / records; }
};

Score ScoreDelimiter(std::string_view sample, char delim, bool whole_file) {
  std::vector<int> counts = FieldCounts(sample, delim, whole_file, kSniffRecords);
  Score s;
  s.delim = delim;
  if (counts.empty()) return s;
  s.columns = counts[0];
  for (size_t i = 1; i < counts.size(); ++i) {
    ++s.records;
    if (counts[i] == s.columns) ++s.agree;
  }
  return s;
}

std::string Describe(const Score& s) {
  if (s.columns < 2) {
    return absl::StrCat(DelimiterName(s.delim), ": ",
                        s.columns < 0 ? "header is not valid CSV" : "1 column");
  }
  return absl::StrCat(DelimiterName(s.delim), ": ", s.columns, " columns, ", s.agree, " of ",
                      s.records, " records agree");
}

}  // namespace

std::string DelimiterName(char delimiter) {
  if (delimiter == '\t') return "tab";
  return absl::StrCat("'", std::string(1, delimiter), "'");
}

DelimiterChoice SniffDelimiter(std::string_view sample, bool whole_file) {
  std::vector<Score> scores;
  for (char d : kCandidates) scores.push_back(ScoreDelimiter(sample, d, whole_file));
  const Score* best = nullptr;
  for (const Score& s : scores) {
    if (s.columns < 2) continue;
    if (best == nullptr || s.share() > best->share() ||
        (s.share() == best->share() && s.columns > best->columns)) {
      best = &s;  // candidates are in priority order, so a full tie keeps the earlier one
    }
  }
  std::string others;
  for (const Score& s : scores) {
    if (&s == best) continue;
    absl::StrAppend(&others, others.empty() ? "" : "; ", Describe(s));
  }
  DelimiterChoice choice;
  if (best == nullptr) {
    choice.delimiter = ',';
    choice.reason = absl::StrCat(
        "no candidate delimiter splits the header into more than one column; using ',' (", others,
        ")");
    return choice;
  }
  choice.delimiter = best->delim;
  choice.reason = absl::StrCat("sniffed ", Describe(*best), " (", others, ")");
  return choice;
}

std::optional<char> DelimiterForFileName(std::string_view file_name) {
  const std::string lower = ToLower(Trim(file_name));
  constexpr std::string_view kTsv = ".tsv";
  if (lower.size() >= kTsv.size() &&
      lower.compare(lower.size() - kTsv.size(), kTsv.size(), kTsv) == 0) {
    return '\t';
  }
  return std::nullopt;
}

absl::StatusOr<std::optional<char>> ParseDelimiterSetting(std::string_view setting) {
  if (setting == "\t") return std::optional<char>('\t');
  const std::string s = ToLower(Trim(setting));
  if (s.empty() || s == "auto") return std::optional<char>();
  if (s == "," || s == "comma") return std::optional<char>(',');
  if (s == ";" || s == "semicolon") return std::optional<char>(';');
  if (s == "|" || s == "pipe") return std::optional<char>('|');
  if (s == "tab" || s == "\\t") return std::optional<char>('\t');
  return absl::InvalidArgumentError(
      absl::StrCat("unknown delimiter \"", std::string(setting),
                   "\" (expected auto, comma, semicolon, tab, pipe, or one of , ; |)"));
}

absl::StatusOr<DelimiterChoice> ChooseDelimiter(std::string_view setting,
                                                std::string_view file_name, std::string_view sample,
                                                bool whole_file) {
  absl::StatusOr<std::optional<char>> configured = ParseDelimiterSetting(setting);
  if (!configured.ok()) return configured.status();
  if (configured->has_value()) {
    return DelimiterChoice{**configured,
                           absl::StrCat("configured delimiter ", DelimiterName(**configured))};
  }
  if (std::optional<char> by_name = DelimiterForFileName(file_name)) {
    return DelimiterChoice{*by_name, "tab, implied by the .tsv file name"};
  }
  return SniffDelimiter(sample, whole_file);
}

}  // namespace rostersync::roster
