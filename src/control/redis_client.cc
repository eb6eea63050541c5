#include "control/redis_client.h"

#include <hiredis/hiredis.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <future>

namespace triage::control {

namespace {

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

timeval to_timeval(int ms) {
  timeval tv{};
  tv.tv_sec = ms / 1000;
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

RedisValue copy_reply(const redisReply* r) {
  RedisValue v;
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      v.type = RedisValue::Type::kInteger;
      v.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      v.type = r->type == REDIS_REPLY_STRING   ? RedisValue::Type::kString
               : r->type == REDIS_REPLY_STATUS ? RedisValue::Type::kStatus
                                               : RedisValue::Type::kError;
      v.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      v.type = RedisValue::Type::kArray;
      v.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) v.elements.push_back(copy_reply(r->element[i]));
      break;
    default:
      break;
  }
  return v;
}

Error away(std::string_view why) {
  return make_error(ErrorCode::kUnavailable, "the limit store (Redis) is unreachable",
                    "redis: " + std::string(why));
}

bool is_noscript(const RedisValue& v) {
  return v.type == RedisValue::Type::kError && v.text.rfind("NOSCRIPT", 0) == 0;
}

}  // namespace

std::string sha1_hex(std::string_view data) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * SHA_DIGEST_LENGTH);
  for (unsigned char c : digest) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

int64_t RedisValue::as_int(int64_t fallback) const {
  if (type == Type::kInteger) return integer;
  if (type != Type::kString) return fallback;
  int64_t out = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && p == end ? out : fallback;
}

// ---- RedisUrl ----

Result<RedisUrl> RedisUrl::parse(std::string_view url) {
  auto bad = [](std::string why) {
    return make_error(
        ErrorCode::kInvalidRequest,
        "redis_url " + std::move(why) + " (expected redis://[:PASSWORD@]HOST[:PORT][/DB])");
  };
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, kScheme.size()) != kScheme) return bad("must start with redis://");
  std::string_view rest = url.substr(kScheme.size());
  RedisUrl out;
  if (const std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const std::size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) return bad("has a user but no password");
    out.user = std::string(userinfo.substr(0, colon));
    out.password = std::string(userinfo.substr(colon + 1));
    if (out.password.empty()) return bad("has an empty password");
  }
  std::string_view hostport = rest.substr(0, rest.find('/'));
  if (const std::size_t slash = rest.find('/'); slash != std::string_view::npos) {
    const std::string_view db = rest.substr(slash + 1);
    if (!db.empty()) {
      auto [p, ec] = std::from_chars(db.data(), db.data() + db.size(), out.db);
      if (ec != std::errc() || p != db.data() + db.size() || out.db < 0)
        return bad("has a database that is not a number: '" + std::string(db) + "'");
    }
  }
  if (const std::size_t colon = hostport.rfind(':'); colon != std::string_view::npos) {
    const std::string_view port = hostport.substr(colon + 1);
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), out.port);
    if (ec != std::errc() || p != port.data() + port.size() || out.port < 1 || out.port > 65535)
      return bad("has a bad port '" + std::string(port) + "'");
    hostport = hostport.substr(0, colon);
  }
  if (hostport.empty()) return bad("has no host");
  out.host = std::string(hostport);
  return out;
}

std::string RedisUrl::redacted() const {
  std::string out = "redis://";
  if (!password.empty()) out += user + ":***@";
  out += host + ":" + std::to_string(port);
  if (db != 0) out += "/" + std::to_string(db);
  return out;
}

// ---- RedisClient ----

RedisClient::RedisClient(RedisUrl url, RedisClientOptions options)
    : url_(std::move(url)), options_(options) {}

RedisClient::~RedisClient() { stop(); }

const RedisClient::Script* RedisClient::add_script(std::string source) {
  Script s;
  s.sha1 = sha1_hex(source);
  s.source = std::move(source);
  scripts_.push_back(std::move(s));
  return &scripts_.back();
}

void RedisClient::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { loop(); });
}

void RedisClient::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Whatever is left (never started, or parked while away) fails now.
  std::deque<Command> left;
  {
    std::lock_guard lock(mu_);
    left.swap(queue_);
    for (Command& c : parked_) left.push_back(std::move(c));
    parked_.clear();
    stats_.parked = 0;
  }
  for (Command& c : left) c.done(away("client stopped"));
  disconnect();
}

void RedisClient::submit(std::vector<std::string> argv, Completion done, bool keep_while_away) {
  Command c;
  c.argv = std::move(argv);
  c.done = std::move(done);
  c.keep_while_away = keep_while_away;
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      c.done(away("client stopped"));
      return;
    }
    ++stats_.commands;
    queue_.push_back(std::move(c));
  }
  cv_.notify_one();
}

void RedisClient::run(const Script* script, std::vector<std::string> keys,
                      std::vector<std::string> args, Completion done, bool keep_while_away) {
  std::vector<std::string> argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.emplace_back("EVALSHA");
  argv.push_back(script->sha1);
  argv.push_back(std::to_string(keys.size()));
  for (auto& k : keys) argv.push_back(std::move(k));
  for (auto& a : args) argv.push_back(std::move(a));
  Command c;
  c.argv = std::move(argv);
  c.done = std::move(done);
  c.script = script;
  c.keep_while_away = keep_while_away;
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      c.done(away("client stopped"));
      return;
    }
    ++stats_.commands;
    queue_.push_back(std::move(c));
  }
  cv_.notify_one();
}

Result<RedisValue> RedisClient::run_sync(const Script* script, std::vector<std::string> keys,
                                         std::vector<std::string> args) {
  std::promise<Result<RedisValue>> promise;
  std::future<Result<RedisValue>> future = promise.get_future();
  run(script, std::move(keys), std::move(args),
      [&promise](Result<RedisValue> r) { promise.set_value(std::move(r)); });
  return future.get();
}

Result<RedisValue> RedisClient::submit_sync(std::vector<std::string> argv) {
  std::promise<Result<RedisValue>> promise;
  std::future<Result<RedisValue>> future = promise.get_future();
  submit(std::move(argv), [&promise](Result<RedisValue> r) { promise.set_value(std::move(r)); });
  return future.get();
}

void RedisClient::drain() {
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [this] { return (queue_.empty() && !busy_) || !thread_.joinable(); });
}

RedisClient::Stats RedisClient::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void RedisClient::loop() {
  for (;;) {
    std::deque<Command> batch;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(options_.reconnect_interval_ms),
                   [this] { return !queue_.empty() || stopping_; });
      if (stopping_ && queue_.empty()) break;
      busy_ = true;
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    bool have_parked = false;
    {
      std::lock_guard lock(mu_);
      have_parked = !parked_.empty();
    }
    if ((!batch.empty() || have_parked) && ensure_connected()) {
      std::lock_guard lock(mu_);
      // Parked commands were submitted first: they go first.
      while (!parked_.empty()) {
        batch.push_front(std::move(parked_.back()));
        parked_.pop_back();
      }
      stats_.parked = 0;
    }
    if (ctx_ != nullptr) {
      send_batch(batch);
    } else {
      fail_or_park(batch);
    }
    {
      std::lock_guard lock(mu_);
      busy_ = false;
    }
    idle_cv_.notify_all();
  }
  {
    std::lock_guard lock(mu_);
    busy_ = false;
  }
  idle_cv_.notify_all();
}

bool RedisClient::ensure_connected() {
  if (ctx_ != nullptr) return true;
  const int64_t now = steady_ms();
  if (now < next_connect_ms_) return false;
  next_connect_ms_ = now + options_.reconnect_interval_ms;
  ctx_ = redisConnectWithTimeout(url_.host.c_str(), url_.port,
                                 to_timeval(options_.connect_timeout_ms));
  std::string why;
  if (ctx_ == nullptr || ctx_->err != 0) {
    why = ctx_ != nullptr ? ctx_->errstr : "out of memory";
  } else {
    redisSetTimeout(ctx_, to_timeval(options_.command_timeout_ms));
    auto check = [&](std::vector<std::string> argv, std::string_view what) {
      if (!why.empty()) return;
      Result<RedisValue> r = call(argv);
      if (!r) {
        why = std::string(what) + ": " + r.error().internal;
      } else if (r->type == RedisValue::Type::kError) {
        why = std::string(what) + ": " + r->text;
      }
    };
    if (!url_.password.empty()) {
      if (url_.user.empty()) {
        check({"AUTH", url_.password}, "AUTH");
      } else {
        check({"AUTH", url_.user, url_.password}, "AUTH");
      }
    }
    if (url_.db != 0) check({"SELECT", std::to_string(url_.db)}, "SELECT");
    for (const Script& s : scripts_) check({"SCRIPT", "LOAD", s.source}, "SCRIPT LOAD");
  }
  if (!why.empty()) {
    spdlog::debug("redis {}: connect failed: {}", url_.redacted(), why);
    disconnect();
    return false;
  }
  bool reconnected = false;
  {
    std::lock_guard lock(mu_);
    ++stats_.connects;
    stats_.connected = true;
    reconnected = stats_.connects > 1;
  }
  spdlog::info("redis {}: connected", url_.redacted());
  if (reconnected) {
    std::lock_guard lock(hook_mu_);
    if (reconnect_hook_) reconnect_hook_();
  }
  return true;
}

void RedisClient::set_reconnect_hook(std::function<void()> hook) {
  std::lock_guard lock(hook_mu_);
  reconnect_hook_ = std::move(hook);
}

void RedisClient::disconnect() {
  if (ctx_ != nullptr) redisFree(ctx_);
  ctx_ = nullptr;
  std::lock_guard lock(mu_);
  stats_.connected = false;
}

Result<RedisValue> RedisClient::call(const std::vector<std::string>& argv) {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (const auto& a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  void* raw = redisCommandArgv(ctx_, static_cast<int>(argv.size()), ptrs.data(), lens.data());
  if (raw == nullptr) return away(ctx_->errstr);
  auto* reply = static_cast<redisReply*>(raw);
  RedisValue v = copy_reply(reply);
  freeReplyObject(reply);
  return v;
}

void RedisClient::send_batch(std::deque<Command>& batch) {
  for (const Command& c : batch) {
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    ptrs.reserve(c.argv.size());
    lens.reserve(c.argv.size());
    for (const auto& a : c.argv) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
    redisAppendCommandArgv(ctx_, static_cast<int>(c.argv.size()), ptrs.data(), lens.data());
  }
  std::vector<Command> noscript;
  while (!batch.empty()) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) {
      // The connection broke: this command and those after it may or may not have run. What
      // may be resent safely (idempotent, keep_while_away) is parked; the rest fails.
      spdlog::warn("redis {}: connection lost: {}", url_.redacted(), ctx_->errstr);
      disconnect();
      fail_or_park(batch);
      break;
    }
    auto* reply = static_cast<redisReply*>(raw);
    RedisValue v = copy_reply(reply);
    freeReplyObject(reply);
    Command c = std::move(batch.front());
    batch.pop_front();
    if (c.script != nullptr && is_noscript(v) && !c.retried_noscript) {
      noscript.push_back(std::move(c));
      continue;
    }
    c.done(std::move(v));
  }
  for (Command& c : noscript) {
    c.retried_noscript = true;
    Result<RedisValue> r = ctx_ != nullptr ? call({"SCRIPT", "LOAD", c.script->source})
                                           : Result<RedisValue>(away("connection lost"));
    if (r) {
      std::lock_guard lock(mu_);
      ++stats_.script_reloads;
    }
    if (r && ctx_ != nullptr) r = call(c.argv);
    if (!r && ctx_ != nullptr) disconnect();
    c.done(std::move(r));
  }
}

void RedisClient::fail_or_park(std::deque<Command>& batch) {
  std::vector<Command> failed;
  std::vector<Command> dropped;
  {
    std::lock_guard lock(mu_);
    for (Command& c : batch) {
      if (c.keep_while_away && !stopping_) {
        parked_.push_back(std::move(c));
        if (parked_.size() > options_.max_parked) {
          dropped.push_back(std::move(parked_.front()));
          parked_.pop_front();
          ++stats_.parked_dropped;
        }
      } else {
        failed.push_back(std::move(c));
        ++stats_.failed_away;
      }
    }
    stats_.parked = static_cast<int64_t>(parked_.size());
  }
  batch.clear();
  for (Command& c : failed) c.done(away("not connected"));
  for (Command& c : dropped) c.done(away("dropped: too many commands held while away"));
}

}  // namespace triage::control
