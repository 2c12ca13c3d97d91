#include "services/roster/csv_text_reader.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace rostersync::roster {

absl::StatusOr<CsvTextReader> CsvTextReader::Create(CsvTextOptions options) {
  absl::StatusOr<TextDecoder> decoder = TextDecoder::Create(options.encoding, options.file_name);
  if (!decoder.ok()) return decoder.status();
  absl::StatusOr<std::optional<char>> delimiter = ParseDelimiterSetting(options.delimiter);
  if (!delimiter.ok()) {
    return absl::InvalidArgumentError(
        options.file_name.empty()
            ? std::string(delimiter.status().message())
            : absl::StrCat(options.file_name, ": ", delimiter.status().message()));
  }
  return CsvTextReader(std::move(options), *std::move(decoder));
}

absl::Status CsvTextReader::Named(const absl::Status& status) const {
  if (status.ok() || options_.file_name.empty()) return status;
  return absl::Status(status.code(), absl::StrCat(options_.file_name, ": ", status.message()));
}

absl::Status CsvTextReader::Pump(bool at_end, std::vector<CsvRecord>* out) {
  if (!reader_.has_value()) {
    if (!at_end && text_.size() < kSniffBytes) return absl::OkStatus();
    absl::StatusOr<DelimiterChoice> choice = ChooseDelimiter(
        options_.delimiter, options_.file_name, std::string_view(text_).substr(0, kSniffBytes),
        at_end && text_.size() <= kSniffBytes);
    if (!choice.ok()) return Named(choice.status());
    choice_ = *std::move(choice);
    CsvOptions csv;
    csv.delimiter = choice_.delimiter;
    csv.max_record_bytes = options_.max_record_bytes;
    reader_.emplace(csv);
  }
  absl::Status s = reader_->Feed(text_, out);
  text_.clear();
  if (s.ok() && at_end) s = reader_->Finish(out);
  return Named(s);
}

absl::Status CsvTextReader::Feed(std::string_view chunk, std::vector<CsvRecord>* out) {
  if (absl::Status s = decoder_.Feed(chunk, &text_); !s.ok()) return s;
  return Pump(/*at_end=*/false, out);
}

absl::Status CsvTextReader::Finish(std::vector<CsvRecord>* out) {
  if (absl::Status s = decoder_.Finish(&text_); !s.ok()) return s;
  return Pump(/*at_end=*/true, out);
}

}  // namespace rostersync::roster
