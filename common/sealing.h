#pragma once

// Credentials sealed at rest with AES-256-GCM under a 32-byte master key.
// Sealed form: "v1" (2 bytes) | 12-byte random nonce | ciphertext | 16-byte tag, with the
// context ("<tenant_id>/<integration_id>") as associated data, so a sealed blob cannot be
// moved to another integration.
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace rostersync {

// Overwrites a buffer that held a secret (OPENSSL_cleanse, which the optimizer keeps) and
// empties it. Best effort: copies made earlier are not reached.
void SecureWipe(std::string& secret);

class Sealer {
 public:
  // Key material: 32 raw bytes, 64 hex digits, or base64 of 32 bytes (whitespace trimmed).
  static absl::StatusOr<Sealer> FromKeyMaterial(std::string_view material);
  // Reads the key from `key_file` when non-empty, otherwise from the environment variable
  // `env_var`. Errors name the file or variable, never the key.
  static absl::StatusOr<Sealer> Load(const std::string& key_file, const std::string& env_var);

  Sealer(const Sealer&) = default;
  Sealer(Sealer&&) = default;
  Sealer& operator=(const Sealer&) = default;
  Sealer& operator=(Sealer&&) = default;
  ~Sealer() { SecureWipe(key_); }  // the master key does not outlive its Sealer in memory

  absl::StatusOr<std::string> Seal(std::string_view plaintext, std::string_view context) const;
  // FAILED_PRECONDITION when the blob was sealed under another key or context, or altered.
  absl::StatusOr<std::string> Open(std::string_view sealed, std::string_view context) const;

 private:
  explicit Sealer(std::string key) : key_(std::move(key)) {}
  std::string key_;
};

}  // namespace rostersync
