#pragma once
// A Redis client for the shared limit backend (redis_limits.h), on hiredis's blocking API run by
// the client's own thread. Callers never wait on the network: submit() queues a command and its
// completion runs later on the client thread. The thread sends everything queued as one
// pipeline (one write, one round trip for a batch from every I/O thread), so a busy gateway
// makes few round trips, and one connection serves the whole process.
//
// Scripts: run() sends EVALSHA; the client loads every registered script after each connect
// and, when Redis answers NOSCRIPT (a SCRIPT FLUSH, a restarted server), loads it again and
// resends the command once.
//
// Redis away: while there is no connection, a command fails at once with kUnavailable (no call
// waits for a connect timeout more than once per reconnect interval), except commands submitted
// with `keep_while_away`, which are parked (bounded; the oldest beyond the bound are dropped and
// counted) and sent first once the connection is back. The thread reconnects by itself, at most
// once per reconnect interval.
//
// Threading: every method is thread-safe. Completions run on the client thread, one at a time,
// in submission order; they must not block (post the result elsewhere).
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/result.h"

struct redisContext;

namespace triage::control {

// Where Redis is: redis://[:PASSWORD@]HOST[:PORT][/DB] (or redis://USER:PASSWORD@...).
struct RedisUrl {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string user;      // Redis 6 ACL user; empty: AUTH with the password only
  std::string password;  // a secret: never logged, never shown (redacted())
  int db = 0;

  // An error names what is wrong with the URL, never echoes a password.
  static Result<RedisUrl> parse(std::string_view url);
  // The URL with any password replaced by "***": what logs and /admin show.
  std::string redacted() const;
};

// A reply, copied out of hiredis's. Error replies are values too (kError with `text`).
struct RedisValue {
  enum class Type { kNil, kInteger, kString, kStatus, kError, kArray };
  Type type = Type::kNil;
  int64_t integer = 0;
  std::string text;  // kString, kStatus, kError
  std::vector<RedisValue> elements;

  // The integer of an integer reply or of a decimal string; `fallback` otherwise.
  int64_t as_int(int64_t fallback = 0) const;
};

struct RedisClientOptions {
  int connect_timeout_ms = 250;   // one connect attempt
  int command_timeout_ms = 1000;  // a reply slower than this counts as Redis being away
  int reconnect_interval_ms = 500;
  std::size_t max_parked = 100'000;  // keep_while_away commands held while Redis is away
  std::size_t max_batch = 512;       // commands per pipeline
};

class RedisClient {
 public:
  // A Lua script run with EVALSHA; register before the first command that runs it.
  struct Script {
    std::string source;
    std::string sha1;  // hex SHA-1 of source (what SCRIPT LOAD returns)
  };
  using Completion = std::function<void(Result<RedisValue>)>;

  struct Stats {
    int64_t commands = 0;
    int64_t failed_away = 0;     // commands failed because Redis was unreachable
    int64_t parked_dropped = 0;  // keep_while_away commands dropped (over max_parked)
    int64_t connects = 0;        // successful connects (the first included)
    int64_t script_reloads = 0;  // NOSCRIPT answers handled by loading the script again
    int64_t parked = 0;          // held now
    bool connected = false;
  };

  RedisClient(RedisUrl url, RedisClientOptions options);
  ~RedisClient();  // stop()
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Returns a handle valid for this client's lifetime. Call before start().
  const Script* add_script(std::string source);
  // Starts the thread. The first connect happens there (commands fail fast until it succeeds).
  void start();
  // Completes what is queued (parked commands fail with kUnavailable), then joins the thread.
  void stop();

  // Queues a command; `done` runs on the client thread with the reply or an error (kUnavailable
  // when Redis is away). Error replies from Redis arrive as RedisValue::Type::kError.
  void submit(std::vector<std::string> argv, Completion done, bool keep_while_away = false);
  // EVALSHA `script` with KEYS and ARGV.
  void run(const Script* script, std::vector<std::string> keys, std::vector<std::string> args,
           Completion done, bool keep_while_away = false);
  // The same, waiting for the reply: for start-up and tests, never on an I/O thread.
  Result<RedisValue> run_sync(const Script* script, std::vector<std::string> keys,
                              std::vector<std::string> args);
  Result<RedisValue> submit_sync(std::vector<std::string> argv);
  // Waits until everything submitted before the call has completed (parked commands included
  // only once they are sent). For tests and shutdown.
  void drain();

  Stats stats() const;
  const RedisUrl& url() const { return url_; }
  // Runs on the client thread after each reconnect (a connect after the first). nullptr clears;
  // setting waits for a running hook to return, so its owner may go once this returns.
  void set_reconnect_hook(std::function<void()> hook);

 private:
  struct Command {
    std::vector<std::string> argv;
    Completion done;
    const Script* script = nullptr;  // set for EVALSHA (argv[1] is its sha)
    bool keep_while_away = false;
    bool retried_noscript = false;
  };

  void loop();
  bool ensure_connected();  // on the client thread
  void disconnect();
  void send_batch(std::deque<Command>& batch);
  void fail_or_park(std::deque<Command>& batch);
  Result<RedisValue> call(const std::vector<std::string>& argv);  // one blocking round trip

  const RedisUrl url_;
  const RedisClientOptions options_;
  std::deque<Script> scripts_;  // stable addresses; filled before start()

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<Command> queue_;             // guarded by mu_
  std::deque<Command> parked_;            // guarded by mu_
  bool stopping_ = false;                 // guarded by mu_
  std::mutex hook_mu_;                    // held while the hook is set or runs
  std::function<void()> reconnect_hook_;  // guarded by hook_mu_
  bool busy_ = false;                     // guarded by mu_: the thread is sending a batch
  Stats stats_;                           // guarded by mu_
  std::thread thread_;

  // Client thread only.
  redisContext* ctx_ = nullptr;
  int64_t next_connect_ms_ = 0;  // steady ms
};

// Hex SHA-1 (what Redis names a script by).
std::string sha1_hex(std::string_view data);

}  // namespace triage::control
