// Key rotation: key ids in sealed blobs, previous keys, re-sealing, v1 blobs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <stdlib.h>

#include <fstream>
#include <optional>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/sealing.h"

namespace rostersync {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kKeyA[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
constexpr char kKeyB[] = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
constexpr char kKeyC[] = "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f";

// The v1 format as the previous release wrote it: "v1" | nonce | ciphertext | tag.
std::string SealV1(const std::string& hex_key, const std::string& plaintext,
                   const std::string& context) {
  const std::string key = absl::HexStringToBytes(hex_key);
  std::string nonce(12, '\x07');
  std::string cipher(plaintext.size(), '\0');
  unsigned char tag[16];
  int len = 0;
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr,
                     reinterpret_cast<const unsigned char*>(key.data()),
                     reinterpret_cast<const unsigned char*>(nonce.data()));
  EVP_EncryptUpdate(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(context.data()),
                    static_cast<int>(context.size()));
  EVP_EncryptUpdate(ctx, reinterpret_cast<unsigned char*>(cipher.data()), &len,
                    reinterpret_cast<const unsigned char*>(plaintext.data()),
                    static_cast<int>(plaintext.size()));
  EVP_EncryptFinal_ex(ctx, nullptr, &len);
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag);
  EVP_CIPHER_CTX_free(ctx);
  return absl::StrCat("v1", nonce, cipher, std::string(reinterpret_cast<char*>(tag), 16));
}

TEST(SealerKeyRingTest, BlobsCarryTheKeyIdAndIdsDifferPerKey) {
  Sealer a = Sealer::FromKeyMaterial(kKeyA).value();
  Sealer b = Sealer::FromKeyMaterial(kKeyB).value();
  EXPECT_EQ(a.key_id().size(), 16u);
  EXPECT_NE(a.key_id(), b.key_id());
  // The same key in another encoding has the same id.
  EXPECT_EQ(Sealer::FromKeyMaterial(absl::Base64Escape(absl::HexStringToBytes(kKeyA)))->key_id(),
            a.key_id());
  // The id is not the key, nor a prefix of it.
  EXPECT_THAT(std::string(kKeyA), Not(HasSubstr(a.key_id())));
  std::string sealed = a.Seal("secret", "t/i").value();
  EXPECT_EQ(sealed.substr(0, 2), "v2");
  EXPECT_EQ(absl::BytesToHexString(sealed.substr(2, 8)), a.key_id());
  EXPECT_TRUE(a.SealedUnderCurrentKey(sealed));
  EXPECT_FALSE(b.SealedUnderCurrentKey(sealed));
}

TEST(SealerKeyRingTest, OpensUnderAPreviousKeyAndResealsUnderTheCurrentOne) {
  Sealer a = Sealer::FromKeyMaterial(kKeyA).value();
  const std::string under_a = a.Seal("hunter2", "acme/int_1").value();

  Sealer b = Sealer::FromKeyMaterial(kKeyB).value();
  absl::Status refused = b.Open(under_a, "acme/int_1").status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.message()), HasSubstr(a.key_id()));  // names the missing key
  EXPECT_THAT(std::string(refused.message()), HasSubstr("--previous_master_key_file"));
  EXPECT_THAT(std::string(refused.message()), Not(HasSubstr(kKeyA)));
  EXPECT_THAT(std::string(refused.message()), Not(HasSubstr("hunter2")));

  ASSERT_TRUE(b.AddPreviousKeyMaterial(kKeyA).ok());
  EXPECT_THAT(b.previous_key_ids(), ElementsAre(a.key_id()));
  EXPECT_EQ(b.Open(under_a, "acme/int_1").value(), "hunter2");
  EXPECT_FALSE(b.SealedUnderCurrentKey(under_a));
  // Context still binds under a previous key.
  EXPECT_FALSE(b.Open(under_a, "acme/int_2").ok());

  const std::string under_b = b.Reseal(under_a, "acme/int_1").value();
  EXPECT_TRUE(b.SealedUnderCurrentKey(under_b));
  EXPECT_EQ(Sealer::FromKeyMaterial(kKeyB)->Open(under_b, "acme/int_1").value(), "hunter2");
  EXPECT_FALSE(a.Open(under_b, "acme/int_1").ok());  // A alone can no longer open it
}

TEST(SealerKeyRingTest, OldV1BlobsStillOpenUnderCurrentOrPreviousKeys) {
  const std::string v1 = SealV1(kKeyA, "pw-v1", "t/i");
  Sealer a = Sealer::FromKeyMaterial(kKeyA).value();
  EXPECT_EQ(a.Open(v1, "t/i").value(), "pw-v1");
  EXPECT_FALSE(a.SealedUnderCurrentKey(v1));  // a v1 blob always wants re-sealing
  Sealer b = Sealer::FromKeyMaterial(kKeyB).value();
  EXPECT_FALSE(b.Open(v1, "t/i").ok());
  ASSERT_TRUE(b.AddPreviousKeyMaterial(kKeyC).ok());
  ASSERT_TRUE(b.AddPreviousKeyMaterial(kKeyA).ok());
  EXPECT_EQ(b.Open(v1, "t/i").value(), "pw-v1");
  std::string resealed = b.Reseal(v1, "t/i").value();
  EXPECT_TRUE(b.SealedUnderCurrentKey(resealed));
  EXPECT_EQ(b.Open(resealed, "t/i").value(), "pw-v1");
}

TEST(SealerKeyRingTest, DuplicateAndCurrentKeysAreNotAddedTwice) {
  Sealer b = Sealer::FromKeyMaterial(kKeyB).value();
  ASSERT_TRUE(b.AddPreviousKeyMaterial(kKeyB).ok());
  ASSERT_TRUE(b.AddPreviousKeyMaterial(kKeyA).ok());
  ASSERT_TRUE(b.AddPreviousKeyMaterial(std::string(kKeyA) + "\n").ok());
  EXPECT_EQ(b.previous_key_ids().size(), 1u);
  EXPECT_FALSE(b.AddPreviousKeyMaterial("not-a-key").ok());
}

TEST(SealerKeyRingTest, LoadKeyRingFromFilesAndEnvironmentNamingTheBadSetting) {
  const std::string dir = ::testing::TempDir();
  const std::string current = dir + "/ring_current.key";
  const std::string previous = dir + "/ring_previous.key";
  std::ofstream(current) << kKeyB << "\n";
  std::ofstream(previous) << kKeyA << "\n";
  ::setenv("RS_TEST_PREVIOUS_KEYS", absl::StrCat(kKeyC).c_str(), 1);
  auto ring = Sealer::LoadKeyRing(current, "RS_TEST_UNSET_CURRENT", previous + ",",
                                  "RS_TEST_PREVIOUS_KEYS");
  ASSERT_TRUE(ring.ok()) << ring.status();
  EXPECT_EQ(ring->key_id(), Sealer::FromKeyMaterial(kKeyB)->key_id());
  EXPECT_THAT(ring->previous_key_ids(), ElementsAre(Sealer::FromKeyMaterial(kKeyA)->key_id(),
                                                    Sealer::FromKeyMaterial(kKeyC)->key_id()));

  auto missing = Sealer::LoadKeyRing(current, "X", dir + "/no_such.key", "");
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("no_such.key"));
  ::setenv("RS_TEST_PREVIOUS_KEYS", absl::StrCat(kKeyA, ",bogus").c_str(), 1);
  auto bad_env = Sealer::LoadKeyRing(current, "X", "", "RS_TEST_PREVIOUS_KEYS");
  EXPECT_THAT(std::string(bad_env.status().message()), HasSubstr("RS_TEST_PREVIOUS_KEYS (key 2)"));
  EXPECT_THAT(std::string(bad_env.status().message()), Not(HasSubstr(kKeyA)));
  ::unsetenv("RS_TEST_PREVIOUS_KEYS");
  // No previous keys at all is fine.
  EXPECT_TRUE(Sealer::LoadKeyRing(current, "X", "", "RS_TEST_PREVIOUS_KEYS").ok());
}

TEST(SealerKeyRingTest, CopiesKeepTheWholeRing) {
  std::string sealed;
  std::optional<Sealer> copy;
  {
    Sealer b = Sealer::FromKeyMaterial(kKeyB).value();
    ASSERT_TRUE(b.AddPreviousKeyMaterial(kKeyA).ok());
    sealed = Sealer::FromKeyMaterial(kKeyA)->Seal("s", "t/i").value();
    copy.emplace(b);
  }
  EXPECT_EQ(copy->Open(sealed, "t/i").value(), "s");
}

}  // namespace
}  // namespace rostersync
