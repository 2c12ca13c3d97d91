#pragma once

// Chooses a roster file's delimiter among ',', ';', '\t' and '|'.
//
// SniffDelimiter() reads the start of the decoded (UTF-8) text, e.g. the first kSniffBytes,
// once per candidate with RFC 4180 quoting, and scores each candidate by how consistently it
// splits the first kSniffRecords records: the header must split into at least two columns and
// the score is the share of the following records with the header's field count (a record
// that is not valid CSV for that delimiter counts as inconsistent). Highest share wins; equal
// shares prefer more columns; a full tie, or no candidate splitting the header, gives ','.
// When `whole_file` is false the sample may end mid-record: that last record is ignored.
//
// ChooseDelimiter() is what an importer calls: an explicitly configured delimiter wins, else a
// ".tsv" file name means tab, else (".csv", ".txt", anything) the sample is sniffed. The
// result carries a reason for the import report.
//
//   ASSIGN_OR_RETURN(DelimiterChoice choice,
//                    ChooseDelimiter(integration.delimiter, file_name, first_64k, whole_file));
//   CsvOptions options;  options.delimiter = choice.delimiter;
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace rostersync::roster {

// How much decoded text to gather before sniffing (less if the file is shorter).
inline constexpr size_t kSniffBytes = 64 * 1024;
// Records examined per candidate.
inline constexpr int kSniffRecords = 100;

struct DelimiterChoice {
  char delimiter = ',';
  std::string reason;  // e.g. "sniffed ';': 5 columns, 99 of 99 records agree (',': 1 column...)"
};

DelimiterChoice SniffDelimiter(std::string_view sample, bool whole_file);

// The delimiter a file name implies: '\t' for ".tsv" (case-insensitive), nullopt otherwise.
std::optional<char> DelimiterForFileName(std::string_view file_name);

// Parses a configured delimiter: "" or "auto" -> nullopt (sniff); ",", ";", "|", "\t" or the
// names "comma", "semicolon", "tab", "pipe". INVALID_ARGUMENT naming the value otherwise.
absl::StatusOr<std::optional<char>> ParseDelimiterSetting(std::string_view setting);

// Configured setting first, then the file extension, then sniffing `sample`.
absl::StatusOr<DelimiterChoice> ChooseDelimiter(std::string_view setting,
                                                std::string_view file_name, std::string_view sample,
                                                bool whole_file);

// A printable name for a delimiter: "','", "';'", "tab", "'|'".
std::string DelimiterName(char delimiter);

}  // namespace rostersync::roster
