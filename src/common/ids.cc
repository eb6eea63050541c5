#include "common/ids.h"

#include <unistd.h>

#include <array>
#include <random>

namespace triage {

std::string random_hex_id(int hex_digits) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(static_cast<size_t>(hex_digits), '0');
  uint64_t bits = 0;
  for (int i = 0; i < hex_digits; ++i) {
    if (i % 16 == 0) bits = rng();
    out[static_cast<size_t>(i)] = kHex[bits & 0xf];
    bits >>= 4;
  }
  return out;
}

std::string time_ordered_hex_id(int64_t unix_ms) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(12, '0');
  uint64_t t = static_cast<uint64_t>(unix_ms);
  for (int i = 11; i >= 0; --i) {
    out[static_cast<size_t>(i)] = kHex[t & 0xf];
    t >>= 4;
  }
  return out + random_hex_id(12);
}

const std::string& replica_id() {
  static const std::string id = [] {
    std::array<char, 256> host{};
    if (gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
    std::string name = host[0] ? host.data() : "host";
    return name + "-" + std::to_string(getpid()) + "-" + random_hex_id(6);
  }();
  return id;
}

}  // namespace triage
