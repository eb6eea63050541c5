// The openai and anthropic providers against the real test upstream process
// (tests/upstream: <build>/bin/triage-test-upstream, or $TRIAGE_TEST_UPSTREAM). Skipped, with a
// message, when the binary has not been built.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstdlib>
#include <functional>
#include <string>

#include "net/http_client.h"
#include "providers/anthropic.h"
#include "providers/openai.h"

namespace triage::providers {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

// A child process running the test upstream on an ephemeral port.
class UpstreamProcess {
 public:
  static std::string binary() {
    if (const char* p = std::getenv("TRIAGE_TEST_UPSTREAM")) return p;
    return std::string(TRIAGE_BINARY_DIR) + "/bin/triage-test-upstream";
  }

  // Starts it and waits (up to 10 s) for "listening on PORT". Empty `why` on success.
  explicit UpstreamProcess(std::string& why) {
    std::string path = binary();
    if (::access(path.c_str(), X_OK) != 0) {
      why = path + " is not built";
      return;
    }
    int fds[2];
    if (::pipe(fds) != 0) {
      why = "pipe failed";
      return;
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::close(fds[0]);
      ::close(fds[1]);
      ::execl(path.c_str(), path.c_str(), "--port", "0", "--threads", "1", nullptr);
      ::_exit(127);
    }
    ::close(fds[1]);
    out_fd_ = fds[0];
    std::string line;
    auto give_up = SteadyClock::now() + 10s;
    while (line.find('\n') == std::string::npos && SteadyClock::now() < give_up) {
      pollfd p{out_fd_, POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      char buf[256];
      ssize_t n = ::read(out_fd_, buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<size_t>(n));
    }
    const std::string prefix = "listening on ";
    if (line.rfind(prefix, 0) != 0) {
      why = "test upstream did not say '" + prefix + "PORT' (got '" + line + "')";
      return;
    }
    port_ = static_cast<uint16_t>(std::stoi(line.substr(prefix.size())));
  }

  ~UpstreamProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (out_fd_ >= 0) ::close(out_fd_);
  }

  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  uint16_t port_ = 0;
};

class CollectSink final : public core::StreamSink {
 public:
  explicit CollectSink(int accept = -1) : accept_(accept) {}
  asio::awaitable<bool> write(const core::Delta& d) override {
    roles.append(d.role);
    content.append(d.content);
    ++writes;
    co_return accept_ < 0 || writes < accept_;
  }
  std::string roles, content;
  int writes = 0;

 private:
  int accept_;
};

core::ChatRequest chat(std::string_view user_text) {
  core::ChatRequest req;
  req.model = "client-model";
  std::string body =
      R"({"model":"client-model","messages":[{"role":"system","content":"be brief"},)"
      R"({"role":"user","content":")" +
      std::string(user_text) + R"("}]})";
  req.body = json::parse(body).as_object();
  req.messages.push_back({"system", "be brief", req.body["messages"].as_array()[0]});
  req.messages.push_back({"user", std::string(user_text), req.body["messages"].as_array()[1]});
  return req;
}

const char* fake_env(const char* name) {
  return std::string_view(name) == "TEST_UPSTREAM_KEY" ? "sk-test-123" : nullptr;
}

class HttpProviders : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() { upstream_ = new UpstreamProcess(why_); }
  static void TearDownTestSuite() {
    delete upstream_;
    upstream_ = nullptr;
  }
  void SetUp() override {
    if (!why_.empty()) GTEST_SKIP() << why_;
  }

  // A client of the parameter's provider whose upstream model selects the test mode.
  std::unique_ptr<ModelClient> client(std::string mode, std::string endpoint = {}) {
    config::Model m;
    m.name = "test-" + GetParam();
    m.provider = GetParam();
    m.endpoint = endpoint.empty() ? upstream_->url() : endpoint;
    m.api_key_env = "TEST_UPSTREAM_KEY";
    m.upstream_model = "mode:" + mode;
    if (GetParam() == "anthropic") m.options.node = YAML::Load("{default_max_tokens: 64}");
    config::Config cfg;
    cfg.path = "test.yaml";
    return GetParam() == "openai" ? make_openai_client(cfg, m, fake_env)
                                  : make_anthropic_client(cfg, m, fake_env);
  }

  template <typename T>
  T run(std::function<asio::awaitable<T>()> body) {
    std::optional<T> out;
    std::exception_ptr failure;
    asio::co_spawn(
        ctx_, [&]() -> asio::awaitable<void> { out.emplace(co_await body()); },
        [&](std::exception_ptr e) { failure = e; });
    ctx_.run_for(20s);
    ctx_.restart();
    if (failure) std::rethrow_exception(failure);
    if (!out) throw std::runtime_error("call did not finish");
    return std::move(*out);
  }

  Result<core::Completion> complete(ModelClient& c, const core::ChatRequest& req,
                                    SteadyTime deadline, CallStats& stats) {
    return run<Result<core::Completion>>([&]() { return c.complete(req, deadline, stats); });
  }
  Result<core::Completion> stream(ModelClient& c, const core::ChatRequest& req, SteadyTime deadline,
                                  CallStats& stats, CollectSink& sink) {
    return run<Result<core::Completion>>([&]() { return c.stream(req, deadline, stats, sink); });
  }

  // The last request the upstream received (method, target, headers, body).
  json::object last_request() {
    auto ep = net::parse_endpoint(upstream_->url());
    net::HttpClient http(*ep);
    net::HttpRequest req;
    req.method = "GET";
    req.target = "/_last_request";
    auto r = run<Result<net::HttpResponse>>([&]() { return http.request(req, in(5s)); });
    if (!r.ok()) throw std::runtime_error(r.error().message);
    return json::parse(r->body).as_object();
  }

  static SteadyTime in(std::chrono::milliseconds d) { return SteadyClock::now() + d; }

  static inline UpstreamProcess* upstream_ = nullptr;
  static inline std::string why_;
  asio::io_context ctx_;
};

TEST_P(HttpProviders, NonStreaming) {
  auto c = client("ok");
  CallStats stats;
  auto r = complete(*c, chat("hello there world"), in(5s), stats);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->content, "echo: hello there world");
  EXPECT_EQ(r->finish_reason, "stop");
  EXPECT_EQ(r->model, "test-" + GetParam());
  EXPECT_EQ(r->upstream_model, "mode:ok");
  EXPECT_EQ(r->usage.prompt_tokens, 5);  // words: "be brief" + "hello there world"
  EXPECT_EQ(r->usage.completion_tokens, 4);
  EXPECT_FALSE(r->usage.estimated);
  EXPECT_GT(stats.total_us, 0);
  EXPECT_LE(stats.ttfb_us, stats.total_us);

  json::object last = last_request();
  std::string headers = json::serialize(last["headers"]);
  if (GetParam() == "openai") {
    EXPECT_EQ(last["target"], "/v1/chat/completions");
    EXPECT_NE(headers.find("Bearer sk-test-123"), std::string::npos) << headers;
    json::value body = json::parse(last["body"].as_string());
    EXPECT_EQ(body.at("model"), "mode:ok");
  } else {
    EXPECT_EQ(last["target"], "/v1/messages");
    EXPECT_NE(headers.find("sk-test-123"), std::string::npos) << headers;
    EXPECT_NE(headers.find("2023-06-01"), std::string::npos) << headers;
    json::value body = json::parse(last["body"].as_string());
    EXPECT_EQ(body.at("system"), "be brief");
    EXPECT_EQ(body.at("max_tokens"), 64);
  }
}

TEST_P(HttpProviders, StreamingAndConnectionReuse) {
  auto c = client("ok");
  CallStats stats;
  CollectSink sink;
  auto r = stream(*c, chat("one two three"), in(5s), stats, sink);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(sink.content, "echo: one two three");
  EXPECT_EQ(sink.roles, "assistant");
  EXPECT_GE(sink.writes, 4);  // one word per chunk
  EXPECT_EQ(r->content, "echo: one two three");
  EXPECT_EQ(r->finish_reason, "stop");
  EXPECT_EQ(r->usage.prompt_tokens, 5);
  EXPECT_EQ(r->usage.completion_tokens, 4);
  EXPECT_FALSE(r->usage.estimated);
  EXPECT_GT(stats.ttfb_us, 0);
  EXPECT_LE(stats.ttfb_us, stats.total_us);
  if (GetParam() == "openai") {
    json::value body = json::parse(last_request()["body"].as_string());
    EXPECT_EQ(body.at("stream_options").at("include_usage"), true);
  }
  // The finished stream's connection went back to the pool: these reuse it.
  uint64_t connects = net::pool_stats(ctx_).connects;
  for (int i = 0; i < 3; ++i) {
    CollectSink again;
    ASSERT_TRUE(stream(*c, chat("x"), in(5s), stats, again).ok());
    ASSERT_TRUE(complete(*c, chat("y"), in(5s), stats).ok());
  }
  EXPECT_EQ(net::pool_stats(ctx_).connects, connects);
}

TEST_P(HttpProviders, MissingUsageIsEstimated) {
  auto c = client("no-usage");
  CallStats stats;
  auto r = complete(*c, chat("a b c d"), in(5s), stats);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->usage.estimated);
  EXPECT_GT(r->usage.prompt_tokens, 0);
  EXPECT_GT(r->usage.completion_tokens, 0);
  CollectSink sink;
  auto s = stream(*c, chat("a b c d"), in(5s), stats, sink);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE(s->usage.estimated);
  EXPECT_GT(s->usage.completion_tokens, 0);
}

TEST_P(HttpProviders, MaxTokensGivesLength) {
  auto c = client("tokens-10");
  core::ChatRequest req = chat("q");
  req.max_tokens = 3;
  req.body["max_tokens"] = 3;
  CallStats stats;
  auto r = complete(*c, req, in(5s), stats);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->content, "tok1 tok2 tok3");
  EXPECT_EQ(r->finish_reason, "length");
}

TEST_P(HttpProviders, UpstreamStatusErrors) {
  const std::pair<const char*, ErrorCode> cases[] = {{"error-500", ErrorCode::kUpstreamError},
                                                     {"error-400", ErrorCode::kInvalidRequest},
                                                     {"error-429", ErrorCode::kRateLimited},
                                                     {"error-401", ErrorCode::kUpstreamError},
                                                     {"error-504", ErrorCode::kUpstreamTimeout}};
  for (const auto& [mode, code] : cases) {
    auto c = client(mode);
    CallStats stats;
    auto r = complete(*c, chat("x"), in(5s), stats);
    ASSERT_FALSE(r.ok()) << mode;
    EXPECT_EQ(r.error().code, code) << mode << ": " << r.error().message;
    CollectSink sink;
    auto s = stream(*c, chat("x"), in(5s), stats, sink);
    ASSERT_FALSE(s.ok()) << mode;
    EXPECT_EQ(s.error().code, code) << mode << ": " << s.error().message;
    EXPECT_EQ(sink.writes, 0);
  }
  auto c = client("error-401");
  CallStats stats;
  auto r = complete(*c, chat("x"), in(5s), stats);
  ASSERT_FALSE(r.ok());
  // The key's variable is for the operator (internal: log, store), never for the client.
  EXPECT_EQ(r.error().message.find("TEST_UPSTREAM_KEY"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().internal.find("TEST_UPSTREAM_KEY"), std::string::npos) << r.error().internal;
  EXPECT_EQ(r.error().message.find("sk-test-123"), std::string::npos);
  EXPECT_EQ(r.error().internal.find("sk-test-123"), std::string::npos);
  ASSERT_TRUE(stats.failure);
  EXPECT_EQ(stats.failure->kind, control::FailureKind::kHttpStatus);
  EXPECT_EQ(stats.failure->http_status, 401);
}

TEST_P(HttpProviders, FailuresAreTyped) {
  // 429 with Retry-After (seconds) and without, whole and streamed.
  for (const char* mode : {"error-429,retry-after-7", "error-429"}) {
    auto c = client(mode);
    const bool with = std::string(mode).find("retry-after") != std::string::npos;
    CallStats stats;
    auto r = complete(*c, chat("x"), in(5s), stats);
    ASSERT_FALSE(r.ok());
    ASSERT_TRUE(stats.failure) << mode;
    EXPECT_EQ(stats.failure->kind, control::FailureKind::kHttpStatus);
    EXPECT_EQ(stats.failure->http_status, 429);
    EXPECT_EQ(stats.failure->retry_after_ms, with ? std::optional<int64_t>(7000) : std::nullopt);
    CallStats sstats;
    CollectSink sink;
    auto s = stream(*c, chat("x"), in(5s), sstats, sink);
    ASSERT_FALSE(s.ok());
    ASSERT_TRUE(sstats.failure) << mode;
    EXPECT_EQ(sstats.failure->http_status, 429);
    EXPECT_FALSE(sstats.failure->client_saw_bytes);
  }
  // Garbage: malformed. Reset before the answer: no answer began (connect). Our deadline:
  // timeout. A stream cut after its first chunk: reset, and the client saw bytes.
  struct Case {
    const char* mode;
    bool streamed;
    control::FailureKind kind;
    bool saw_bytes;
  };
  for (const Case& k : {Case{"garbage", false, control::FailureKind::kMalformed, false},
                        Case{"reset", false, control::FailureKind::kConnect, false},
                        Case{"stall", false, control::FailureKind::kTimeout, false},
                        Case{"cut", true, control::FailureKind::kReset, true}}) {
    auto c = client(k.mode);
    CallStats stats;
    CollectSink sink;
    auto r = k.streamed ? stream(*c, chat("one two three"), in(300ms), stats, sink)
                        : complete(*c, chat("x"), in(300ms), stats);
    ASSERT_FALSE(r.ok()) << k.mode;
    ASSERT_TRUE(stats.failure) << k.mode;
    EXPECT_EQ(stats.failure->kind, k.kind) << k.mode;
    EXPECT_EQ(stats.failure->client_saw_bytes, k.saw_bytes) << k.mode;
  }
}

TEST_P(HttpProviders, DeadlineIsUpstreamTimeout) {
  auto c = client("stall");
  CallStats stats;
  auto r = complete(*c, chat("x"), in(300ms), stats);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUpstreamTimeout) << r.error().message;
  EXPECT_NE(r.error().message.find("did not answer within"), std::string::npos);
  CollectSink sink;
  auto s = stream(*c, chat("x"), in(300ms), stats, sink);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kUpstreamTimeout) << s.error().message;
}

TEST_P(HttpProviders, ConnectionRefused) {
  uint16_t port;
  {
    asio::ip::tcp::acceptor a(ctx_, {asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  auto c = client("ok", "http://127.0.0.1:" + std::to_string(port) + "/v1");
  CallStats stats;
  auto r = complete(*c, chat("x"), in(5s), stats);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUpstreamError);
  EXPECT_NE(r.error().message.find("refused"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find(std::to_string(port)), std::string::npos) << r.error().message;
  ASSERT_TRUE(stats.failure);
  EXPECT_EQ(stats.failure->kind, control::FailureKind::kConnect);
}

TEST_P(HttpProviders, GarbageBody) {
  auto c = client("garbage");
  CallStats stats;
  auto r = complete(*c, chat("x"), in(5s), stats);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUpstreamError);
  EXPECT_NE(r.error().message.find("invalid response"), std::string::npos) << r.error().message;
}

TEST_P(HttpProviders, ConnectionReset) {
  auto c = client("reset");
  CallStats stats;
  auto r = complete(*c, chat("x"), in(5s), stats);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUpstreamError) << r.error().message;
}

TEST_P(HttpProviders, CutMidStream) {
  auto c = client("cut");
  CallStats stats;
  CollectSink sink;
  auto s = stream(*c, chat("one two three four"), in(5s), stats, sink);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kUpstreamError) << s.error().message;
  EXPECT_GE(sink.writes, 1);                        // what arrived before the cut was forwarded
  auto r = complete(*c, chat("x"), in(5s), stats);  // non-streaming: half a body, then EOF
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUpstreamError) << r.error().message;
}

TEST_P(HttpProviders, SinkGoingAwayCancels) {
  auto c = client("tokens-50");
  CallStats stats;
  CollectSink sink(/*accept=*/2);
  auto s = stream(*c, chat("x"), in(5s), stats, sink);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kCancelled);
  EXPECT_EQ(sink.writes, 2);
  EXPECT_EQ(net::pool_stats(ctx_).idle, 0u);  // the abandoned stream's connection was closed
}

TEST_P(HttpProviders, MissingKeyIsUnavailable) {
  config::Model m;
  m.name = "keyless";
  m.provider = GetParam();
  m.endpoint = upstream_->url();
  m.api_key_env = "TRIAGE_NOT_SET_ANYWHERE";
  config::Config cfg;
  auto none = [](const char*) -> const char* { return nullptr; };
  auto c = GetParam() == "openai" ? make_openai_client(cfg, m, none)
                                  : make_anthropic_client(cfg, m, none);
  CallStats stats;
  auto r = complete(*c, chat("x"), in(5s), stats);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(r.error().message.find("TRIAGE_NOT_SET_ANYWHERE"), std::string::npos);
  EXPECT_NE(r.error().internal.find("TRIAGE_NOT_SET_ANYWHERE"), std::string::npos);
  EXPECT_FALSE(stats.failure);  // never reached for the upstream: says nothing about its health
  EXPECT_EQ(net::pool_stats(ctx_).connects, 0u);
}

INSTANTIATE_TEST_SUITE_P(Both, HttpProviders, ::testing::Values("openai", "anthropic"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace triage::providers
