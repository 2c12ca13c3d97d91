#pragma once

// Human output: tables with aligned columns and "Key: value" blocks. Cells are sanitized
// (control characters, which a file name from a customer's SFTP server may carry, become '?';
// newlines and tabs become spaces) and widths count UTF-8 code points, so columns stay
// aligned with non-ASCII names.
#include <google/protobuf/timestamp.pb.h>

#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace rostersync::rosterctl {

class TablePrinter {
 public:
  explicit TablePrinter(std::vector<std::string> headers);

  // A row with fewer cells than headers is padded with empty cells; extra cells are an error
  // of the caller and are dropped.
  void AddRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }

  // Columns separated by two spaces, every column padded to its widest cell except the last
  // (no trailing spaces). Headers are printed as given.
  std::string Render() const;
  void Print(std::ostream& out) const { out << Render(); }

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// "Key:   value" lines with the values aligned.
class KeyValuePrinter {
 public:
  void Add(std::string key, std::string value);
  std::string Render() const;
  void Print(std::ostream& out) const { out << Render(); }

 private:
  std::vector<std::pair<std::string, std::string>> lines_;
};

// Number of UTF-8 code points (the display width for the scripts rosterctl prints).
size_t DisplayWidth(absl::string_view s);
// Replaces control characters so a cell cannot break the layout or drive the terminal.
std::string SanitizeCell(absl::string_view s);
// "2026-11-21T14:38:00Z" (UTC, fractional seconds dropped), or "-" when unset.
std::string FormatTimestamp(const google::protobuf::Timestamp& ts);
// "-" for an empty string, else the string.
std::string OrDash(absl::string_view s);
// "1.2 MiB", "512 B".
std::string FormatBytes(int64_t bytes);

}  // namespace rostersync::rosterctl
