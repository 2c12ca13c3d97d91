#pragma once

// Opens sealed SFTP credentials. The sealed plaintext is a serialized v1::Credentials; the
// seal's associated data is SealedCredentials.context ("<tenant_id>/<integration_id>").
#include <string>

#include "absl/status/statusor.h"
#include "common/sealing.h"
#include "rostersync/v1/transfer.pb.h"

namespace rostersync::transfer {

// Seals credentials the way OpenCredentials expects them (used by the scheduler and tests).
absl::StatusOr<v1::SealedCredentials> SealCredentials(const Sealer& sealer,
                                                      const v1::Credentials& credentials,
                                                      const std::string& context);

// `expected_context_prefix` guards against credentials moved between tenants: the context
// must start with it when it ends with "/" (e.g. "<tenant_id>/"), else equal it (the full
// "<tenant_id>/<integration_id>").
// Errors (FAILED_PRECONDITION / INVALID_ARGUMENT) never contain the plaintext.
absl::StatusOr<v1::Credentials> OpenCredentials(const Sealer& sealer,
                                                const v1::SealedCredentials& sealed,
                                                const std::string& expected_context_prefix);

// Overwrites the password, key and passphrase buffers and clears `credentials` (best effort;
// call once the session is authenticated).
void WipeCredentials(v1::Credentials& credentials);

}  // namespace rostersync::transfer
