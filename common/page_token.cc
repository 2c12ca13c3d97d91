#include "common/page_token.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace rostersync {
namespace {
constexpr std::string_view kTag = "p1:";
}

std::string EncodePageToken(std::string_view last_key) {
  return absl::WebSafeBase64Escape(std::string(kTag) + std::string(last_key));
}

absl::StatusOr<std::string> DecodePageToken(std::string_view token) {
  if (token.empty()) return std::string();
  std::string raw;
  if (!absl::WebSafeBase64Unescape(std::string(token), &raw) || raw.rfind(kTag, 0) != 0) {
    return absl::InvalidArgumentError("page_token: not a token returned by this service");
  }
  return raw.substr(kTag.size());
}

int ClampPageSize(int requested, int default_size, int max) {
  if (requested <= 0) return default_size;
  return std::min(requested, max);
}

}  // namespace rostersync
