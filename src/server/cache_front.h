#pragma once
// The gateway's side of the response cache (docs/cache.md): which cache a request uses and
// whether it may read or write it, what of a finished request may be stored, and how a hit is
// answered in the client's dialect without any upstream call.
#include <boost/asio/awaitable.hpp>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "api/dialect.h"
#include "cache/response_cache.h"
#include "common/clock.h"
#include "config/config.h"
#include "core/chat.h"
#include "core/trace.h"
#include "net/http_server.h"

namespace triage::server {

// What the cache does for one request.
struct CachePlan {
  cache::ResponseCache* cache = nullptr;  // null: the name has no cache (or it is bypassed)
  std::string key;                        // cache::cache_key of the request
  bool read = false;                      // may be answered from the cache / coalesced
  bool write = false;                     // its answer may be stored
  core::CacheOutcome outcome = core::CacheOutcome::kNone;  // kMiss until a hit is found
};

class CacheFront {
 public:
  // One cache per route and model with `cache:`; `version` (the serving config version's
  // SHA-256, server/serving.h) goes into every key, so a changed config never serves an old
  // answer.
  CacheFront(const config::Config& cfg, std::string version);

  // The plan for `req` from client `scope` (its key id; empty: "anonymous") with the request's
  // Cache-Control header: `no-store` neither reads nor writes, `no-cache` writes a fresh answer
  // without reading; a sampling request (cache::samples) is bypassed unless the cache allows
  // sampling.
  CachePlan plan(const core::ChatRequest& req, std::string_view scope,
                 std::string_view cache_control) const;
  cache::ResponseCache* find(std::string_view name) const;
  const std::string& version() const { return version_; }

 private:
  std::map<std::string, std::unique_ptr<cache::ResponseCache>, std::less<>> by_name_;
  std::string version_;
};

// Steady milliseconds, the cache's clock.
int64_t cache_now_ms();

// The answer of a finished request as a cache entry, or null when it must not be stored: an
// answer the replay provider made up, one that failed its final checks or verification, one
// an overflow model gave instead of the requested one.
cache::AnswerPtr storable_answer(const core::Trace& trace, const core::Completion& answer);

// Fills the trace of a hit from the cached answer: its model, tokens and finish reason, at $0
// (what it saved is the counterfactual of those tokens, as for any request).
void record_hit(core::Trace& trace, const cache::CachedAnswer& answer);

// Sends a hit: one JSON answer, or for a streaming request the answer replayed as one delta
// through the dialect's stream renderer. Headers as any answer, with x-triage-cache: hit.
// False when the client went away.
boost::asio::awaitable<bool> send_hit(net::ResponseWriter& out, core::Trace& trace,
                                      SteadyTime start, const core::ChatRequest& req,
                                      const api::Dialect& dialect,
                                      const cache::CachedAnswer& answer);

}  // namespace triage::server
