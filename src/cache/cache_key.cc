#include "cache/cache_key.h"

#include <openssl/sha.h>

#include <algorithm>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <vector>

namespace triage::cache {

namespace json = boost::json;

namespace {

void append_canonical(const json::value& v, std::string& out) {
  switch (v.kind()) {
    case json::kind::object: {
      const json::object& o = v.get_object();
      std::vector<const json::key_value_pair*> entries;
      entries.reserve(o.size());
      for (const json::key_value_pair& kv : o) entries.push_back(&kv);
      std::sort(entries.begin(), entries.end(),
                [](const auto* a, const auto* b) { return a->key() < b->key(); });
      out += '{';
      for (std::size_t i = 0; i < entries.size(); ++i) {
        if (i > 0) out += ',';
        out += json::serialize(json::value(entries[i]->key()));
        out += ':';
        append_canonical(entries[i]->value(), out);
      }
      out += '}';
      return;
    }
    case json::kind::array: {
      out += '[';
      const json::array& a = v.get_array();
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (i > 0) out += ',';
        append_canonical(a[i], out);
      }
      out += ']';
      return;
    }
    default:
      out += json::serialize(v);
  }
}

// Body fields that cannot change the answer.
bool ignored(std::string_view key) {
  return key == "model" || key == "stream" || key == "stream_options" || key == "user" ||
         key == "metadata" || key == "store";
}

}  // namespace

std::string canonical_json(const json::value& v) {
  std::string out;
  append_canonical(v, out);
  return out;
}

std::string cache_key(const core::ChatRequest& req, std::string_view name,
                      std::string_view config_version, std::string_view scope) {
  json::object determining;
  for (const json::key_value_pair& kv : req.body) {
    if (!ignored(kv.key())) determining.emplace(kv.key(), kv.value());
  }
  std::string text = "triage-cache/1";
  for (std::string_view part : {scope, config_version, name}) {
    text += '\0';
    text += std::to_string(part.size());  // length-prefixed: no part can run into the next
    text += ':';
    text += part;
  }
  text += '\0';
  append_canonical(json::value(std::move(determining)), text);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), SHA256_DIGEST_LENGTH);
}

bool samples(const core::ChatRequest& req) { return !req.temperature || *req.temperature > 0; }

}  // namespace triage::cache
