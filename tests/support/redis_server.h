#pragma once
// A throwaway redis-server for tests: started on a free loopback port with no persistence
// (--save '' --appendonly no), stopped (SIGKILL-proof: SIGTERM then wait) when the object goes.
// Tests that need one call RedisServer::start() and GTEST_SKIP when it says redis-server is not
// installed (`.ci/run` installs it, so CI runs them).
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace triage::testing {

class RedisServer {
 public:
  // The path of redis-server, or empty when it is not installed.
  static std::string binary() {
    for (const char* dir : {"/usr/bin", "/usr/local/bin", "/usr/sbin"}) {
      std::string path = std::string(dir) + "/redis-server";
      if (access(path.c_str(), X_OK) == 0) return path;
    }
    return {};
  }
  static constexpr const char* kMissing =
      "redis-server is not installed (apt-get install redis-server; scripts/setup.sh test does)";

  // Starts one on a free port; nullptr when redis-server is missing. Fails the test (and
  // returns nullptr) when it does not answer PING within 10 s.
  static std::unique_ptr<RedisServer> start() {
    if (binary().empty()) return nullptr;
    auto server = std::unique_ptr<RedisServer>(new RedisServer(free_port()));
    if (!server->launch()) return nullptr;
    return server;
  }

  ~RedisServer() { stop(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  bool running() const { return pid_ > 0; }

  // Kills the server (SIGKILL: an outage, not a shutdown) and waits for it to be gone.
  void kill_now() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  // Starts it again on the same port (empty: no persistence). True when it answers PING.
  bool restart() {
    stop();
    return launch();
  }

  // One command, for tests that look at or change Redis directly (FLUSHALL, SCRIPT FLUSH).
  std::optional<std::string> command(const std::vector<std::string>& argv) const {
    redisContext* c = redisConnect("127.0.0.1", port_);
    if (c == nullptr || c->err != 0) {
      if (c) redisFree(c);
      return std::nullopt;
    }
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    for (const auto& a : argv) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), ptrs.data(), lens.data()));
    std::optional<std::string> out;
    if (reply != nullptr) {
      if (reply->type == REDIS_REPLY_INTEGER) {
        out = std::to_string(reply->integer);
      } else if (reply->str != nullptr) {
        out = std::string(reply->str, reply->len);
      } else {
        out = std::string();
      }
      freeReplyObject(reply);
    }
    redisFree(c);
    return out;
  }

 private:
  explicit RedisServer(int port) : port_(port) {}

  static int free_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    const int port = ntohs(addr.sin_port);
    close(fd);
    return port;
  }

  bool launch() {
    const std::string bin = binary();
    const std::string port = std::to_string(port_);
    std::vector<std::string> args = {
        bin,       "--port",       port,   "--bind",      "127.0.0.1", "--save",
        "",        "--appendonly", "no",   "--daemonize", "no",        "--loglevel",
        "warning", "--dir",        "/tmp", "--logfile",   "/dev/null"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, bin.c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
      pid_ = -1;
      return false;
    }
    // Waits (bounded) until it answers: the server needs a moment to bind.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (command({"PING"}) == std::optional<std::string>("PONG")) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    stop();
    return false;
  }

  int port_;
  pid_t pid_ = -1;
};

}  // namespace triage::testing
