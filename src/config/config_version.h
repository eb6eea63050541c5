#pragma once
// The version of a config that serves (docs/config_versions.md): its sequence number in the
// request store's history (1, 2, ... per store) and the SHA-256 of the file's bytes, so that
// every trace, store row and metric sample can be tied to the config that served it.
#include <cstdint>
#include <string>
#include <string_view>

namespace triage::config {

struct ConfigVersion {
  int64_t seq = 0;     // 0: no version (offline evaluation, tests)
  std::string sha256;  // 64 lower-case hex digits of SHA-256(Config::text)
};

// 64 lower-case hex digits of SHA-256(text).
std::string content_sha256(std::string_view text);

}  // namespace triage::config
