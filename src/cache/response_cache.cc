#include "cache/response_cache.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>
#include <functional>


namespace triage::cache {

namespace asio = boost::asio;

namespace {

std::size_t json_bytes(const boost::json::value& v) {
  return v.is_null() ? 0 : boost::json::serialize(v).size();
}

}  // namespace

std::size_t CachedAnswer::bytes() const {
  return sizeof(CachedAnswer) + completion.content.size() + json_bytes(completion.tool_calls) +
         completion.model.size() + completion.upstream_model.size() + completion.label.size() +
         completion.finish_reason.size() + completion.token_logprobs.size() * sizeof(double) +
         model.size() + tier.size() + provider.size();
}

namespace {

struct Waiter {
  explicit Waiter(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;  // touched only on its executor
  AnswerPtr answer;          // guarded by the shard's mutex
  bool landed = false;       // guarded by the shard's mutex
};

struct Entry {
  std::string key;
  AnswerPtr answer;
  int64_t stored_ms = 0;
  std::size_t bytes = 0;
};

}  // namespace

class ResponseCache::Flight {
 public:
  explicit Flight(std::string k) : key(std::move(k)) {}
  const std::string key;
  std::vector<std::shared_ptr<Waiter>> waiters;  // guarded by the shard's mutex
  bool landed = false;                           // guarded by the shard's mutex
};

struct ResponseCache::Shard {
  std::mutex mu;
  std::list<Entry> lru;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index;
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights;
  std::size_t bytes = 0;
  int64_t evictions = 0;
  std::size_t max_entries = 0;  // 0: unbounded
  std::size_t max_bytes = 0;    // 0: unbounded

  AnswerPtr find(const std::string& key, int64_t now_ms, int64_t ttl_ms) {
    auto it = index.find(key);
    if (it == index.end()) return nullptr;
    if (now_ms - it->second->stored_ms >= ttl_ms) {  // expired: drop it now
      bytes -= it->second->bytes;
      lru.erase(it->second);
      index.erase(it);
      return nullptr;
    }
    lru.splice(lru.begin(), lru, it->second);
    return it->second->answer;
  }

  void store(const std::string& key, AnswerPtr answer, int64_t now_ms) {
    const std::size_t size = answer->bytes() + key.size();
    if (max_bytes > 0 && size > max_bytes) return;
    if (auto it = index.find(key); it != index.end()) {
      bytes -= it->second->bytes;
      lru.erase(it->second);
      index.erase(it);
    }
    lru.push_front(Entry{key, std::move(answer), now_ms, size});
    index.emplace(key, lru.begin());
    bytes += size;
    while ((max_entries > 0 && lru.size() > max_entries) || (max_bytes > 0 && bytes > max_bytes)) {
      Entry& victim = lru.back();
      bytes -= victim.bytes;
      index.erase(victim.key);
      lru.pop_back();
      ++evictions;
    }
  }
};

ResponseCache::ResponseCache(const config::CacheConfig& cfg, std::size_t shards) : cfg_(cfg) {
  if (shards == 0) shards = cfg.max_entries > 0 && cfg.max_entries < 1024 ? 1 : 16;
  for (std::size_t i = 0; i < shards; ++i) {
    auto s = std::make_unique<Shard>();
    const auto n = static_cast<std::size_t>(shards);
    if (cfg.max_entries > 0) s->max_entries = std::max<std::size_t>(1, (cfg.max_entries + n - 1) / n);
    if (cfg.max_bytes > 0) s->max_bytes = std::max<std::size_t>(1, (cfg.max_bytes + n - 1) / n);
    shards_.push_back(std::move(s));
  }
}

ResponseCache::~ResponseCache() = default;

ResponseCache::Shard& ResponseCache::shard_of(const std::string& key) {
  return *shards_[std::hash<std::string>{}(key) % shards_.size()];
}

AnswerPtr ResponseCache::get(const std::string& key, int64_t now_ms) {
  Shard& s = shard_of(key);
  std::lock_guard lock(s.mu);
  return s.find(key, now_ms, cfg_.ttl_s * 1000);
}

void ResponseCache::put(const std::string& key, AnswerPtr answer, int64_t now_ms) {
  if (!answer) return;
  Shard& s = shard_of(key);
  std::lock_guard lock(s.mu);
  s.store(key, std::move(answer), now_ms);
}

asio::awaitable<ResponseCache::Joined> ResponseCache::join(const std::string& key,
                                                          int64_t now_ms, SteadyTime deadline) {
  Shard& s = shard_of(key);
  const asio::any_io_executor ex = co_await asio::this_coro::executor;
  std::shared_ptr<Waiter> w;
  std::shared_ptr<Flight> flight;
  {
    std::lock_guard lock(s.mu);
    if (AnswerPtr stored = s.find(key, now_ms, cfg_.ttl_s * 1000)) co_return Joined{nullptr, stored};
    auto it = s.flights.find(key);
    if (it == s.flights.end()) {
      flight = std::make_shared<Flight>(key);
      s.flights.emplace(key, flight);
      co_return Joined{flight, nullptr};
    }
    flight = it->second;
    w = std::make_shared<Waiter>(ex);
    w->timer.expires_at(deadline);
    flight->waiters.push_back(w);
  }
  co_await w->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  std::lock_guard lock(s.mu);
  if (!w->landed) {  // the deadline came first: stop waiting
    auto& ws = flight->waiters;
    ws.erase(std::remove(ws.begin(), ws.end(), w), ws.end());
  }
  co_return Joined{nullptr, w->answer};
}

void ResponseCache::land(const std::shared_ptr<Flight>& flight, AnswerPtr answer,
                         int64_t now_ms) {
  Shard& s = shard_of(flight->key);
  std::vector<std::shared_ptr<Waiter>> wake;
  {
    std::lock_guard lock(s.mu);
    if (flight->landed) return;
    flight->landed = true;
    if (auto it = s.flights.find(flight->key); it != s.flights.end() && it->second == flight) {
      s.flights.erase(it);
    }
    if (answer) s.store(flight->key, answer, now_ms);
    for (const std::shared_ptr<Waiter>& w : flight->waiters) {
      w->answer = answer;
      w->landed = true;
    }
    wake.swap(flight->waiters);
  }
  for (std::shared_ptr<Waiter>& w : wake) {
    asio::post(w->timer.get_executor(), [w] { w->timer.cancel(); });
  }
}

CacheStats ResponseCache::stats() const {
  CacheStats out;
  for (const auto& s : shards_) {
    std::lock_guard lock(s->mu);
    out.entries += static_cast<int64_t>(s->lru.size());
    out.bytes += static_cast<int64_t>(s->bytes);
    out.evictions += s->evictions;
    out.in_flight += static_cast<int64_t>(s->flights.size());
  }
  return out;
}

FlightLeader::~FlightLeader() {
  if (flight_) cache_.land(flight_, nullptr, 0);
}

void FlightLeader::land(AnswerPtr answer, int64_t now_ms) {
  if (!flight_) return;
  cache_.land(flight_, std::move(answer), now_ms);
  flight_.reset();
}

}  // namespace triage::cache
