#include "services/roster/csv_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace rostersync::roster {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Parsed {
  absl::Status status;
  std::vector<CsvRecord> records;
};

// Feeds `input` in chunks of `chunk` bytes (0: all at once).
Parsed Parse(std::string_view input, size_t chunk = 0, CsvOptions options = {}) {
  CsvReader reader(options);
  Parsed p;
  if (chunk == 0) chunk = input.size() + 1;
  for (size_t i = 0; i < input.size(); i += chunk) {
    p.status = reader.Feed(input.substr(i, chunk), &p.records);
    if (!p.status.ok()) return p;
  }
  p.status = reader.Finish(&p.records);
  return p;
}

std::vector<std::vector<std::string>> Fields(const Parsed& p) {
  std::vector<std::vector<std::string>> out;
  for (const auto& r : p.records) out.push_back(r.fields);
  return out;
}

std::vector<int64_t> Lines(const Parsed& p) {
  std::vector<int64_t> out;
  for (const auto& r : p.records) out.push_back(r.line);
  return out;
}

using Rows = std::vector<std::vector<std::string>>;

TEST(CsvReaderTest, SimpleRecordsWithLf) {
  Parsed p = Parse("a,b,c\n1,2,3\n");
  ASSERT_TRUE(p.status.ok()) << p.status;
  EXPECT_EQ(Fields(p), (Rows{{"a", "b", "c"}, {"1", "2", "3"}}));
  EXPECT_THAT(Lines(p), ElementsAre(1, 2));
}

TEST(CsvReaderTest, LastRecordWithoutLineBreak) {
  Parsed p = Parse("a,b\n1,2");
  ASSERT_TRUE(p.status.ok());
  EXPECT_EQ(Fields(p), (Rows{{"a", "b"}, {"1", "2"}}));
}

TEST(CsvReaderTest, EmptyFieldsAndTrailingDelimiter) {
  Parsed p = Parse(",a,\n,,\n");
  ASSERT_TRUE(p.status.ok());
  EXPECT_EQ(Fields(p), (Rows{{"", "a", ""}, {"", "", ""}}));
}

TEST(CsvReaderTest, QuotedFieldsWithDelimitersAndDoubledQuotes) {
  Parsed p = Parse("\"Smith, John\",\"say \"\"hi\"\"\",\"\"\n");
  ASSERT_TRUE(p.status.ok()) << p.status;
  EXPECT_EQ(Fields(p), (Rows{{"Smith, John", "say \"hi\"", ""}}));
}

TEST(CsvReaderTest, EmbeddedNewlinesKeepPhysicalLineNumbers) {
  Parsed p = Parse("h1,h2\n\"line one\nline two\",x\nnext,row\r\n\"a\r\nb\",c\r\nlast,1\r\n");
  ASSERT_TRUE(p.status.ok()) << p.status;
  EXPECT_EQ(Fields(p), (Rows{{"h1", "h2"},
                             {"line one\nline two", "x"},
                             {"next", "row"},
                             {"a\r\nb", "c"},
                             {"last", "1"}}));
  EXPECT_THAT(Lines(p), ElementsAre(1, 2, 4, 5, 7));
}

TEST(CsvReaderTest, CrlfAndLoneCr) {
  Parsed p = Parse("a,b\r\n1,2\r\n3,4\r5,6\r\n");
  ASSERT_TRUE(p.status.ok());
  EXPECT_EQ(Fields(p), (Rows{{"a", "b"}, {"1", "2"}, {"3", "4"}, {"5", "6"}}));
  EXPECT_THAT(Lines(p), ElementsAre(1, 2, 3, 4));
}

TEST(CsvReaderTest, Utf8BomIsStripped) {
  Parsed p = Parse("\xEF\xBB\xBFperson_id,email\n1,a@b.c\n");
  ASSERT_TRUE(p.status.ok());
  EXPECT_EQ(Fields(p), (Rows{{"person_id", "email"}, {"1", "a@b.c"}}));
}

TEST(CsvReaderTest, BomOnlyAtStartAndPartialBomIsData) {
  Parsed p = Parse("\xEF\xBB,x\n");
  ASSERT_TRUE(p.status.ok());
  EXPECT_EQ(Fields(p), (Rows{{"\xEF\xBB", "x"}}));
  Parsed q = Parse("a\n\xEF\xBB\xBF\n");
  ASSERT_TRUE(q.status.ok());
  EXPECT_EQ(Fields(q), (Rows{{"a"}, {"\xEF\xBB\xBF"}}));
}

TEST(CsvReaderTest, BlankLinesAreSkippedIncludingTrailingOnes) {
  Parsed p = Parse("a,b\r\n\r\n1,2\n\n\n\r\n");
  ASSERT_TRUE(p.status.ok());
  EXPECT_EQ(Fields(p), (Rows{{"a", "b"}, {"1", "2"}}));
  EXPECT_THAT(Lines(p), ElementsAre(1, 3));
}

TEST(CsvReaderTest, QuotedEmptyFieldIsARecordNotABlankLine) {
  Parsed p = Parse("\"\"\n");
  ASSERT_TRUE(p.status.ok());
  EXPECT_EQ(Fields(p), (Rows{{""}}));
}

TEST(CsvReaderTest, UnterminatedQuoteNamesTheLine) {
  Parsed p = Parse("a,b\n1,2\n3,\"open\nstill open\nand more\n");
  EXPECT_TRUE(absl::IsInvalidArgument(p.status));
  EXPECT_THAT(std::string(p.status.message()), HasSubstr("line 3"));
  EXPECT_THAT(std::string(p.status.message()), HasSubstr("unterminated"));
}

TEST(CsvReaderTest, GarbageAfterClosingQuoteNamesTheLine) {
  Parsed p = Parse("a,b\n\"x\"y,2\n");
  EXPECT_TRUE(absl::IsInvalidArgument(p.status));
  EXPECT_THAT(std::string(p.status.message()), HasSubstr("line 2"));
}

TEST(CsvReaderTest, ErrorIsSticky) {
  CsvReader reader;
  std::vector<CsvRecord> out;
  EXPECT_FALSE(reader.Feed("\"x\"y\n", &out).ok());
  EXPECT_FALSE(reader.Feed("a,b\n", &out).ok());
  EXPECT_FALSE(reader.Finish(&out).ok());
}

TEST(CsvReaderTest, QuoteInsideUnquotedFieldIsLiteral) {
  Parsed p = Parse("5'10\",x\n");
  ASSERT_TRUE(p.status.ok());
  EXPECT_EQ(Fields(p), (Rows{{"5'10\"", "x"}}));
}

TEST(CsvReaderTest, OtherDelimiter) {
  CsvOptions options;
  options.delimiter = ';';
  Parsed p = Parse("a;\"b;c\";d,e\n", 0, options);
  ASSERT_TRUE(p.status.ok());
  EXPECT_EQ(Fields(p), (Rows{{"a", "b;c", "d,e"}}));
}

TEST(CsvReaderTest, RecordSizeLimit) {
  CsvOptions options;
  options.max_record_bytes = 16;
  Parsed p = Parse("a,b\n\"this quoted field never ends and is long\n", 0, options);
  EXPECT_TRUE(absl::IsInvalidArgument(p.status));
  EXPECT_THAT(std::string(p.status.message()), HasSubstr("line 2"));
}

// Field text is copied in runs; the size limit still counts every byte: a record of exactly
// max_record_bytes reads, one byte more fails with the same error for every chunk size.
TEST(CsvReaderTest, RecordSizeLimitIsExactForEveryChunkSize) {
  CsvOptions options;
  options.max_record_bytes = 12;
  const std::string fits = "ab,cd\nabcdef,ghijkl\n";           // 6 + 1 + 6 = 13 with the comma
  const std::string exact = "ab,cd\nabcde,ghijkl\n";           // 12
  const std::string quoted = "ab,cd\n\"abcde\",\"ghijk\"\n";  // 5 + 5, a comma, 4 quotes: 15
  for (size_t chunk : {0, 1, 2, 3, 5, 7}) {
    Parsed over = Parse(fits, chunk, options);
    EXPECT_TRUE(absl::IsInvalidArgument(over.status)) << "chunk " << chunk;
    EXPECT_THAT(std::string(over.status.message()),
                HasSubstr("line 2: record is larger than 12 bytes"))
        << "chunk " << chunk;
    Parsed ok = Parse(exact, chunk, options);
    ASSERT_TRUE(ok.status.ok()) << "chunk " << chunk << ": " << ok.status;
    EXPECT_EQ(Fields(ok), (Rows{{"ab", "cd"}, {"abcde", "ghijkl"}})) << "chunk " << chunk;
    Parsed q = Parse(quoted, chunk, options);
    EXPECT_TRUE(absl::IsInvalidArgument(q.status)) << "chunk " << chunk;
    EXPECT_EQ(q.status.message(), Parse(quoted, 0, options).status.message())
        << "chunk " << chunk;
  }
}

// Every chunk size, byte by byte included, gives the same records as one big chunk.
TEST(CsvReaderTest, ChunkBoundariesAnywhere) {
  const std::string input =
      "\xEF\xBB\xBF"
      "person_id,name,note\r\n"
      "1,\"Smith, \"\"JJ\"\"\",\"multi\r\nline\r\n\"\r\n"
      "\r\n"
      "2,plain,\"\"\r\n"
      "3,\"a\nb\",x\n"
      "4,last,\"q\"";
  Parsed whole = Parse(input);
  ASSERT_TRUE(whole.status.ok()) << whole.status;
  EXPECT_EQ(Fields(whole), (Rows{{"person_id", "name", "note"},
                                 {"1", "Smith, \"JJ\"", "multi\r\nline\r\n"},
                                 {"2", "plain", ""},
                                 {"3", "a\nb", "x"},
                                 {"4", "last", "q"}}));
  EXPECT_THAT(Lines(whole), ElementsAre(1, 2, 6, 7, 9));
  for (size_t chunk = 1; chunk <= input.size(); ++chunk) {
    Parsed p = Parse(input, chunk);
    ASSERT_TRUE(p.status.ok()) << "chunk " << chunk << ": " << p.status;
    EXPECT_EQ(Fields(p), Fields(whole)) << "chunk " << chunk;
    EXPECT_EQ(Lines(p), Lines(whole)) << "chunk " << chunk;
  }
}

TEST(CsvReaderTest, UnterminatedQuoteByteByByte) {
  Parsed p = Parse("a\r\n\"x\r\ny", 1);
  EXPECT_TRUE(absl::IsInvalidArgument(p.status));
  EXPECT_THAT(std::string(p.status.message()), HasSubstr("line 2"));
}

// Issue 3: files as they really come.

TEST(CsvReaderTest, QuotedFieldClosedAtEndOfFile) {
  for (size_t chunk : {0, 1, 2}) {
    Parsed p = Parse("h1,h2\na,\"b\"", chunk);
    ASSERT_TRUE(p.status.ok()) << p.status;
    EXPECT_EQ(Fields(p), (Rows{{"h1", "h2"}, {"a", "b"}}));
  }
  Parsed doubled = Parse("a,\"say \"\"x\"\"\"");
  ASSERT_TRUE(doubled.status.ok()) << doubled.status;
  EXPECT_EQ(Fields(doubled), (Rows{{"a", "say \"x\""}}));
}

TEST(CsvReaderTest, LoneQuoteAtEndOfFileNamesTheLine) {
  for (std::string_view input : {"h\r\na,b\r\nc,\"", "h\na,b\nc,\"\n", "h\n\"", "\""}) {
    Parsed p = Parse(input, 1);
    EXPECT_TRUE(absl::IsInvalidArgument(p.status)) << input;
    EXPECT_THAT(std::string(p.status.message()), HasSubstr("unterminated quoted field"));
  }
  Parsed p = Parse("h\na,b\nc,\"");
  EXPECT_THAT(std::string(p.status.message()), HasSubstr("line 3"));
}

TEST(CsvReaderTest, NulByteInsideAFieldIsData) {
  // The decoder rejects NUL for text files; the reader itself must not stumble on it.
  const std::string input("a,b\n1,x\0y\n\"\0\",2\n", 16);
  Parsed p = Parse(input);
  ASSERT_TRUE(p.status.ok()) << p.status;
  EXPECT_EQ(Fields(p), (Rows{{"a", "b"}, {"1", std::string("x\0y", 3)}, {std::string(1, '\0'),
                                                                          "2"}}));
}

TEST(CsvReaderTest, OneMegabyteField) {
  const std::string big(1'000'000, 'x');
  const std::string input = "id,bio\n1,\"" + big + "\"\n2," + big + "\n3,short\n";
  Parsed p = Parse(input, 65536);
  ASSERT_TRUE(p.status.ok()) << p.status;
  ASSERT_EQ(p.records.size(), 4u);
  EXPECT_EQ(p.records[1].fields[1], big);
  EXPECT_EQ(p.records[2].fields[1], big);
  EXPECT_EQ(p.records[3].line, 4);
  EXPECT_GE(CsvOptions{}.max_record_bytes, size_t{8} << 20);
}

TEST(CsvReaderTest, MixedLineEndingsInOneFile) {
  Parsed p = Parse("a,b\r\n1,2\n3,4\r5,\"x\ry\"\r\n6,\"p\r\nq\nr\"\n7,8", 1);
  ASSERT_TRUE(p.status.ok()) << p.status;
  EXPECT_EQ(Fields(p), (Rows{{"a", "b"},
                             {"1", "2"},
                             {"3", "4"},
                             {"5", "x\ry"},
                             {"6", "p\r\nq\nr"},
                             {"7", "8"}}));
  EXPECT_THAT(Lines(p), ElementsAre(1, 2, 3, 4, 6, 9));
}

TEST(CsvReaderTest, BlankTrailingLinesOfEveryKind) {
  for (std::string_view tail : {"\n\n\n", "\r\n\r\n", "\r\r", "\n\r\n\r", ""}) {
    Parsed p = Parse(absl::StrCat("a,b\n1,2", std::string(tail)));
    ASSERT_TRUE(p.status.ok());
    EXPECT_EQ(Fields(p), (Rows{{"a", "b"}, {"1", "2"}})) << "tail of " << tail.size();
  }
}

}  // namespace
}  // namespace rostersync::roster
