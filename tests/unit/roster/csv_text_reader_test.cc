#include "services/roster/csv_text_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace rostersync::roster {
namespace {

using ::testing::HasSubstr;
using Rows = std::vector<std::vector<std::string>>;

struct Read {
  absl::Status status;
  Rows rows;
  std::string encoding;
  char delimiter = 0;
  std::string reason;
};

Read ReadAll(std::string_view input, CsvTextOptions options, size_t chunk = 0) {
  Read r;
  absl::StatusOr<CsvTextReader> reader = CsvTextReader::Create(options);
  if (!reader.ok()) {
    r.status = reader.status();
    return r;
  }
  std::vector<CsvRecord> records;
  if (chunk == 0) chunk = input.size() + 1;
  for (size_t i = 0; i < input.size() && r.status.ok(); i += chunk) {
    r.status = reader->Feed(input.substr(i, chunk), &records);
  }
  if (r.status.ok()) r.status = reader->Finish(&records);
  for (auto& rec : records) r.rows.push_back(rec.fields);
  r.encoding = std::string(reader->encoding_name());
  r.delimiter = reader->delimiter();
  r.reason = reader->delimiter_reason();
  return r;
}

TEST(CsvTextReaderTest, Utf16LeSemicolonExcelExport) {
  // "id;name\r\n1;Zoë\r\n" as UTF-16 LE with a BOM, the way Excel writes "Unicode text".
  std::string input = "\xFF\xFE";
  for (char16_t u : std::u16string(u"id;name\r\n1;Zo\u00EB\r\n")) {
    input.push_back(static_cast<char>(u & 0xFF));
    input.push_back(static_cast<char>(u >> 8));
  }
  CsvTextOptions options;
  options.file_name = "people.txt";
  for (size_t chunk : {0, 1, 3}) {
    Read r = ReadAll(input, options, chunk);
    ASSERT_TRUE(r.status.ok()) << r.status;
    EXPECT_EQ(r.rows, (Rows{{"id", "name"}, {"1", "Zo\xC3\xAB"}}));
    EXPECT_EQ(r.encoding, "utf-16le");
    EXPECT_EQ(r.delimiter, ';');
    EXPECT_THAT(r.reason, HasSubstr("sniffed"));
  }
}

TEST(CsvTextReaderTest, TsvByNameAndLargeFileStreams) {
  std::string input = "id\tnote\n";
  for (int i = 0; i < 20000; ++i) input += std::to_string(i) + "\ta, b; c | d\n";
  CsvTextOptions options;
  options.file_name = "people.tsv";
  Read r = ReadAll(input, options, 1000);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.rows.size(), 20001u);
  EXPECT_EQ(r.rows[20000], (std::vector<std::string>{"19999", "a, b; c | d"}));
  EXPECT_EQ(r.delimiter, '\t');
}

TEST(CsvTextReaderTest, ErrorsNameTheFile) {
  CsvTextOptions options;
  options.file_name = "hr.csv";
  Read nul = ReadAll(std::string("a,b\n1,\0\n", 8), options);
  EXPECT_THAT(std::string(nul.status.message()), HasSubstr("hr.csv: not a text file"));
  Read quote = ReadAll("a,b\n1,\"open\n", options);
  EXPECT_THAT(std::string(quote.status.message()), HasSubstr("hr.csv: line 2"));
  options.encoding = "klingon";
  Read enc = ReadAll("a\n", options);
  EXPECT_THAT(std::string(enc.status.message()), HasSubstr("hr.csv: unknown encoding"));
  options.encoding = "";
  options.delimiter = "::";
  Read delim = ReadAll("a\n", options);
  EXPECT_THAT(std::string(delim.status.message()), HasSubstr("hr.csv: unknown delimiter"));
}

TEST(CsvTextReaderTest, Windows1252WhenConfigured) {
  CsvTextOptions options;
  options.encoding = "windows-1252";
  Read r = ReadAll("name,city\nRen\xE9,\x93Z\xFCrich\x94\n", options);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.rows,
            (Rows{{"name", "city"}, {"Ren\xC3\xA9", "\xE2\x80\x9CZ\xC3\xBCrich\xE2\x80\x9D"}}));
  EXPECT_EQ(r.encoding, "windows-1252");
}

}  // namespace
}  // namespace rostersync::roster
