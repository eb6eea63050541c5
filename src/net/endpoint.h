#pragma once
// Where an upstream lives, parsed once from a model's base URL at start-up.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace triage::net {

struct Endpoint {
  bool tls = false;
  std::string host;         // name or IP literal, without brackets
  uint16_t port = 0;        // explicit or the scheme's default
  std::string base_path;    // "/v1" for "https://api.openai.com/v1/"; "" for none; no trailing '/'
  std::string origin;       // "https://api.openai.com:443": pool key and the name used in messages
  std::string host_header;  // Host header value: host, plus ":port" when not the default

  // base_path + suffix, where suffix starts with '/' ("/chat/completions").
  std::string target(std::string_view suffix) const;
};

// Parses "http[s]://host[:port][/base/path]". Query strings, fragments and user info are
// refused (they would be silently dropped or leak credentials into logs).
Result<Endpoint> parse_endpoint(std::string_view url);

}  // namespace triage::net
