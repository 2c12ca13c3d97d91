#include "services/sftp_transfer/credentials.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace rostersync::transfer {

absl::StatusOr<v1::SealedCredentials> SealCredentials(const Sealer& sealer,
                                                      const v1::Credentials& credentials,
                                                      const std::string& context) {
  auto ciphertext = sealer.Seal(credentials.SerializeAsString(), context);
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
  if (!absl::StartsWith(sealed.context(), expected_context_prefix)) {
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
  if (!credentials.ParseFromString(*plaintext)) {
    return absl::InvalidArgumentError(absl::StrCat("credentials for \"", sealed.context(),
                                                   "\": the sealed bytes are not a Credentials"));
  }
  if (credentials.kind_case() == v1::Credentials::KIND_NOT_SET) {
    return absl::InvalidArgumentError(absl::StrCat("credentials for \"", sealed.context(),
                                                   "\" hold neither a password nor a private key"));
  }
  return credentials;
}

}  // namespace rostersync::transfer
