#include "tools/rosterctl/table_printer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace rostersync::rosterctl {
namespace {

void AppendPadded(std::string* out, const std::string& cell, size_t width) {
  out->append(cell);
  const size_t w = DisplayWidth(cell);
  if (w < width) out->append(width - w, ' ');
}

}  // namespace

size_t DisplayWidth(absl::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;  // not a continuation byte
  }
  return n;
}

std::string SanitizeCell(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c == '\n' || c == '\r' || c == '\t') {
      out.push_back(' ');
    } else if (c < 0x20 || c == 0x7f) {
      out.push_back('?');
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

TablePrinter::TablePrinter(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void TablePrinter::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  for (std::string& c : cells) c = SanitizeCell(c);
  rows_.push_back(std::move(cells));
}

std::string TablePrinter::Render() const {
  const size_t n = headers_.size();
  std::vector<size_t> widths(n, 0);
  for (size_t i = 0; i < n; ++i) widths[i] = DisplayWidth(headers_[i]);
  for (const auto& row : rows_) {
    for (size_t i = 0; i < n; ++i) widths[i] = std::max(widths[i], DisplayWidth(row[i]));
  }
  std::string out;
  auto render_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < n; ++i) {
      if (i > 0) line.append("  ");
      if (i + 1 == n) {
        line.append(row[i]);
      } else {
        AppendPadded(&line, row[i], widths[i]);
      }
    }
    // A trailing empty cell would leave padding behind.
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out.append(line).append("\n");
  };
  render_row(headers_);
  for (const auto& row : rows_) render_row(row);
  return out;
}

void KeyValuePrinter::Add(std::string key, std::string value) {
  lines_.emplace_back(SanitizeCell(key) + ":", SanitizeCell(value));
}

std::string KeyValuePrinter::Render() const {
  size_t width = 0;
  for (const auto& [k, v] : lines_) width = std::max(width, DisplayWidth(k));
  std::string out;
  for (const auto& [k, v] : lines_) {
    std::string line;
    AppendPadded(&line, k, width);
    line.append("  ").append(v);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out.append(line).append("\n");
  }
  return out;
}

std::string FormatTimestamp(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() == 0 && ts.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(ts.seconds()),
                          absl::UTCTimeZone());
}

std::string OrDash(absl::string_view s) { return s.empty() ? "-" : std::string(s); }

std::string FormatBytes(int64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = -1;
  while (v >= 1024 && u < 3) {
    v /= 1024;
    ++u;
  }
  return absl::StrFormat("%.1f %s", v, units[u]);
}

}  // namespace rostersync::rosterctl
