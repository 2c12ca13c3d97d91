#include "tools/rosterctl/table_printer.h"

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rostersync::rosterctl {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  EXPECT_EQ(lines.back(), "") << "output must end with a newline";
  lines.pop_back();
  return lines;
}

TEST(TablePrinterTest, AlignsColumnsWithoutTrailingSpaces) {
  TablePrinter t({"ID", "NAME", "STATE"});
  t.AddRow({"r-1", "nightly import", "succeeded"});
  t.AddRow({"r-20000", "x", "failed"});
  EXPECT_EQ(t.Render(),
            "ID       NAME            STATE\n"
            "r-1      nightly import  succeeded\n"
            "r-20000  x               failed\n");
}

TEST(TablePrinterTest, ColumnsStartAtTheSameOffsetOnEveryLine) {
  TablePrinter t({"A", "B", "C"});
  t.AddRow({"aaaaaaa", "b", "c"});
  t.AddRow({"a", "bbbbbbbbbb", "c"});
  std::vector<std::string> lines = Lines(t.Render());
  ASSERT_EQ(lines.size(), 3u);
  const size_t c_offset = lines[0].find('C');
  EXPECT_EQ(lines[1].rfind('c'), c_offset);
  EXPECT_EQ(lines[2].rfind('c'), c_offset);
}

TEST(TablePrinterTest, CountsUtf8CodePointsNotBytes) {
  TablePrinter t({"NAME", "SEAT"});
  t.AddRow({"Jürgen Größ", "A1"});  // 11 code points, 14 bytes
  t.AddRow({"Anna", "B2"});
  EXPECT_EQ(t.Render(),
            "NAME         SEAT\n"
            "Jürgen Größ  A1\n"
            "Anna         B2\n");
  EXPECT_EQ(DisplayWidth("Jürgen Größ"), 11u);
}

TEST(TablePrinterTest, EmptyTablePrintsHeadersAndShortRowsArePadded) {
  TablePrinter empty({"FILE", "KIND"});
  EXPECT_EQ(empty.Render(), "FILE  KIND\n");
  TablePrinter t({"A", "B", "C"});
  t.AddRow({"x"});
  EXPECT_EQ(t.Render(), "A  B  C\nx\n");
}

TEST(TablePrinterTest, ControlCharactersCannotBreakTheLayout) {
  TablePrinter t({"NAME", "X"});
  t.AddRow({"evil\nname\x1b[31m", "1"});
  std::vector<std::string> lines = Lines(t.Render());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1], "evil name?[31m  1");
}

TEST(KeyValuePrinterTest, AlignsValues) {
  KeyValuePrinter kv;
  kv.Add("Run", "r-1");
  kv.Add("Integration", "int-1");
  kv.Add("Error", "");
  EXPECT_EQ(kv.Render(),
            "Run:          r-1\n"
            "Integration:  int-1\n"
            "Error:\n");
}

TEST(FormattingTest, TimestampsAndBytes) {
  google::protobuf::Timestamp ts;
  EXPECT_EQ(FormatTimestamp(ts), "-");
  ts.set_seconds(1795262400);  // 2026-11-21T12:00:00Z
  ts.set_nanos(5);
  EXPECT_EQ(FormatTimestamp(ts), "2026-11-21T12:00:00Z");
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(3 * 1024 * 1024), "3.0 MiB");
  EXPECT_EQ(OrDash(""), "-");
  EXPECT_EQ(OrDash("x"), "x");
}

}  // namespace
}  // namespace rostersync::rosterctl
