#include "services/roster/error_report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/roster/csv_reader.h"
#include "services/roster/person_validation.h"

namespace rostersync::roster {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::RowError Err(int64_t line, std::string column, std::string value, std::string reason) {
  v1::RowError e;
  e.set_line(line);
  e.set_column(std::move(column));
  e.set_value(std::move(value));
  e.set_reason(std::move(reason));
  return e;
}

std::vector<CsvRecord> ReadBack(const std::string& csv) {
  CsvReader reader;
  std::vector<CsvRecord> records;
  EXPECT_TRUE(reader.Feed(csv, &records).ok());
  EXPECT_TRUE(reader.Finish(&records).ok());
  return records;
}

TEST(ErrorReportTest, RendersHeaderAndQuotedRows) {
  std::string out;
  ASSERT_TRUE(
      RenderErrorReport({Err(7, "Email", "ann at example.com", "not a valid email address"),
                         Err(9, "Name, full", "say \"hi\"\nthere", "first_name is required"),
                         Err(12, "", "", "expected 6 fields (as in the header), found 2")},
                        [&](std::string_view piece) {
                          out.append(piece);
                          return absl::OkStatus();
                        })
          .ok());
  EXPECT_EQ(out,
            "line,column,value,reason\r\n"
            "7,Email,ann at example.com,not a valid email address\r\n"
            "9,\"Name, full\",\"say \"\"hi\"\"\nthere\",first_name is required\r\n"
            "12,,,\"expected 6 fields (as in the header), found 2\"\r\n");
  // And it reads back as written (RFC 4180 round trip).
  std::vector<CsvRecord> records = ReadBack(out);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_THAT(records[0].fields, ElementsAre("line", "column", "value", "reason"));
  EXPECT_THAT(records[2].fields,
              ElementsAre("9", "Name, full", "say \"hi\"\nthere", "first_name is required"));
}

TEST(ErrorReportTest, EmptyReportIsJustTheHeader) {
  std::string out;
  ASSERT_TRUE(RenderErrorReport({}, [&](std::string_view piece) {
                out.append(piece);
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(out, "line,column,value,reason\r\n");
}

TEST(ErrorReportTest, CapsEchoedValue) {
  std::string line = ErrorReportLine(Err(3, "note", std::string(10000, 'v'), "too long"));
  EXPECT_LT(line.size(), kMaxEchoedValue + 40);
  EXPECT_THAT(line, HasSubstr("...,too long"));
}

TEST(ErrorReportTest, StreamsInBoundedPieces) {
  std::vector<size_t> pieces;
  std::string all;
  ErrorReportWriter report(
      [&](std::string_view piece) {
        pieces.push_back(piece.size());
        all.append(piece);
        return absl::OkStatus();
      },
      /*flush_bytes=*/1024);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(report.Add(Err(i + 2, "Email", "x", "not a valid email address")).ok());
  }
  ASSERT_TRUE(report.Finish().ok());
  EXPECT_EQ(report.rows(), 1000);
  EXPECT_GT(pieces.size(), 10u);
  for (size_t p : pieces) EXPECT_LT(p, 1024u + 200u);
  EXPECT_EQ(ReadBack(all).size(), 1001u);
  EXPECT_FALSE(report.Add(Err(1, "", "", "")).ok());  // after Finish
}

TEST(ErrorReportTest, SinkErrorIsReturnedAndSticks) {
  int calls = 0;
  ErrorReportWriter report(
      [&](std::string_view) {
        ++calls;
        return absl::UnavailableError("archive gone");
      },
      /*flush_bytes=*/1);
  absl::Status s = report.Add(Err(2, "a", "b", "c"));
  EXPECT_TRUE(absl::IsUnavailable(s));
  EXPECT_TRUE(absl::IsUnavailable(report.Add(Err(3, "a", "b", "c"))));
  EXPECT_TRUE(absl::IsUnavailable(report.Finish()));
  EXPECT_EQ(calls, 1);
}

TEST(InvalidShareTest, DefaultIsFivePercent) {
  v1::ImportPolicy policy;
  EXPECT_DOUBLE_EQ(MaxInvalidShare(policy), 0.05);
  EXPECT_FALSE(ExceedsInvalidShare(0, 0, policy));  // no rows
  EXPECT_FALSE(ExceedsInvalidShare(0, 100, policy));
  EXPECT_FALSE(ExceedsInvalidShare(5, 100, policy));  // exactly at the limit
  EXPECT_TRUE(ExceedsInvalidShare(6, 100, policy));
  EXPECT_TRUE(ExceedsInvalidShare(1, 1, policy));
  EXPECT_FALSE(ExceedsInvalidShare(1, 20, policy));
  EXPECT_TRUE(ExceedsInvalidShare(2, 20, policy));
}

TEST(InvalidShareTest, ConfiguredShare) {
  v1::ImportPolicy policy;
  policy.set_max_invalid_share(0);
  EXPECT_DOUBLE_EQ(MaxInvalidShare(policy), 0.0);
  EXPECT_FALSE(ExceedsInvalidShare(0, 100, policy));
  EXPECT_TRUE(ExceedsInvalidShare(1, 1000000, policy));
  EXPECT_FALSE(ExceedsInvalidShare(0, 0, policy));
  policy.set_max_invalid_share(1);
  EXPECT_FALSE(ExceedsInvalidShare(100, 100, policy));
  policy.set_max_invalid_share(0.5);
  EXPECT_FALSE(ExceedsInvalidShare(50, 100, policy));
  EXPECT_TRUE(ExceedsInvalidShare(51, 100, policy));
  policy.set_max_invalid_share(-1);
  EXPECT_DOUBLE_EQ(MaxInvalidShare(policy), 0.0);
  policy.set_max_invalid_share(7);
  EXPECT_DOUBLE_EQ(MaxInvalidShare(policy), 1.0);
}

TEST(InvalidShareTest, Describe) {
  v1::ImportPolicy policy;
  EXPECT_EQ(DescribeInvalidShare(12, 100, policy),
            "12 of 100 rows (12%) are invalid, above the limit of 5% (import policy "
            "max_invalid_share)");
  policy.set_max_invalid_share(0.25);
  EXPECT_EQ(DescribeInvalidShare(1, 8, policy),
            "1 of 8 rows (12.5%) are invalid, within the limit of 25% (import policy "
            "max_invalid_share)");
}

}  // namespace
}  // namespace rostersync::roster
