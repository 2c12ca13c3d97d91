#pragma once

// Opaque pagination tokens: the last key of a page, base64url-encoded with a version tag.
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace rostersync {

std::string EncodePageToken(std::string_view last_key);
// "" -> "" (first page); INVALID_ARGUMENT "page_token: ..." when malformed.
absl::StatusOr<std::string> DecodePageToken(std::string_view token);
// Clamps a requested page size into [1, max], 0 meaning `default_size`.
int ClampPageSize(int requested, int default_size, int max);

}  // namespace rostersync
