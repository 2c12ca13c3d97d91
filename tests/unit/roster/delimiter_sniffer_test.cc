#include "services/roster/delimiter_sniffer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace rostersync::roster {
namespace {

using ::testing::HasSubstr;

char Sniff(std::string_view sample, bool whole_file = true) {
  return SniffDelimiter(sample, whole_file).delimiter;
}

TEST(DelimiterSnifferTest, EachDelimiter) {
  EXPECT_EQ(Sniff("id,name,email\n1,Ann,a@x\n2,Bob,b@x\n"), ',');
  EXPECT_EQ(Sniff("id;name;email\n1;Ann;a@x\n2;Bob;b@x\n"), ';');
  EXPECT_EQ(Sniff("id\tname\temail\n1\tAnn\ta@x\n2\tBob\tb@x\n"), '\t');
  EXPECT_EQ(Sniff("id|name|email\n1|Ann|a@x\n2|Bob|b@x\n"), '|');
}

TEST(DelimiterSnifferTest, SemicolonFileWithDecimalCommas) {
  // European export: commas inside unquoted values would give ',' ragged rows.
  DelimiterChoice c = SniffDelimiter("name;amount;note\nAnn;1,5;x\nBob;2,25;a, b, c\n", true);
  EXPECT_EQ(c.delimiter, ';');
  EXPECT_THAT(c.reason, HasSubstr("';': 3 columns, 2 of 2 records agree"));
  EXPECT_THAT(c.reason, HasSubstr("',': 1 column"));
}

TEST(DelimiterSnifferTest, QuotedDelimitersAreNotCounted) {
  // Every row has more commas than semicolons, all of them inside quotes.
  const std::string sample =
      "id;name;address\n"
      "1;\"Smith, John\";\"1 Main St, Springfield, IL\"\n"
      "2;\"Doe, Jane\";\"2 Elm St, Shelbyville, IL\"\n";
  EXPECT_EQ(Sniff(sample), ';');
  // Quoted semicolons and newlines in a comma file.
  EXPECT_EQ(Sniff("id,note\n1,\"a;b;c\"\n2,\"x;\ny;z\"\n3,plain\n"), ',');
}

TEST(DelimiterSnifferTest, ConsistencyBeatsCount) {
  // Pipes agree on every row; commas give ragged rows.
  EXPECT_EQ(Sniff("a|b|c\n1,2|x|y\n3|4,5,6|z\n7|8|9,9\n"), '|');
}

TEST(DelimiterSnifferTest, TiesGoToComma) {
  DelimiterChoice c = SniffDelimiter("a,b;c\n1,2;3\n", true);  // both: 2 columns, all agree
  EXPECT_EQ(c.delimiter, ',');
  EXPECT_THAT(c.reason, HasSubstr("sniffed ','"));
  // A single column: nothing splits, comma.
  DelimiterChoice single = SniffDelimiter("email\na@x\nb@x\n", true);
  EXPECT_EQ(single.delimiter, ',');
  EXPECT_THAT(single.reason, HasSubstr("no candidate"));
  EXPECT_EQ(Sniff(""), ',');
}

TEST(DelimiterSnifferTest, EqualShareMoreColumnsWins) {
  EXPECT_EQ(Sniff("a;b;c,d\n1;2;3,4\n"), ';');
}

TEST(DelimiterSnifferTest, TruncatedSampleIgnoresTheLastPartialRecord) {
  // The sample was cut in the middle of the third record (and inside a quote for tab).
  EXPECT_EQ(Sniff("a\tb\tc\n1\t2\t3\n4\t\"5", /*whole_file=*/false), '\t');
  EXPECT_EQ(Sniff("a;b;c\n1;2;3\n4;5", /*whole_file=*/false), ';');
}

TEST(DelimiterSnifferTest, CrlfAndBlankLines) {
  EXPECT_EQ(Sniff("a;b\r\n\r\n1;2\r\n3;4\r\n\r\n"), ';');
  EXPECT_EQ(Sniff("a|b\r1|2\r3|4"), '|');
}

TEST(DelimiterSnifferTest, FileExtension) {
  EXPECT_EQ(DelimiterForFileName("people.tsv"), '\t');
  EXPECT_EQ(DelimiterForFileName("PEOPLE.TSV"), '\t');
  EXPECT_EQ(DelimiterForFileName("people.csv"), std::nullopt);
  EXPECT_EQ(DelimiterForFileName("people.txt"), std::nullopt);
  EXPECT_EQ(DelimiterForFileName("tsv"), std::nullopt);
}

TEST(DelimiterSnifferTest, ChooseDelimiterOrder) {
  const std::string semicolons = "a;b\n1;2\n";
  // Configured wins over everything.
  absl::StatusOr<DelimiterChoice> c = ChooseDelimiter("|", "x.tsv", semicolons, true);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->delimiter, '|');
  EXPECT_THAT(c->reason, HasSubstr("configured"));
  EXPECT_EQ(ChooseDelimiter("tab", "x.csv", semicolons, true)->delimiter, '\t');
  EXPECT_EQ(ChooseDelimiter("\t", "x.csv", semicolons, true)->delimiter, '\t');
  EXPECT_EQ(ChooseDelimiter("Semicolon", "x.csv", "a,b\n", true)->delimiter, ';');
  // .tsv implies tab unless configured.
  absl::StatusOr<DelimiterChoice> tsv = ChooseDelimiter("auto", "x.tsv", semicolons, true);
  EXPECT_EQ(tsv->delimiter, '\t');
  EXPECT_THAT(tsv->reason, HasSubstr(".tsv"));
  // .csv and .txt sniff.
  EXPECT_EQ(ChooseDelimiter("", "x.csv", semicolons, true)->delimiter, ';');
  EXPECT_EQ(ChooseDelimiter("", "x.txt", semicolons, true)->delimiter, ';');
  // Unknown setting.
  absl::StatusOr<DelimiterChoice> bad = ChooseDelimiter("::", "x.csv", semicolons, true);
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status()));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("\"::\""));
}

}  // namespace
}  // namespace rostersync::roster
