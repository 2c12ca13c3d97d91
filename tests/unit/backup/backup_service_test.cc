#include "services/backup/backup_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace rostersync::backup {
namespace {

using ::testing::HasSubstr;

v1::PutFileHeader GoodHeader() {
  v1::PutFileHeader h;
  h.set_tenant_id("t1");
  h.set_kind(v1::FILE_KIND_SOURCE);
  h.set_name("roster.csv");
  return h;
}

void ExpectInvalid(const v1::PutFileHeader& h, const std::string& field) {
  absl::Status st = ValidatePutFileHeader(h);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << field;
  EXPECT_THAT(std::string(st.message()), HasSubstr(field));
}

TEST(ValidatePutFileHeaderTest, AcceptsAGoodHeader) {
  EXPECT_TRUE(ValidatePutFileHeader(GoodHeader()).ok());
  v1::PutFileHeader h = GoodHeader();
  h.set_expected_sha256("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");
  EXPECT_TRUE(ValidatePutFileHeader(h).ok());
}

TEST(ValidatePutFileHeaderTest, NamesTheBadField) {
  v1::PutFileHeader h = GoodHeader();
  h.clear_tenant_id();
  ExpectInvalid(h, "tenant_id");

  h = GoodHeader();
  h.set_kind(v1::FILE_KIND_UNSPECIFIED);
  ExpectInvalid(h, "kind");

  h = GoodHeader();
  h.set_kind(static_cast<v1::FileKind>(42));
  ExpectInvalid(h, "kind");

  h = GoodHeader();
  h.clear_name();
  ExpectInvalid(h, "name");

  h = GoodHeader();
  h.set_name(std::string(2000, 'a'));
  ExpectInvalid(h, "name");

  h = GoodHeader();
  h.set_expected_sha256("abc");
  ExpectInvalid(h, "expected_sha256");
}

}  // namespace
}  // namespace rostersync::backup
