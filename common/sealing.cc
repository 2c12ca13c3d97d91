#include "common/sealing.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace rostersync {
namespace {

constexpr std::string_view kVersion = "v1";
constexpr size_t kKeySize = 32;
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

}  // namespace

void SecureWipe(std::string& secret) {
  if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
  secret.clear();
}

absl::StatusOr<Sealer> Sealer::FromKeyMaterial(std::string_view material) {
  if (material.size() == kKeySize) return Sealer(std::string(material));
  std::string trimmed(absl::StripAsciiWhitespace(absl::string_view(material.data(), material.size())));
  if (trimmed.size() == kKeySize * 2) {
    bool hex = std::all_of(trimmed.begin(), trimmed.end(),
                           [](char c) { return absl::ascii_isxdigit(c); });
    if (hex) {
      Sealer sealer(absl::HexStringToBytes(trimmed));
      SecureWipe(trimmed);
      return sealer;
    }
  }
  std::string decoded;
  const bool base64 = absl::Base64Unescape(trimmed, &decoded) && decoded.size() == kKeySize;
  SecureWipe(trimmed);
  if (base64) return Sealer(std::move(decoded));
  SecureWipe(decoded);
  return absl::InvalidArgumentError(
      "master key: expected 32 raw bytes, 64 hex digits or base64 of 32 bytes");
}

absl::StatusOr<Sealer> Sealer::Load(const std::string& key_file, const std::string& env_var) {
  if (!key_file.empty()) {
    std::ifstream in(key_file, std::ios::binary);
    if (!in) return absl::InvalidArgumentError(absl::StrCat("master key file ", key_file,
                                                            ": cannot be read"));
    std::string material((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto sealer = FromKeyMaterial(material);
    SecureWipe(material);
    if (!sealer.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("master key file ", key_file, ": ", sealer.status().message()));
    }
    return sealer;
  }
  const char* value = std::getenv(env_var.c_str());
  if (value == nullptr || *value == '\0') {
    return absl::InvalidArgumentError(absl::StrCat(
        "master key: neither a key file nor the environment variable ", env_var, " is set"));
  }
  auto sealer = FromKeyMaterial(value);
  if (!sealer.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("environment variable ", env_var, ": ", sealer.status().message()));
  }
  return sealer;
}

absl::StatusOr<std::string> Sealer::Seal(std::string_view plaintext,
                                         std::string_view context) const {
  std::string out(kVersion);
  unsigned char nonce[kNonceSize];
  if (RAND_bytes(nonce, sizeof(nonce)) != 1) return absl::InternalError("seal: no randomness");
  out.append(reinterpret_cast<const char*>(nonce), kNonceSize);
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  std::string cipher(plaintext.size(), '\0');
  unsigned char tag[kTagSize];
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                         reinterpret_cast<const unsigned char*>(key_.data()), nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(context.data()),
                        static_cast<int>(context.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(cipher.data()), &len,
                        reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), nullptr, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, tag) != 1) {
    return absl::InternalError("seal: AES-256-GCM encryption failed");
  }
  out += cipher;
  out.append(reinterpret_cast<const char*>(tag), kTagSize);
  return out;
}

absl::StatusOr<std::string> Sealer::Open(std::string_view sealed,
                                         std::string_view context) const {
  if (sealed.size() < kVersion.size() + kNonceSize + kTagSize ||
      sealed.substr(0, kVersion.size()) != kVersion) {
    return absl::FailedPreconditionError("sealed credentials: unknown format");
  }
  const auto* nonce = reinterpret_cast<const unsigned char*>(sealed.data() + kVersion.size());
  std::string_view body = sealed.substr(kVersion.size() + kNonceSize);
  std::string_view cipher = body.substr(0, body.size() - kTagSize);
  std::string tag(body.substr(body.size() - kTagSize));
  std::string plain(cipher.size(), '\0');
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  if (!ctx ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                         reinterpret_cast<const unsigned char*>(key_.data()), nonce) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(context.data()),
                        static_cast<int>(context.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len,
                        reinterpret_cast<const unsigned char*>(cipher.data()),
                        static_cast<int>(cipher.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), nullptr, &len) != 1) {
    SecureWipe(plain);  // unauthenticated plaintext
    return absl::FailedPreconditionError(absl::StrCat(
        "sealed credentials for ", std::string(context),
        ": cannot be opened (sealed under another master key or context, or altered)"));
  }
  return plain;
}

}  // namespace rostersync
