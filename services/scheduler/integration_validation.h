#pragma once

// Validation of integrations as callers hand them in. Errors are INVALID_ARGUMENT and name
// the offending field ("integration.endpoint.port: ..."); they never echo a credential.
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "rostersync/v1/scheduler.pb.h"

namespace rostersync::scheduler {

inline constexpr int kDefaultSftpPort = 22;
inline constexpr int kDefaultConnectTimeoutMs = 10000;
inline constexpr int kDefaultOperationTimeoutMs = 30000;
inline constexpr char kDefaultTimeZone[] = "UTC";
inline constexpr int kMaxConnectTimeoutMs = 5 * 60 * 1000;
inline constexpr int kMaxOperationTimeoutMs = 60 * 60 * 1000;
inline constexpr int kMinMisfireWindowS = 60;
inline constexpr int kMaxMisfireWindowS = 7 * 24 * 3600;

// Fills the documented defaults (port 22, timeouts, time zone "UTC") where a field is unset.
void ApplyIntegrationDefaults(v1::Integration& integration);

// Checks every caller-settable field of `integration` (after defaults).
absl::Status ValidateIntegration(const v1::Integration& integration);

// Checks an import policy (encoding, delimiter, date format, attribute types, shares in
// [0,1], counts >= 0); errors name "integration.<prefix>.<field>".
absl::Status ValidateImportPolicy(const v1::ImportPolicy& policy, absl::string_view prefix);

// Checks that credentials are present and non-empty ("credentials.password" etc.).
absl::Status ValidateCredentials(const v1::Credentials& credentials);

// "SHA256:" followed by 43 base64 characters (as `ssh-keygen -lf` prints it).
bool IsSha256Fingerprint(const std::string& text);

}  // namespace rostersync::scheduler
