#pragma once

// A streaming RFC 4180 CSV reader. Feed it the file in chunks of any size (a chunk boundary
// may fall anywhere, even inside a CRLF, a doubled quote or the UTF-8 BOM); it yields each
// complete record with the 1-based physical line on which the record starts.
//
//  - Fields are separated by `delimiter` (default ','); a field may be quoted with '"', a
//    quote inside a quoted field is doubled ("a ""b"" c"), and a quoted field may span lines.
//  - Records end at CRLF, LF or a lone CR. Line breaks inside quoted fields are kept as-is.
//  - A UTF-8 byte order mark at the very start is stripped.
//  - Blank lines (nothing at all between two line breaks) are skipped, so trailing blank
//    lines do not produce records.
//  - A '"' inside an unquoted field is kept literally (lenient); anything but a delimiter or a
//    line break after a closing quote is an error, as is a quoted field still open at the
//    end of the input. Errors are INVALID_ARGUMENT and name the line.
//  - A record larger than `max_record_bytes` is an error (memory stays bounded even when a
//    stray quote swallows the rest of a file).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace rostersync::roster {

struct CsvRecord {
  int64_t line = 0;  // 1-based physical line where the record starts
  std::vector<std::string> fields;
};

struct CsvOptions {
  char delimiter = ',';
  size_t max_record_bytes = 8 << 20;  // 8 MiB; a record may hold a 1 MB field and more
};

class CsvReader {
 public:
  explicit CsvReader(CsvOptions options = {});

  // Parses `chunk`, appending every record completed by it to `out`. After an error the
  // reader stays failed and returns the same error.
  absl::Status Feed(std::string_view chunk, std::vector<CsvRecord>* out);
  // Ends the input: appends the last record when the input did not end with a line break.
  absl::Status Finish(std::vector<CsvRecord>* out);

  // The physical line the reader is on (1-based).
  int64_t line() const { return line_; }

 private:
  enum class State {
    kFieldStart,    // at the start of a field
    kUnquoted,      // inside an unquoted field
    kQuoted,        // inside a quoted field
    kQuoteInQuoted  // saw '"' inside a quoted field: closing quote or first half of '""'
  };

  absl::Status Consume(char c, std::vector<CsvRecord>* out);
  void EndField();
  void EndRecord(std::vector<CsvRecord>* out);
  // A line break outside quotes ends the field and the record.
  void EndRecordAtNewline(std::vector<CsvRecord>* out);
  absl::Status Fail(absl::Status status);
  absl::Status CheckSize();

  CsvOptions options_;
  State state_ = State::kFieldStart;
  std::string field_;
  std::vector<std::string> fields_;
  size_t record_bytes_ = 0;
  int64_t line_ = 1;
  int64_t record_line_ = 1;
  int64_t quote_line_ = 0;  // where the open quoted field started
  bool prev_cr_ = false;    // the previous byte was a CR (a following LF is part of it)
  bool bom_done_ = false;
  std::string bom_buf_;
  absl::Status error_;
};

}  // namespace rostersync::roster
