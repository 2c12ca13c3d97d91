#pragma once

// Credentials sealed at rest with AES-256-GCM under a 32-byte master key, with key rotation.
//
// Sealed form (v2): "v2" | 8-byte key id | 12-byte random nonce | ciphertext | 16-byte tag.
// The key id is the first 8 bytes of SHA-256("rostersync master key id" NUL key): it names the
// key without revealing it, so a blob finds its key in the ring directly. The older v1 form
// ("v1" | nonce | ciphertext | tag, no key id) is still opened, by trying each loaded key.
// The context ("<tenant_id>/<integration_id>") is the associated data in both forms, so a
// sealed blob cannot be moved to another integration.
//
// Key rotation: a Sealer seals under its current key and opens under the current key or any
// previous key added with AddPreviousKeys(); Reseal() moves a blob to the current key.
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
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
  // Load(), then AddPreviousKeys(previous_key_files, previous_env_var): what a service's
  // --master_key_file / --previous_master_key_file flags and environment give it.
  static absl::StatusOr<Sealer> LoadKeyRing(const std::string& key_file, const std::string& env_var,
                                            const std::string& previous_key_files,
                                            const std::string& previous_env_var);

  Sealer(const Sealer&) = default;
  Sealer(Sealer&&) = default;
  Sealer& operator=(const Sealer&) = default;
  Sealer& operator=(Sealer&&) = default;
  ~Sealer();  // the keys do not outlive their Sealer in memory

  // Previous keys, for opening blobs sealed before a rotation: each file of the
  // comma-separated `key_files` and each comma-separated key in the environment variable
  // `env_var` (either may be empty/unset). A key equal to the current one is ignored. Errors
  // name the file or variable, never a key.
  absl::Status AddPreviousKeys(const std::string& key_files, const std::string& env_var);
  absl::Status AddPreviousKeyMaterial(std::string_view material);

  // The current key's id as 16 hex digits (not secret; logs and RPC responses may show it).
  std::string key_id() const;
  // The previous keys' ids.
  std::vector<std::string> previous_key_ids() const;

  absl::StatusOr<std::string> Seal(std::string_view plaintext, std::string_view context) const;
  // FAILED_PRECONDITION when the blob was sealed under a key that is not loaded or under
  // another context, or altered. The message names key ids, never keys or plaintext.
  absl::StatusOr<std::string> Open(std::string_view sealed, std::string_view context) const;
  // Whether `sealed` is a v2 blob under the current key (Reseal would leave it alone).
  bool SealedUnderCurrentKey(std::string_view sealed) const;
  // Opens under any loaded key and seals under the current one; the plaintext is wiped.
  absl::StatusOr<std::string> Reseal(std::string_view sealed, std::string_view context) const;

 private:
  struct Key {
    std::string material;  // 32 bytes
    std::string id;        // 8 bytes
  };
  explicit Sealer(std::string key);
  static Key MakeKey(std::string material);
  absl::StatusOr<std::string> OpenWith(const Key& key, std::string_view nonce_and_body,
                                       std::string_view context) const;

  Key current_;
  std::vector<Key> previous_;
};

}  // namespace rostersync
