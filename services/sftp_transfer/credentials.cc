#include "services/sftp_transfer/credentials.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace rostersync::transfer {

absl::StatusOr<v1::SealedCredentials> SealCredentials(const Sealer& sealer,
                                                      const v1::Credentials& credentials,
                                                      const std::string& context) {
  std::string plaintext = credentials.SerializeAsString();
  auto ciphertext = sealer.Seal(plaintext, context);
  SecureWipe(plaintext);
  if (!ciphertext.ok()) return ciphertext.status();
  v1::SealedCredentials sealed;
  sealed.set_ciphertext(*std::move(ciphertext));
  sealed.set_context(context);
  return sealed;
}

absl::StatusOr<v1::Credentials> OpenCredentials(const Sealer& sealer,
                                                const v1::SealedCredentials& sealed,
                                                const std::string& expected_context_prefix) {
  if (sealed.ciphertext().empty()) {
    return absl::InvalidArgumentError("credentials: no sealed credentials given");
  }
  // "<tenant_id>/" admits any integration of the tenant; a full "<tenant_id>/<integration_id>"
  // admits that integration only (a prefix match would let "t/int_1" open "t/int_12").
  const bool context_ok = absl::EndsWith(expected_context_prefix, "/")
                              ? absl::StartsWith(sealed.context(), expected_context_prefix)
                              : sealed.context() == expected_context_prefix;
  if (!context_ok) {
    return absl::FailedPreconditionError(absl::StrCat("credentials: sealed for \"",
                                                      sealed.context(), "\", not for \"",
                                                      expected_context_prefix, "\""));
  }
  auto plaintext = sealer.Open(sealed.ciphertext(), sealed.context());
  if (!plaintext.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("credentials for \"", sealed.context(),
                     "\" cannot be opened (sealed under another master key, or altered): ",
                     plaintext.status().message()));
  }
  v1::Credentials credentials;
  const bool parsed = credentials.ParseFromString(*plaintext);
  SecureWipe(*plaintext);
  if (!parsed) {
    return absl::InvalidArgumentError(absl::StrCat("credentials for \"", sealed.context(),
                                                   "\": the sealed bytes are not a Credentials"));
  }
  if (credentials.kind_case() == v1::Credentials::KIND_NOT_SET) {
    WipeCredentials(credentials);
    return absl::InvalidArgumentError(absl::StrCat("credentials for \"", sealed.context(),
                                                   "\" hold neither a password nor a private key"));
  }
  return credentials;
}

void WipeCredentials(v1::Credentials& credentials) {
  if (credentials.has_password()) SecureWipe(*credentials.mutable_password());
  if (credentials.has_private_key()) {
    SecureWipe(*credentials.mutable_private_key()->mutable_key_pem());
    SecureWipe(*credentials.mutable_private_key()->mutable_passphrase());
  }
  credentials.Clear();
}

}  // namespace rostersync::transfer
