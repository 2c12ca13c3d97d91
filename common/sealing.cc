#include "common/sealing.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace rostersync {
namespace {

constexpr std::string_view kVersion1 = "v1";  // "v1" | nonce | ciphertext | tag
constexpr std::string_view kVersion2 = "v2";  // "v2" | key id | nonce | ciphertext | tag
constexpr size_t kVersionSize = 2;
constexpr size_t kKeySize = 32;
constexpr size_t kKeyIdSize = 8;
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;
constexpr char kKeyIdLabel[] = "rostersync master key id";  // with its NUL

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

std::string Hex(std::string_view bytes) {
  return absl::BytesToHexString(absl::string_view(bytes.data(), bytes.size()));
}

absl::StatusOr<std::string> ReadKeyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::InvalidArgumentError(absl::StrCat("master key file ", path, ": cannot be read"));
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

void SecureWipe(std::string& secret) {
  if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
  secret.clear();
}

Sealer::Key Sealer::MakeKey(std::string material) {
  std::string input(kKeyIdLabel, sizeof(kKeyIdLabel));
  input += material;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  SecureWipe(input);
  Key key;
  key.material = std::move(material);
  key.id.assign(reinterpret_cast<const char*>(digest), kKeyIdSize);
  OPENSSL_cleanse(digest, sizeof(digest));
  return key;
}

Sealer::Sealer(std::string key) : current_(MakeKey(std::move(key))) {}

Sealer::~Sealer() {
  SecureWipe(current_.material);
  for (Key& k : previous_) SecureWipe(k.material);
}

absl::StatusOr<Sealer> Sealer::FromKeyMaterial(std::string_view material) {
  if (material.size() == kKeySize) return Sealer(std::string(material));
  std::string trimmed(
      absl::StripAsciiWhitespace(absl::string_view(material.data(), material.size())));
  if (trimmed.size() == kKeySize * 2) {
    bool hex =
        std::all_of(trimmed.begin(), trimmed.end(), [](char c) { return absl::ascii_isxdigit(c); });
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
    auto material = ReadKeyFile(key_file);
    if (!material.ok()) return material.status();
    auto sealer = FromKeyMaterial(*material);
    SecureWipe(*material);
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

absl::StatusOr<Sealer> Sealer::LoadKeyRing(const std::string& key_file, const std::string& env_var,
                                           const std::string& previous_key_files,
                                           const std::string& previous_env_var) {
  auto sealer = Load(key_file, env_var);
  if (!sealer.ok()) return sealer.status();
  if (absl::Status s = sealer->AddPreviousKeys(previous_key_files, previous_env_var); !s.ok()) {
    return s;
  }
  return sealer;
}

absl::Status Sealer::AddPreviousKeyMaterial(std::string_view material) {
  auto parsed = FromKeyMaterial(material);
  if (!parsed.ok()) return parsed.status();
  const Key& key = parsed->current_;
  if (key.id == current_.id) return absl::OkStatus();
  for (const Key& k : previous_) {
    if (k.id == key.id) return absl::OkStatus();
  }
  previous_.push_back(key);  // `parsed` wipes its own copy
  return absl::OkStatus();
}

absl::Status Sealer::AddPreviousKeys(const std::string& key_files, const std::string& env_var) {
  for (absl::string_view file : absl::StrSplit(key_files, ',', absl::SkipWhitespace())) {
    std::string path(absl::StripAsciiWhitespace(file));
    auto material = ReadKeyFile(path);
    if (!material.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("previous ", material.status().message()));
    }
    absl::Status s = AddPreviousKeyMaterial(*material);
    SecureWipe(*material);
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("previous master key file ", path, ": ", s.message()));
    }
  }
  if (env_var.empty()) return absl::OkStatus();
  const char* value = std::getenv(env_var.c_str());
  if (value == nullptr || *value == '\0') return absl::OkStatus();
  std::string all(value);
  int n = 0;
  for (absl::string_view material : absl::StrSplit(all, ',', absl::SkipWhitespace())) {
    ++n;
    absl::Status s = AddPreviousKeyMaterial(std::string_view(material.data(), material.size()));
    if (!s.ok()) {
      SecureWipe(all);
      return absl::InvalidArgumentError(
          absl::StrCat("environment variable ", env_var, " (key ", n, "): ", s.message()));
    }
  }
  SecureWipe(all);
  return absl::OkStatus();
}

std::string Sealer::key_id() const { return Hex(current_.id); }

std::vector<std::string> Sealer::previous_key_ids() const {
  std::vector<std::string> out;
  for (const Key& k : previous_) out.push_back(Hex(k.id));
  return out;
}

absl::StatusOr<std::string> Sealer::Seal(std::string_view plaintext,
                                         std::string_view context) const {
  std::string out(kVersion2);
  out += current_.id;
  unsigned char nonce[kNonceSize];
  if (RAND_bytes(nonce, sizeof(nonce)) != 1) return absl::InternalError("seal: no randomness");
  out.append(reinterpret_cast<const char*>(nonce), kNonceSize);
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  std::string cipher(plaintext.size(), '\0');
  unsigned char tag[kTagSize];
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                         reinterpret_cast<const unsigned char*>(current_.material.data()),
                         nonce) != 1 ||
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

absl::StatusOr<std::string> Sealer::OpenWith(const Key& key, std::string_view sealed_body,
                                             std::string_view context) const {
  // sealed_body: nonce | ciphertext | tag
  const auto* nonce = reinterpret_cast<const unsigned char*>(sealed_body.data());
  std::string_view body = sealed_body.substr(kNonceSize);
  std::string_view cipher = body.substr(0, body.size() - kTagSize);
  std::string tag(body.substr(body.size() - kTagSize));
  std::string plain(cipher.size(), '\0');
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  if (!ctx ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                         reinterpret_cast<const unsigned char*>(key.material.data()), nonce) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(context.data()),
                        static_cast<int>(context.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len,
                        reinterpret_cast<const unsigned char*>(cipher.data()),
                        static_cast<int>(cipher.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), nullptr, &len) != 1) {
    SecureWipe(plain);  // unauthenticated plaintext
    return absl::FailedPreconditionError("authentication failed");
  }
  return plain;
}

absl::StatusOr<std::string> Sealer::Open(std::string_view sealed, std::string_view context) const {
  const std::string_view version = sealed.substr(0, kVersionSize);
  if (version == kVersion2 && sealed.size() >= kVersionSize + kKeyIdSize + kNonceSize + kTagSize) {
    const std::string_view id = sealed.substr(kVersionSize, kKeyIdSize);
    const Key* key = id == current_.id ? &current_ : nullptr;
    for (const Key& k : previous_) {
      if (key == nullptr && id == k.id) key = &k;
    }
    if (key == nullptr) {
      std::vector<std::string> loaded = {Hex(current_.id)};
      for (const Key& k : previous_) loaded.push_back(Hex(k.id));
      return absl::FailedPreconditionError(absl::StrCat(
          "sealed credentials for ", std::string(context), ": sealed under master key ", Hex(id),
          ", which is not loaded (loaded: ", absl::StrJoin(loaded, ", "),
          "); give the old key with --previous_master_key_file until every integration is "
          "re-sealed"));
    }
    auto plain = OpenWith(*key, sealed.substr(kVersionSize + kKeyIdSize), context);
    if (plain.ok()) return plain;
    return absl::FailedPreconditionError(absl::StrCat(
        "sealed credentials for ", std::string(context), ": cannot be opened with master key ",
        Hex(id), " (sealed for another context, or altered)"));
  }
  if (version == kVersion1 && sealed.size() >= kVersionSize + kNonceSize + kTagSize) {
    // No key id: try the current key, then the previous ones.
    auto plain = OpenWith(current_, sealed.substr(kVersionSize), context);
    for (size_t i = 0; !plain.ok() && i < previous_.size(); ++i) {
      plain = OpenWith(previous_[i], sealed.substr(kVersionSize), context);
    }
    if (plain.ok()) return plain;
    return absl::FailedPreconditionError(absl::StrCat(
        "sealed credentials for ", std::string(context),
        ": cannot be opened (sealed under another master key or context, or altered)"));
  }
  return absl::FailedPreconditionError("sealed credentials: unknown format");
}

bool Sealer::SealedUnderCurrentKey(std::string_view sealed) const {
  return sealed.size() >= kVersionSize + kKeyIdSize &&
         sealed.substr(0, kVersionSize) == kVersion2 &&
         sealed.substr(kVersionSize, kKeyIdSize) == current_.id;
}

absl::StatusOr<std::string> Sealer::Reseal(std::string_view sealed,
                                           std::string_view context) const {
  auto plain = Open(sealed, context);
  if (!plain.ok()) return plain.status();
  auto out = Seal(*plain, context);
  SecureWipe(*plain);
  return out;
}

}  // namespace rostersync
