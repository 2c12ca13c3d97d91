#pragma once

// The whole byte-to-record pipeline for a roster file, streaming and bounded in memory:
// raw chunks -> TextDecoder (text_decoder.h) -> UTF-8 -> the delimiter is chosen on the first
// kSniffBytes of text (delimiter_sniffer.h) -> CsvReader (csv_reader.h) -> records.
//
//   CsvTextOptions options;
//   options.encoding = integration.encoding;    // "" = auto
//   options.delimiter = integration.delimiter;  // "" = .tsv -> tab, else sniff
//   options.file_name = "roster.csv";           // starts every error message
//   ASSIGN_OR_RETURN(CsvTextReader reader, CsvTextReader::Create(options));
//   std::vector<CsvRecord> records;
//   for each raw chunk: RETURN_IF_ERROR(reader.Feed(chunk, &records)); consume records; clear.
//   RETURN_IF_ERROR(reader.Finish(&records)); consume records.
//   reader.encoding_name(), reader.had_bom(), reader.delimiter(), reader.delimiter_reason()
//   describe the file for the import report.
//
// Records are held back until 64 KiB of text (or the end) has been seen, then flow as fed.
// Every error is INVALID_ARGUMENT and starts with the file name.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/roster/csv_reader.h"
#include "services/roster/delimiter_sniffer.h"
#include "services/roster/text_decoder.h"

namespace rostersync::roster {

struct CsvTextOptions {
  std::string encoding;   // see ParseTextEncoding
  std::string delimiter;  // see ParseDelimiterSetting
  std::string file_name;
  size_t max_record_bytes = CsvOptions{}.max_record_bytes;
};

class CsvTextReader {
 public:
  // INVALID_ARGUMENT naming the setting for an unknown encoding or delimiter.
  static absl::StatusOr<CsvTextReader> Create(CsvTextOptions options);

  absl::Status Feed(std::string_view chunk, std::vector<CsvRecord>* out);
  absl::Status Finish(std::vector<CsvRecord>* out);

  std::string_view encoding_name() const { return decoder_.encoding_name(); }
  bool had_bom() const { return decoder_.had_bom(); }
  // Known once the first records came out (after kSniffBytes of text or Finish()).
  bool delimiter_known() const { return reader_.has_value(); }
  char delimiter() const { return choice_.delimiter; }
  const std::string& delimiter_reason() const { return choice_.reason; }

 private:
  CsvTextReader(CsvTextOptions options, TextDecoder decoder)
      : options_(std::move(options)), decoder_(std::move(decoder)) {}
  absl::Status Pump(bool at_end, std::vector<CsvRecord>* out);
  absl::Status Named(const absl::Status& status) const;

  CsvTextOptions options_;
  TextDecoder decoder_;
  std::string text_;  // decoded, not yet given to the reader
  std::optional<CsvReader> reader_;
  DelimiterChoice choice_;
};

}  // namespace rostersync::roster
