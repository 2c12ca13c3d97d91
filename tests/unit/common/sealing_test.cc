#include "common/sealing.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>

#include "absl/strings/escaping.h"

namespace rostersync {
namespace {

constexpr char kHexKey[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

TEST(SealerTest, RoundTrip) {
  auto sealer = Sealer::FromKeyMaterial(kHexKey);
  ASSERT_TRUE(sealer.ok()) << sealer.status();
  auto sealed = sealer->Seal("hunter2-password", "acme/int_1");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->find("hunter2"), std::string::npos);
  auto opened = sealer->Open(*sealed, "acme/int_1");
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, "hunter2-password");
}

TEST(SealerTest, SameInputSealsDifferentlyEachTime) {
  auto sealer = Sealer::FromKeyMaterial(kHexKey);
  EXPECT_NE(*sealer->Seal("x", "c"), *sealer->Seal("x", "c"));
}

TEST(SealerTest, WrongContextIsRefused) {
  auto sealer = Sealer::FromKeyMaterial(kHexKey);
  auto sealed = sealer->Seal("secret", "acme/int_1");
  auto opened = sealer->Open(*sealed, "other/int_1");
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(opened.status().message()), ::testing::Not(::testing::HasSubstr("secret")));
}

TEST(SealerTest, WrongKeyIsRefused) {
  auto a = Sealer::FromKeyMaterial(kHexKey);
  auto b = Sealer::FromKeyMaterial(std::string(32, 'k'));
  ASSERT_TRUE(b.ok());
  auto sealed = a->Seal("secret", "t/i");
  EXPECT_FALSE(b->Open(*sealed, "t/i").ok());
}

TEST(SealerTest, TamperedBlobIsRefused) {
  auto sealer = Sealer::FromKeyMaterial(kHexKey);
  std::string sealed = *sealer->Seal("secret", "t/i");
  sealed[sealed.size() / 2] ^= 0x01;
  EXPECT_FALSE(sealer->Open(sealed, "t/i").ok());
  EXPECT_FALSE(sealer->Open("v1short", "t/i").ok());
}

TEST(SealerTest, KeyMaterialForms) {
  EXPECT_TRUE(Sealer::FromKeyMaterial(std::string(kHexKey) + "\n").ok());
  EXPECT_TRUE(Sealer::FromKeyMaterial(absl::Base64Escape(std::string(32, 'z'))).ok());
  auto bad = Sealer::FromKeyMaterial("too-short");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), ::testing::HasSubstr("master key"));
}

TEST(SealerTest, LoadNamesTheMissingSetting) {
  auto missing = Sealer::Load("", "ROSTERSYNC_TEST_NO_SUCH_VAR");
  EXPECT_THAT(std::string(missing.status().message()),
              ::testing::HasSubstr("ROSTERSYNC_TEST_NO_SUCH_VAR"));
  auto no_file = Sealer::Load("/nonexistent/master.key", "X");
  EXPECT_THAT(std::string(no_file.status().message()),
              ::testing::HasSubstr("/nonexistent/master.key"));
}

TEST(SealerTest, CopiesAndMovesStillOpenAfterTheOriginalIsGone) {
  std::string sealed;
  std::optional<Sealer> copy;
  {
    Sealer original = Sealer::FromKeyMaterial(kHexKey).value();
    sealed = original.Seal("secret", "t/i").value();
    copy.emplace(original);  // the original's destructor wipes only its own key
  }
  Sealer moved = std::move(*copy);
  EXPECT_EQ(moved.Open(sealed, "t/i").value(), "secret");
}

TEST(SecureWipeTest, EmptiesTheBuffer) {
  std::string secret = "hunter2-hunter2-hunter2";
  SecureWipe(secret);
  EXPECT_TRUE(secret.empty());
}

}  // namespace
}  // namespace rostersync
