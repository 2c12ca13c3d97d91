#pragma once

// The error report of an import (FILE_KIND_ERROR_REPORT in the archive): one CSV row per
// problem found in a file,
//   line,column,value,reason
// RFC 4180 (CsvField/CsvLine of roster_csv.h: comma, CRLF, quoted when needed), UTF-8
// without BOM. `line` is the 1-based physical line where the record starts, `column` the
// header as written in the file (empty for a problem of the whole record), `value` the value
// (at most kMaxEchoedValue bytes), `reason` what is wrong.
//
// And the invalid-row limit: past ImportPolicy.max_invalid_share invalid rows (default 0.05)
// the whole file is rejected; below it, valid rows import and invalid ones are reported.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "rostersync/v1/roster.pb.h"

namespace rostersync::roster {

inline constexpr char kErrorReportHeader[] = "line,column,value,reason";
inline constexpr double kDefaultMaxInvalidShare = 0.05;

using ReportSink = std::function<absl::Status(std::string_view)>;

// One report row, CRLF-terminated.
std::string ErrorReportLine(const v1::RowError& error);

// Streams a report to a sink in pieces of about 64 KiB (the header first), so that a report of
// any size needs no more memory than that:
//   ErrorReportWriter report(sink);
//   for (...) RETURN_IF_ERROR(report.Add(error));
//   RETURN_IF_ERROR(report.Finish());
// A sink error is returned by the call that flushed and by every later call.
class ErrorReportWriter {
 public:
  explicit ErrorReportWriter(ReportSink sink, size_t flush_bytes = 64 * 1024);

  absl::Status Add(const v1::RowError& error);
  // Writes the header (even for a report without rows) and whatever is buffered.
  absl::Status Finish();
  int64_t rows() const { return rows_; }

 private:
  absl::Status Flush();

  ReportSink sink_;
  size_t flush_bytes_;
  std::string buffer_;
  int64_t rows_ = 0;
  bool finished_ = false;
  absl::Status status_;
};

// The whole report of `errors` (header first) to `write`.
absl::Status RenderErrorReport(const std::vector<v1::RowError>& errors, const ReportSink& write);

// policy.max_invalid_share when set (clamped to [0, 1]), else kDefaultMaxInvalidShare.
double MaxInvalidShare(const v1::ImportPolicy& policy);

// True when invalid_rows / total_rows is strictly above MaxInvalidShare(policy). A file without
// data rows (total_rows <= 0) never exceeds. With a share of 0 any invalid row exceeds.
bool ExceedsInvalidShare(int64_t invalid_rows, int64_t total_rows, const v1::ImportPolicy& policy);

// For a rejection message: "12 of 100 rows (12%) are invalid, above the limit of 5%
// (import policy max_invalid_share)".
std::string DescribeInvalidShare(int64_t invalid_rows, int64_t total_rows,
                                 const v1::ImportPolicy& policy);

}  // namespace rostersync::roster
