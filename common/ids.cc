#include "common/ids.h"

#include <openssl/rand.h>

#include <cstdlib>
#include <string>

namespace rostersync {

std::string HexEncode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xf]);
  }
  return out;
}

std::string NewId(std::string_view prefix) {
  unsigned char buf[12];
  if (RAND_bytes(buf, sizeof(buf)) != 1) std::abort();  // no randomness: broken invariant
  std::string id(prefix);
  id.push_back('_');
  id += HexEncode(std::string_view(reinterpret_cast<const char*>(buf), sizeof(buf)));
  return id;
}

}  // namespace rostersync
