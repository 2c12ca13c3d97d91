#include "services/roster/csv_reader.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace rostersync::roster {
namespace {
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
}  // namespace

CsvReader::CsvReader(CsvOptions options) : options_(options) {}

absl::Status CsvReader::Fail(absl::Status status) {
  error_ = std::move(status);
  return error_;
}

absl::Status CsvReader::CheckSize() {
  if (++record_bytes_ > options_.max_record_bytes) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "line ", record_line_, ": record is larger than ", options_.max_record_bytes, " bytes",
        state_ == State::kQuoted ? absl::StrCat(" (a quoted field opened on line ", quote_line_,
                                                " may be missing its closing quote)")
                                 : "")));
  }
  return absl::OkStatus();
}

void CsvReader::EndField() {
  // Copied, not moved: `field_` keeps its capacity for the next field (a moved-from string
  // would grow again byte run by byte run), the copy is one allocation of the exact size.
  fields_.emplace_back(field_);
  field_.clear();
}

void CsvReader::EndRecordAtNewline(std::vector<CsvRecord>* out) {
  ++line_;
  EndField();
  EndRecord(out);
  record_line_ = line_;
  state_ = State::kFieldStart;
}

void CsvReader::EndRecord(std::vector<CsvRecord>* out) {
  const size_t width = fields_.size();
  out->push_back(CsvRecord{record_line_, std::move(fields_)});
  fields_.clear();
  fields_.reserve(width);  // the next record likely has as many fields: one allocation
  record_bytes_ = 0;
}

absl::Status CsvReader::Consume(char c, std::vector<CsvRecord>* out) {
  if (prev_cr_ && c == '\n') {
    // Second half of a CRLF: the line was already counted at the CR.
    prev_cr_ = false;
    if (state_ == State::kQuoted) {
      field_.push_back(c);
      return CheckSize();
    }
    return absl::OkStatus();
  }
  prev_cr_ = (c == '\r');
  const bool newline = (c == '\r' || c == '\n');
  const char delim = options_.delimiter;

  switch (state_) {
    case State::kFieldStart:
      if (c == '"') {
        state_ = State::kQuoted;
        quote_line_ = line_;
      } else if (c == delim) {
        EndField();
      } else if (newline) {
        ++line_;
        if (!fields_.empty()) {  // "a," then a line break: the record ends with an empty field
          EndField();
          EndRecord(out);
        }
        record_line_ = line_;  // a blank line is skipped
        return absl::OkStatus();
      } else {
        field_.push_back(c);
        state_ = State::kUnquoted;
      }
      return CheckSize();

    case State::kUnquoted:
      if (c == delim) {
        EndField();
        state_ = State::kFieldStart;
      } else if (newline) {
        EndRecordAtNewline(out);
        return absl::OkStatus();
      } else {
        field_.push_back(c);
      }
      return CheckSize();

    case State::kQuoted:
      if (c == '"') {
        state_ = State::kQuoteInQuoted;
      } else {
        if (newline) ++line_;
        field_.push_back(c);
      }
      return CheckSize();

    case State::kQuoteInQuoted:
      if (c == '"') {
        field_.push_back('"');
        state_ = State::kQuoted;
      } else if (c == delim) {
        EndField();
        state_ = State::kFieldStart;
      } else if (newline) {
        EndRecordAtNewline(out);
        return absl::OkStatus();
      } else {
        return Fail(absl::InvalidArgumentError(absl::StrCat(
            "line ", line_, ": unexpected character '", std::string(1, c),
            "' after the closing quote of a quoted field (a quote inside a quoted field must "
            "be doubled)")));
      }
      return CheckSize();
  }
  return absl::OkStatus();
}

absl::Status CsvReader::Feed(std::string_view chunk, std::vector<CsvRecord>* out) {
  if (!error_.ok()) return error_;
  size_t i = 0;
  if (!bom_done_) {
    while (i < chunk.size() && bom_buf_.size() < kUtf8Bom.size() &&
           chunk[i] == kUtf8Bom[bom_buf_.size()]) {
      bom_buf_.push_back(chunk[i++]);
    }
    if (bom_buf_.size() == kUtf8Bom.size()) {
      bom_done_ = true;  // stripped
      bom_buf_.clear();
    } else if (i < chunk.size()) {
      // Not a BOM after all: the bytes held back are data.
      bom_done_ = true;
      std::string held = std::move(bom_buf_);
      bom_buf_.clear();
      for (char c : held) {
        if (absl::Status s = Consume(c, out); !s.ok()) return s;
      }
    } else {
      return absl::OkStatus();  // the chunk ended inside a possible BOM
    }
  }
  const char delim = options_.delimiter;
  for (; i < chunk.size(); ++i) {
    // Fast path: inside a field, a run of bytes that are neither a line break nor (unquoted)
    // the delimiter nor (quoted) a quote is field text; taken only when the whole run fits in
    // max_record_bytes, so that the size error is the same as byte by byte.
    if (!prev_cr_ && (state_ == State::kUnquoted || state_ == State::kQuoted)) {
      const char special = state_ == State::kUnquoted ? delim : '"';
      size_t j = i;
      while (j < chunk.size() && chunk[j] != special && chunk[j] != '\n' && chunk[j] != '\r') {
        ++j;
      }
      if (j > i && record_bytes_ + (j - i) <= options_.max_record_bytes) {
        field_.append(chunk.data() + i, j - i);
        record_bytes_ += j - i;
        i = j;
        if (i == chunk.size()) break;
      }
    }
    if (absl::Status s = Consume(chunk[i], out); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status CsvReader::Finish(std::vector<CsvRecord>* out) {
  if (!error_.ok()) return error_;
  if (!bom_done_) {
    bom_done_ = true;
    std::string held = std::move(bom_buf_);
    bom_buf_.clear();
    for (char c : held) {
      if (absl::Status s = Consume(c, out); !s.ok()) return s;
    }
  }
  if (state_ == State::kQuoted) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("line ", quote_line_, ": unterminated quoted field (opened on line ",
                     quote_line_, ", still open at the end of the file on line ", line_, ")")));
  }
  if (state_ != State::kFieldStart || !fields_.empty()) {
    EndField();
    EndRecord(out);
  }
  state_ = State::kFieldStart;
  return absl::OkStatus();
}

}  // namespace rostersync::roster
