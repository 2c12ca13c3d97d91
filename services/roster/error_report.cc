#include "services/roster/error_report.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/roster/person_validation.h"
#include "services/roster/roster_csv.h"

namespace rostersync::roster {
namespace {

std::string Percent(double share) { return absl::StrFormat("%.4g%%", share * 100.0); }

}  // namespace

std::string ErrorReportLine(const v1::RowError& error) {
  return CsvLine(
      {absl::StrCat(error.line()), error.column(), CapValue(error.value()), error.reason()});
}

ErrorReportWriter::ErrorReportWriter(ReportSink sink, size_t flush_bytes)
    : sink_(std::move(sink)), flush_bytes_(std::max<size_t>(flush_bytes, 1)) {
  buffer_ = CsvLine({"line", "column", "value", "reason"});
}

absl::Status ErrorReportWriter::Add(const v1::RowError& error) {
  if (!status_.ok()) return status_;
  if (finished_) return absl::FailedPreconditionError("error report: Add() after Finish()");
  buffer_ += ErrorReportLine(error);
  ++rows_;
  if (buffer_.size() >= flush_bytes_) return Flush();
  return absl::OkStatus();
}

absl::Status ErrorReportWriter::Finish() {
  if (!status_.ok()) return status_;
  if (finished_) return absl::OkStatus();
  finished_ = true;
  return Flush();
}

absl::Status ErrorReportWriter::Flush() {
  if (buffer_.empty()) return absl::OkStatus();
  status_ = sink_(buffer_);
  buffer_.clear();
  return status_;
}

absl::Status RenderErrorReport(const std::vector<v1::RowError>& errors, const ReportSink& write) {
  ErrorReportWriter report(write);
  for (const v1::RowError& e : errors) {
    if (absl::Status s = report.Add(e); !s.ok()) return s;
  }
  return report.Finish();
}

double MaxInvalidShare(const v1::ImportPolicy& policy) {
  if (!policy.has_max_invalid_share()) return kDefaultMaxInvalidShare;
  const double share = policy.max_invalid_share();
  if (std::isnan(share) || share < 0) return 0;
  return std::min(share, 1.0);
}

bool ExceedsInvalidShare(int64_t invalid_rows, int64_t total_rows, const v1::ImportPolicy& policy) {
  if (total_rows <= 0 || invalid_rows <= 0) return false;
  return static_cast<double>(invalid_rows) >
         MaxInvalidShare(policy) * static_cast<double>(total_rows);
}

std::string DescribeInvalidShare(int64_t invalid_rows, int64_t total_rows,
                                 const v1::ImportPolicy& policy) {
  const double share =
      total_rows > 0 ? static_cast<double>(invalid_rows) / static_cast<double>(total_rows) : 0;
  return absl::StrCat(
      invalid_rows, " of ", total_rows, " rows (", Percent(share), ") are invalid, ",
      ExceedsInvalidShare(invalid_rows, total_rows, policy) ? "above" : "within", " the limit of ",
      Percent(MaxInvalidShare(policy)), " (import policy max_invalid_share)");
}

}  // namespace rostersync::roster
