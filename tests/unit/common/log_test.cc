#include "common/log.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace rostersync {
namespace {

TEST(LogTest, OneJsonObjectPerLine) {
  log::Init("roster");
  std::string line = log::FormatLine("info", "import applied\n\"quoted\"",
                                     {{"run_id", "run_1"}, {"tenant", "acme"}});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["service"], "roster");
  EXPECT_EQ(parsed["level"], "info");
  EXPECT_EQ(parsed["msg"], "import applied\n\"quoted\"");
  EXPECT_EQ(parsed["run_id"], "run_1");
  EXPECT_TRUE(parsed.contains("ts"));
}

TEST(LogTest, InvalidUtf8DoesNotThrow) {
  std::string line = log::FormatLine("warn", std::string("bad \xff byte"), {});
  EXPECT_NO_THROW(nlohmann::json::parse(line));
}

}  // namespace
}  // namespace rostersync
