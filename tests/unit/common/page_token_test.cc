#include "common/page_token.h"

#include <gtest/gtest.h>

namespace rostersync {
namespace {

TEST(PageTokenTest, RoundTrip) {
  auto decoded = DecodePageToken(EncodePageToken("person/0042"));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, "person/0042");
  EXPECT_EQ(*DecodePageToken(""), "");
}

TEST(PageTokenTest, RejectsForgedTokens) {
  EXPECT_EQ(DecodePageToken("not-a-token!").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodePageToken("aGVsbG8").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PageTokenTest, ClampPageSize) {
  EXPECT_EQ(ClampPageSize(0, 50, 500), 50);
  EXPECT_EQ(ClampPageSize(-3, 50, 500), 50);
  EXPECT_EQ(ClampPageSize(10, 50, 500), 10);
  EXPECT_EQ(ClampPageSize(9999, 50, 500), 500);
}

}  // namespace
}  // namespace rostersync
