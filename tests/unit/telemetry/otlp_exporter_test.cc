// OtlpExporter against a real local OTLP receiver: the project's HttpServer on 127.0.0.1:0.
#include "telemetry/otlp_exporter.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <boost/asio/awaitable.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "net/http_server.h"
#include "test_traces.h"

namespace triage::telemetry {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

core::TracePtr ptr(core::Trace t) { return std::make_shared<const core::Trace>(std::move(t)); }

// Records every request; answers with the status `script(n)` for the n-th request (0-based).
class Receiver {
 public:
  struct Got {
    std::string method, target, content_type, auth, body;
  };

  explicit Receiver(std::function<int(int)> script = [](int) { return 200; })
      : script_(std::move(script)),
        server_(net::ServerOptions{"127.0.0.1", 0, 1, 64 << 20, 60000, 30000},
                [this](net::IncomingRequest& in,
                       net::ResponseWriter& out) -> boost::asio::awaitable<void> {
                  int status = 200;
                  {
                    std::lock_guard lk(mu_);
                    status = script_(static_cast<int>(got_.size()));
                    got_.push_back({std::string(in.method()), std::string(in.target()),
                                    std::string(in.header("content-type")),
                                    std::string(in.header("authorization")), in.body()});
                  }
                  cv_.notify_all();
                  co_await out.send(status, "application/json", {}, "{}");
                }) {
    server_.start();
  }
  ~Receiver() { server_.stop(); }

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(server_.port()) + "/v1/traces";
  }
  // Waits (bounded) until at least n requests arrived; returns a copy of all of them.
  std::vector<Got> wait_for(size_t n) {
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, 20s, [&] { return got_.size() >= n; });
    return got_;
  }
  std::vector<Got> got() {
    std::lock_guard lk(mu_);
    return got_;
  }

 private:
  std::function<int(int)> script_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Got> got_;  // guarded by mu_
  net::HttpServer server_;
};

OtlpOptions options_for(const std::string& url) {
  OtlpOptions o;
  o.endpoint = url;
  o.service_name = "triage-test";
  o.batch_size = 100;
  o.flush_interval_ms = 600000;  // batches leave on size, flush() or close() only
  o.timeout_ms = 5000;
  return o;
}

// The attribute `key` of a span or resource as a JSON value ({"stringValue": ...} etc.).
const json::object* attribute(const json::object& holder, std::string_view key) {
  for (const json::value& a : holder.at("attributes").as_array()) {
    if (a.at("key").as_string() == key) return &a.at("value").as_object();
  }
  return nullptr;
}
std::string str_attr(const json::object& o, std::string_view key) {
  const json::object* v = attribute(o, key);
  return v ? std::string(v->at("stringValue").as_string()) : std::string("<absent>");
}
std::string int_attr(const json::object& o, std::string_view key) {
  const json::object* v = attribute(o, key);
  return v ? std::string(v->at("intValue").as_string()) : std::string("<absent>");
}
double double_attr(const json::object& o, std::string_view key) {
  const json::object* v = attribute(o, key);
  return v ? v->at("doubleValue").to_number<double>() : -1;
}

std::vector<json::object> spans_of(const std::string& body) {
  json::value doc = json::parse(body);
  const json::array& rs = doc.at("resourceSpans").as_array();
  EXPECT_EQ(rs.size(), 1u);
  const json::array& ss = rs[0].at("scopeSpans").as_array();
  EXPECT_EQ(ss.size(), 1u);
  std::vector<json::object> out;
  for (const json::value& s : ss[0].at("spans").as_array()) out.push_back(s.as_object());
  return out;
}

bool is_hex(const std::string& s, size_t len) {
  return s.size() == len && s.find_first_not_of("0123456789abcdef") == std::string::npos &&
         s.find_first_not_of('0') != std::string::npos;
}

// full_trace(i) plus a check span after the model call, and a known stream/status.
core::Trace traced(int i) {
  core::Trace t = testing::full_trace(i);
  t.http_status = 200;
  t.error_code.clear();
  t.error_message.clear();
  t.spans[1].ok = true;
  t.spans[1].error.clear();
  core::Span c;
  c.kind = core::SpanKind::kCheck;
  c.name = "len";
  c.detail = "too short (3 < 10)";
  c.ok = false;
  c.error = "check_failed";
  c.start_us = t.spans[1].start_us + t.spans[1].duration_us;
  c.duration_us = 7;
  t.spans.push_back(c);
  return t;
}

TEST(OtlpExporter, SpanTreeIdsAttributesAndTimestamps) {
  Receiver rx;
  OtlpOptions o = options_for(rx.url());
  o.batch_size = 2;  // the second trace completes a batch: it leaves at once
  o.headers = {{"Authorization", "Bearer collector-token"}};
  OtlpExporter exporter(o);
  core::Trace failed = traced(2);  // served by "small"; make it a 502 from upstream
  failed.http_status = 502;
  failed.error_code = "upstream_error";
  failed.error_message = "upstream said no";
  failed.spans[1].ok = false;
  failed.spans[1].error = "upstream_error";
  failed.spans[0].shadow_decision = "small";  // as a decide-only shadow candidate's span
  failed.spans[0].router_version = "r-0f228df4";  // the router version that decided
  exporter.consume(ptr(traced(1)));
  exporter.consume(ptr(failed));

  const auto got = rx.wait_for(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].method, "POST");
  EXPECT_EQ(got[0].target, "/v1/traces");
  EXPECT_EQ(got[0].content_type, "application/json");
  EXPECT_EQ(got[0].auth, "Bearer collector-token");

  json::value doc = json::parse(got[0].body);
  const json::object& resource = doc.at("resourceSpans").at(0).at("resource").as_object();
  EXPECT_EQ(str_attr(resource, "service.name"), "triage-test");

  const std::vector<json::object> spans = spans_of(got[0].body);
  ASSERT_EQ(spans.size(), 8u);  // two traces of root + route + model call + check

  const core::Trace t = traced(1);
  const json::object& root = spans[0];
  const std::string trace_id(root.at("traceId").as_string());
  const std::string root_id(root.at("spanId").as_string());
  EXPECT_TRUE(is_hex(trace_id, 32)) << trace_id;
  EXPECT_TRUE(is_hex(root_id, 16)) << root_id;
  EXPECT_EQ(trace_id, otlp_trace_id("req-1"));
  EXPECT_EQ(root_id, otlp_span_id("req-1", -1));
  EXPECT_NE(trace_id, std::string(spans[4].at("traceId").as_string()));  // req-2's trace
  EXPECT_EQ(root.if_contains("parentSpanId"), nullptr);
  EXPECT_EQ(root.at("name").as_string(), "chat auto");
  EXPECT_EQ(root.at("kind").as_int64(), 2);  // SERVER
  const int64_t base_ns = t.time_ms * 1000000;
  EXPECT_EQ(root.at("startTimeUnixNano").as_string(), std::to_string(base_ns));
  EXPECT_EQ(root.at("endTimeUnixNano").as_string(), std::to_string(base_ns + t.total_us * 1000));
  EXPECT_EQ(str_attr(root, "gen_ai.operation.name"), "chat");
  EXPECT_EQ(str_attr(root, "gen_ai.request.model"), "auto");
  EXPECT_EQ(str_attr(root, "gen_ai.response.model"), "large");
  EXPECT_EQ(int_attr(root, "gen_ai.usage.input_tokens"), std::to_string(t.tokens_in));
  EXPECT_EQ(int_attr(root, "gen_ai.usage.output_tokens"), std::to_string(t.tokens_out));
  EXPECT_EQ(double_attr(root, "triage.cost_usd"), t.cost_usd);
  EXPECT_EQ(str_attr(root, "triage.route"), "auto");
  EXPECT_EQ(str_attr(root, "triage.request_id"), "req-1");
  EXPECT_EQ(int_attr(root, "http.response.status_code"), "200");
  EXPECT_EQ(attribute(root, "error.type"), nullptr);
  EXPECT_EQ(root.at("status").at("code").as_int64(), 0);

  // Children: in trace order, parented to the root, distinct ids, times from the offsets.
  std::set<std::string> ids{root_id};
  for (size_t i = 1; i <= 3; ++i) {
    const json::object& c = spans[i];
    EXPECT_EQ(c.at("traceId").as_string(), trace_id);
    EXPECT_EQ(c.at("parentSpanId").as_string(), root_id);
    const std::string id(c.at("spanId").as_string());
    EXPECT_TRUE(is_hex(id, 16)) << id;
    EXPECT_EQ(id, otlp_span_id("req-1", static_cast<int>(i - 1)));
    ids.insert(id);
    const core::Span& s = t.spans[i - 1];
    const int64_t start = base_ns + s.start_us * 1000;
    EXPECT_EQ(c.at("startTimeUnixNano").as_string(), std::to_string(start));
    EXPECT_EQ(c.at("endTimeUnixNano").as_string(), std::to_string(start + s.duration_us * 1000));
  }
  EXPECT_EQ(ids.size(), 4u);

  const json::object& route = spans[1];
  EXPECT_EQ(route.at("name").as_string(), "route auto");
  EXPECT_EQ(route.at("kind").as_int64(), 1);  // INTERNAL
  EXPECT_EQ(str_attr(route, "triage.decision"), "classify/1");
  EXPECT_EQ(attribute(route, "triage.shadow_decision"), nullptr);
  EXPECT_EQ(str_attr(spans[5], "triage.shadow_decision"), "small");
  EXPECT_EQ(attribute(route, "triage.router_version"), nullptr);
  EXPECT_EQ(str_attr(spans[5], "triage.router_version"), "r-0f228df4");

  const json::object& call = spans[2];
  EXPECT_EQ(call.at("name").as_string(), "chat large");
  EXPECT_EQ(call.at("kind").as_int64(), 3);  // CLIENT
  EXPECT_EQ(str_attr(call, "gen_ai.system"), "replay");
  EXPECT_EQ(str_attr(call, "gen_ai.request.model"), "large");
  EXPECT_EQ(int_attr(call, "gen_ai.usage.input_tokens"), std::to_string(t.tokens_in));
  EXPECT_EQ(int_attr(call, "gen_ai.usage.output_tokens"), std::to_string(t.tokens_out));
  EXPECT_EQ(double_attr(call, "triage.cost_usd"), t.cost_usd);
  EXPECT_EQ(str_attr(call, "triage.tier"), "large");
  EXPECT_EQ(call.at("status").at("code").as_int64(), 0);

  const json::object& chk = spans[3];
  EXPECT_EQ(chk.at("name").as_string(), "check len");
  EXPECT_EQ(str_attr(chk, "triage.check.verdict"), "fail");
  EXPECT_EQ(str_attr(chk, "triage.check.reason"), "too short (3 < 10)");

  // The failed request: error on the root (5xx) and on the model call.
  const json::object& root2 = spans[4];
  EXPECT_EQ(int_attr(root2, "http.response.status_code"), "502");
  EXPECT_EQ(str_attr(root2, "error.type"), "upstream_error");
  EXPECT_EQ(root2.at("status").at("code").as_int64(), 2);
  EXPECT_EQ(root2.at("status").at("message").as_string(), "upstream said no");
  EXPECT_EQ(str_attr(spans[6], "error.type"), "upstream_error");
  EXPECT_EQ(spans[6].at("status").at("code").as_int64(), 2);

  EXPECT_TRUE(exporter.flush(20000));
  EXPECT_EQ(exporter.exported(), 2);
  EXPECT_EQ(exporter.dropped(), 0);
}

std::string render(prometheus::Registry& r) {
  return prometheus::TextSerializer().Serialize(r.Collect());
}

TEST(OtlpExporter, OverflowIsCountedAndShutdownFlushes) {
  Receiver rx;
  prometheus::Registry registry;
  OtlpOptions o = options_for(rx.url());
  o.queue_capacity = 3;
  OtlpExporter exporter(o, &registry);
  for (int i = 0; i < 5; ++i) exporter.consume(ptr(traced(i)));
  EXPECT_EQ(exporter.dropped(), 2);
  EXPECT_TRUE(rx.got().empty());  // below batch size, long interval: nothing sent yet

  exporter.close();
  const auto got = rx.got();  // close() returned: the POST has been answered
  ASSERT_EQ(got.size(), 1u);
  const auto spans = spans_of(got[0].body);
  std::vector<std::string> request_ids;
  for (const auto& s : spans) {
    if (s.if_contains("parentSpanId") == nullptr)
      request_ids.push_back(str_attr(s, "triage.request_id"));
  }
  EXPECT_EQ(request_ids, (std::vector<std::string>{"req-0", "req-1", "req-2"}));
  EXPECT_EQ(exporter.exported(), 3);

  exporter.consume(ptr(traced(9)));  // after close: dropped, counted
  EXPECT_EQ(exporter.dropped(), 3);
  const std::string text = render(registry);
  EXPECT_NE(text.find(R"(triage_otlp_dropped_total{reason="queue_full"} 2)"), std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(triage_otlp_dropped_total{reason="closed"} 1)"), std::string::npos);
  EXPECT_NE(text.find(R"(triage_otlp_exported_total 3)"), std::string::npos);
}

TEST(OtlpExporter, RetriesOnceOnServerError) {
  Receiver rx([](int n) { return n == 0 ? 503 : 200; });
  OtlpExporter exporter(options_for(rx.url()));
  exporter.consume(ptr(traced(1)));
  ASSERT_TRUE(exporter.flush(20000));
  const auto got = rx.got();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].body, got[1].body);
  EXPECT_EQ(exporter.posts(), 2);
  EXPECT_EQ(exporter.exported(), 1);
  EXPECT_EQ(exporter.dropped(), 0);
}

TEST(OtlpExporter, GivesUpAfterOneRetryAndDoesNotRetryARefusal) {
  Receiver down([](int) { return 500; });
  prometheus::Registry registry;
  OtlpExporter a(options_for(down.url()), &registry);
  a.consume(ptr(traced(1)));
  a.consume(ptr(traced(2)));
  ASSERT_TRUE(a.flush(20000));
  EXPECT_EQ(down.got().size(), 2u);  // one batch, two attempts
  EXPECT_EQ(a.dropped(), 2);
  EXPECT_EQ(a.exported(), 0);
  EXPECT_NE(render(registry).find(R"(triage_otlp_dropped_total{reason="export_failed"} 2)"),
            std::string::npos);

  Receiver refusing([](int) { return 400; });
  OtlpExporter b(options_for(refusing.url()));
  b.consume(ptr(traced(1)));
  ASSERT_TRUE(b.flush(20000));
  EXPECT_EQ(refusing.got().size(), 1u);
  EXPECT_EQ(b.posts(), 1);
  EXPECT_EQ(b.dropped(), 1);
}

TEST(OtlpExporter, PartialBatchLeavesAfterTheFlushInterval) {
  Receiver rx;
  OtlpOptions o = options_for(rx.url());
  o.flush_interval_ms = 20;
  OtlpExporter exporter(o);
  exporter.consume(ptr(traced(1)));
  // No flush() or close(): only the interval timer can send it.
  EXPECT_EQ(rx.wait_for(1).size(), 1u);
}

TEST(OtlpExporter, TheClientApiVersionAndCacheAreAttributesAndEmbeddingsTheirOwnOperation) {
  Receiver rx;
  OtlpOptions o = options_for(rx.url());
  o.flush_interval_ms = 20;
  OtlpExporter exporter(o);
  core::Trace embedded = traced(1);
  embedded.api = core::ClientApi::kEmbeddings;
  embedded.config_version = 3;
  core::Trace messages = traced(2);
  messages.api = core::ClientApi::kMessages;
  messages.cache = core::CacheOutcome::kHit;
  exporter.consume(ptr(std::move(embedded)));
  exporter.consume(ptr(std::move(messages)));
  const auto got = rx.wait_for(1);
  ASSERT_EQ(got.size(), 1u);
  const std::vector<json::object> spans = spans_of(got[0].body);
  ASSERT_EQ(spans.size(), 8u);
  EXPECT_EQ(spans[0].at("name").as_string(), "embeddings auto");
  EXPECT_EQ(str_attr(spans[0], "gen_ai.operation.name"), "embeddings");
  EXPECT_EQ(str_attr(spans[0], "triage.api"), "embeddings");
  EXPECT_EQ(int_attr(spans[0], "triage.config_version"), "3");
  EXPECT_EQ(str_attr(spans[0], "triage.cache"), "<absent>");  // the name has no cache
  EXPECT_EQ(spans[4].at("name").as_string(), "chat auto");
  EXPECT_EQ(str_attr(spans[4], "gen_ai.operation.name"), "chat");
  EXPECT_EQ(str_attr(spans[4], "triage.api"), "messages");
  EXPECT_EQ(str_attr(spans[4], "triage.cache"), "hit");
}

TEST(OtlpExporter, CollectorDownNeverBlocksAndCloseReturns) {
  std::string url;
  {
    Receiver gone;
    url = gone.url();
  }  // stopped: connections to its port are refused
  OtlpOptions o = options_for(url);
  o.timeout_ms = 2000;
  OtlpExporter exporter(o);
  for (int i = 0; i < 3; ++i) exporter.consume(ptr(traced(i)));
  exporter.close();
  EXPECT_EQ(exporter.dropped(), 3);
  EXPECT_EQ(exporter.exported(), 0);
}

TEST(OtlpExporter, IdsAreDeterministicPerRequest) {
  EXPECT_EQ(otlp_trace_id("req_abc"), otlp_trace_id("req_abc"));
  EXPECT_NE(otlp_trace_id("req_abc"), otlp_trace_id("req_abd"));
  EXPECT_TRUE(is_hex(otlp_trace_id("req_abc"), 32));
  std::set<std::string> ids;
  for (int i = -1; i < 50; ++i) ids.insert(otlp_span_id("req_abc", i));
  EXPECT_EQ(ids.size(), 51u);
}

TEST(OtlpExporter, OptionsFromConfigExpandEnvironmentHeaders) {
  config::OtelConfig cfg;
  cfg.endpoint = "http://collector:4318/v1/traces";
  cfg.batch_size = 7;
  cfg.headers = {{"Authorization", "${OTLP_TOKEN}"}, {"X-Team", "search"}};
  auto env = [](const char* name) -> const char* {
    return std::string_view(name) == "OTLP_TOKEN" ? "Bearer t0k" : nullptr;
  };
  const OtlpOptions o = OtlpOptions::from_config(cfg, env);
  EXPECT_EQ(o.batch_size, 7);
  EXPECT_EQ(o.headers.at("Authorization"), "Bearer t0k");
  EXPECT_EQ(o.headers.at("X-Team"), "search");
  cfg.headers = {{"Authorization", "${MISSING}"}};
  EXPECT_THROW(OtlpOptions::from_config(cfg, env), std::runtime_error);
}

TEST(OtlpExporter, BadEndpointThrows) {
  OtlpOptions o;
  o.endpoint = "ftp://x/v1/traces";
  EXPECT_THROW(OtlpExporter e(o), std::runtime_error);
}

}  // namespace
}  // namespace triage::telemetry
