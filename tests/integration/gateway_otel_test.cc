// OTLP trace export and the new metrics against the real gateway binary: `otel:` points at a
// receiver inside this test (the project's HttpServer on 127.0.0.1:0).
#include <gtest/gtest.h>

#include <boost/asio/awaitable.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "net/http_server.h"

namespace triage::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr char kKey[] = "sk-test-OTEL-5d1f0a";

// Collects the bodies POSTed to it; answers 200 {}.
class Collector {
 public:
  Collector()
      : server_(net::ServerOptions{"127.0.0.1", 0, 1, 64 << 20, 60000, 30000},
                [this](net::IncomingRequest& in,
                       net::ResponseWriter& out) -> boost::asio::awaitable<void> {
                  {
                    std::lock_guard lk(mu_);
                    bodies_.push_back(in.target() == "/v1/traces" ? in.body() : "wrong target");
                  }
                  cv_.notify_all();
                  co_await out.send(200, "application/json", {}, "{}");
                }) {
    server_.start();
  }
  ~Collector() { server_.stop(); }
  int port() const { return server_.port(); }
  // All spans received so far, waiting (bounded) until `pred` holds for them.
  template <typename Pred>
  std::vector<json::object> wait_spans(Pred pred) {
    std::unique_lock lk(mu_);
    std::vector<json::object> spans;
    cv_.wait_for(lk, 20s, [&] {
      spans.clear();
      for (const std::string& b : bodies_) {
        json::value doc = json::parse(b);
        for (const json::value& s :
             doc.at("resourceSpans").at(0).at("scopeSpans").at(0).at("spans").as_array())
          spans.push_back(s.as_object());
      }
      return pred(spans);
    });
    return spans;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> bodies_;  // guarded by mu_
  net::HttpServer server_;
};

std::string str_attr(const json::object& span, std::string_view key) {
  for (const json::value& a : span.at("attributes").as_array()) {
    if (a.at("key").as_string() == key) {
      const json::object& v = a.at("value").as_object();
      if (auto* s = v.if_contains("stringValue")) return std::string(s->as_string());
      if (auto* i = v.if_contains("intValue")) return std::string(i->as_string());
    }
  }
  return "<absent>";
}

TEST(GatewayOtel, ExportsOneTracePerRequestAndCountsIt) {
  Upstream up;
  ASSERT_GT(up.port(), 0);
  Collector collector;
  TempDir dir;
  const std::string ep = "http://127.0.0.1:" + std::to_string(up.port()) + "/v1";
  write_file(dir.file("triage.yaml"),
             "server: {host: 127.0.0.1, port: 0, threads: 1}\n"
             "store: {type: none}\n"
             "otel: {endpoint: \"http://127.0.0.1:" +
                 std::to_string(collector.port()) +
                 "/v1/traces\", batch_size: 1, service_name: triage-it}\n"
                 "models:\n"
                 "  - {name: up-small, provider: openai, endpoint: \"" +
                 ep +
                 "\", api_key_env: TEST_UPSTREAM_KEY, upstream_model: gpt-test, tier: small, "
                 "prices: {input: 1, output: 2}}\n"
                 "  - {name: up-large, provider: openai, endpoint: \"" +
                 ep +
                 "\", api_key_env: TEST_UPSTREAM_KEY, upstream_model: gpt-test, tier: large, "
                 "prices: {input: 10, output: 20}}\n");
  Gateway gw(dir.file("triage.yaml"), {{"TEST_UPSTREAM_KEY", kKey}});
  ASSERT_GT(gw.port(), 0) << gw.process().stderr_text();

  const std::string body =
      R"({"model":"up-small","messages":[{"role":"user","content":"hello there"}]})";
  auto r = http_request(gw.port(), "POST", "/v1/chat/completions", body,
                        {{"content-type", "application/json"}, {"x-triage-category", "greeting"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string request_id = r.header("x-request-id");
  ASSERT_FALSE(request_id.empty());
  const json::value usage = r.json().at("usage");

  auto spans =
      collector.wait_spans([](const std::vector<json::object>& s) { return s.size() >= 2; });
  ASSERT_GE(spans.size(), 2u);
  const json::object& root = spans[0];
  EXPECT_EQ(root.at("name").as_string(), "chat up-small");
  EXPECT_EQ(root.at("kind").as_int64(), 2);
  EXPECT_EQ(str_attr(root, "triage.request_id"), request_id);
  EXPECT_EQ(str_attr(root, "gen_ai.response.model"), "up-small");
  EXPECT_EQ(str_attr(root, "gen_ai.usage.input_tokens"),
            std::to_string(usage.at("prompt_tokens").to_number<int64_t>()));
  EXPECT_EQ(str_attr(root, "http.response.status_code"), "200");
  EXPECT_EQ(str_attr(root, "triage.category"), "greeting");
  const json::object* call = nullptr;
  for (const auto& s : spans) {
    if (s.at("kind").as_int64() == 3) call = &s;
  }
  ASSERT_NE(call, nullptr);
  EXPECT_EQ(call->at("traceId"), root.at("traceId"));
  EXPECT_EQ(call->at("parentSpanId"), root.at("spanId"));
  EXPECT_EQ(str_attr(*call, "gen_ai.system"), "openai");
  EXPECT_EQ(str_attr(*call, "gen_ai.request.model"), "up-small");
  EXPECT_EQ(str_attr(*call, "triage.tier"), "small");

  // The collector saw the body before the exporter got its answer and counted the export:
  // poll the scrape (bounded) until the count is there.
  HttpResponse m;
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  do {
    m = http_request(gw.port(), "GET", "/metrics");
    ASSERT_EQ(m.status, 200);
    if (m.body.find("triage_otlp_exported_total 1") != std::string::npos) break;
    std::this_thread::sleep_for(5ms);
  } while (std::chrono::steady_clock::now() < give_up);
  EXPECT_NE(m.body.find("triage_otlp_exported_total 1"), std::string::npos) << m.body;
  EXPECT_NE(
      m.body.find(R"(triage_model_calls_total{model="up-small",outcome="ok",tier="small"} 1)"),
      std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find(R"(category="greeting")"), std::string::npos);
  EXPECT_NE(m.body.find(R"(triage_window_requests{window="5m"} 1)"), std::string::npos);
  EXPECT_NE(m.body.find(R"(triage_cpi_usd{window="5m"})"), std::string::npos);
}

}  // namespace
}  // namespace triage::testing
