#pragma once

#include <string>
#include <string_view>

namespace rostersync {

// A random identifier such as "run_3f9c2a7d41e0b6a8c2d4e6f8": prefix, "_", 24 hex digits.
std::string NewId(std::string_view prefix);

// Lowercase hex of bytes.
std::string HexEncode(std::string_view bytes);

}  // namespace rostersync
