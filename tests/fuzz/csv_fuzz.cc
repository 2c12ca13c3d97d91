// libFuzzer target for the roster file reader: TextDecoder + delimiter sniffing + CsvReader
// (through CsvTextReader) and the header mapping. Built with clang and ASan/UBSan by
// scripts/fuzz.sh (`make fuzz`).
//
// Input (seeds in tests/fuzz/corpus/ carry this 3-byte prefix): byte 0 picks the encoding, byte 1
// the chunk size, byte 2 the delimiter setting; the rest is the file. Checked properties, beyond
// "no crash, no leak, no UB":
//  - feeding the file in chunks gives exactly the records and status of feeding it whole;
//  - record lines start at 1 and never go down;
//  - every field of a successful read is valid UTF-8 without NUL (re-decoding it is identity).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "services/roster/csv_text_reader.h"
#include "services/roster/delimiter_sniffer.h"
#include "services/roster/field_mapping.h"
#include "services/roster/text_decoder.h"

namespace {

using rostersync::roster::CsvRecord;
using rostersync::roster::CsvTextOptions;
using rostersync::roster::CsvTextReader;

constexpr const char* kEncodings[] = {"auto",     "utf-8",    "windows-1252",
                                      "utf-16le", "utf-16be", "utf-16"};
constexpr const char* kDelimiters[] = {"", ",", ";", "tab", "|"};
constexpr const char* kFileNames[] = {"fuzz.csv", "fuzz.tsv", "fuzz.txt"};

#define FUZZ_CHECK(cond)                                                                       \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      __builtin_fprintf(stderr, "FUZZ_CHECK failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                            \
    }                                                                                          \
  } while (0)

struct Result {
  absl::Status status;
  std::vector<CsvRecord> records;
};

Result Read(std::string_view file, const CsvTextOptions& options, size_t chunk) {
  Result r;
  absl::StatusOr<CsvTextReader> reader = CsvTextReader::Create(options);
  if (!reader.ok()) {
    r.status = reader.status();
    return r;
  }
  for (size_t i = 0; i < file.size() && r.status.ok(); i += chunk) {
    r.status = reader->Feed(file.substr(i, chunk), &r.records);
  }
  if (r.status.ok()) r.status = reader->Finish(&r.records);
  return r;
}

bool SameRecords(const std::vector<CsvRecord>& a, const std::vector<CsvRecord>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].line != b[i].line || a[i].fields != b[i].fields) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  CsvTextOptions options;
  options.encoding = kEncodings[data[0] % std::size(kEncodings)];
  options.file_name = kFileNames[(data[0] / std::size(kEncodings)) % std::size(kFileNames)];
  const size_t chunk = 1 + data[1] % 64;
  options.delimiter = kDelimiters[data[2] % std::size(kDelimiters)];
  options.max_record_bytes = 4096 + (data[2] / std::size(kDelimiters)) * 64;
  std::string_view file(reinterpret_cast<const char*>(data) + 3, size - 3);

  // The sniffer alone, on raw bytes as if they were text.
  (void)rostersync::roster::SniffDelimiter(file, /*whole_file=*/(data[1] & 1) != 0);

  Result whole = Read(file, options, file.size() + 1);
  Result chunked = Read(file, options, chunk);
  // Whichever error comes first may depend on chunking once the reader runs ahead of the
  // decoder (after kSniffBytes of text); below that the very same error is reported.
  FUZZ_CHECK(whole.status.ok() == chunked.status.ok());
  if (file.size() < rostersync::roster::kSniffBytes / 4) FUZZ_CHECK(whole.status == chunked.status);
  if (whole.status.ok()) FUZZ_CHECK(SameRecords(whole.records, chunked.records));
  if (!whole.status.ok()) return 0;

  int64_t last_line = 1;
  for (const CsvRecord& r : whole.records) {
    FUZZ_CHECK(r.line >= last_line);
    last_line = r.line;
    for (const std::string& field : r.fields) {
      absl::StatusOr<rostersync::roster::TextDecoder> utf8 =
          rostersync::roster::TextDecoder::Create("utf-8");
      FUZZ_CHECK(utf8.ok());
      std::string again;
      // Re-decoding as UTF-8 must succeed and give the same bytes (the binary-sample check
      // does not apply: a field may legitimately be a lone control character).
      bool ok = utf8->Feed(field, &again).ok() && utf8->Finish(&again).ok();
      if (!ok) {
        FUZZ_CHECK(field.find('\0') == std::string::npos);
        continue;  // only the control-character heuristic may refuse a valid field
      }
      // A field may start with U+FEFF (a BOM inside the file), which re-decoding strips.
      FUZZ_CHECK(again == field ||
                 (field.rfind("\xEF\xBB\xBF", 0) == 0 && again == field.substr(3)));
    }
  }

  // Header mapping on the first record, with and without an explicit header map.
  if (!whole.records.empty()) {
    const std::vector<std::string>& header = whole.records[0].fields;
    (void)rostersync::roster::FieldMapping::Create({}, header, options.file_name);
    std::map<std::string, std::string> header_map = {
        {"Employee ID", "person_id"}, {"E-mail", "email"}, {"Dept", "attr:department"}};
    if (header.size() > 1) header_map[header[0]] = "first_name";
    (void)rostersync::roster::FieldMapping::Create(header_map, header, options.file_name);
  }
  return 0;
}
