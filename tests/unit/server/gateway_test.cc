// The gateway in-process, through Gateway::handle() with a fake request and a recording writer,
// over replay models (no network): envelope checks, the trace sinks (each request once, in
// order, derived traces too), the latency split in the answer, the in-flight gauge.
#include "server/gateway.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "core/review_flag.h"
#include "test_http.h"

namespace triage::server {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
namespace fs = std::filesystem;
using testing::FakeRequest;
using testing::RecordingWriter;
using testing::run_to_end;

// Records the order sinks were called in across all recording sinks of a test.
class RecordingSink final : public core::TraceSink {
 public:
  RecordingSink(std::string name, std::vector<std::string>* order) : name_(std::move(name)), order_(order) {}
  void consume(const core::TracePtr& t) override {
    std::lock_guard lk(mu_);
    traces.push_back(t);
    if (order_) order_->push_back(name_ + ":" + t->request_id);
  }
  std::vector<core::TracePtr> traces;

 private:
  std::mutex mu_;
  std::string name_;
  std::vector<std::string>* order_;
};

std::string body(const std::string& model, bool stream = false) {
  return R"({"model":")" + model + R"(","stream":)" + (stream ? "true" : "false") +
         R"(,"messages":[{"role":"user","content":"where is my parcel"}]})";
}

class GatewayUnit : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("triage_gateway_unit_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    std::ofstream(dir_ / "d.csv") << "prompt,small,large\n"
                                     "where is my parcel,It is on its way.,Your parcel ships today.\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Two replay models and a shadow route mirroring every request of `small` to `large`.
  std::unique_ptr<Gateway> gateway(int ttft_ms = 0) {
    const std::string replay = "{dataset: " + (dir_ / "d.csv").string() +
                               ", response_column: COLUMN, ttft_ms: " + std::to_string(ttft_ms) +
                               "}";
    auto block = [&](const std::string& column) {
      std::string b = replay;
      b.replace(b.find("COLUMN"), 6, column);
      return b;
    };
    const std::string yaml =
        "server: {max_body_bytes: 4096}\n"
        "store: {type: none}\n"
        "models:\n"
        "  - {name: small, provider: replay, tier: small, prices: {input: 1, output: 2}, replay: " +
        block("small") + "}\n" +
        "  - {name: large, provider: replay, tier: large, prices: {input: 5, output: 15}, replay: " +
        block("large") + "}\n" +
        "routes:\n"
        "  - {name: mirrored, type: shadow, primary: small, candidates: [large], sample: 1}\n";
    cfg_ = config::parse_config(yaml, (dir_ / "triage.yaml").string());
    return std::make_unique<Gateway>(cfg_, [](const char*) -> const char* { return nullptr; });
  }

  // Sends one request through handle() and runs until it (and what it spawned) is done.
  RecordingWriter send(Gateway& gw, FakeRequest& in) {
    RecordingWriter out;
    run_to_end([&]() -> asio::awaitable<void> { co_await gw.handle(in, out); });
    return out;
  }

  static std::string error_message(const RecordingWriter& out) {
    return std::string(json::parse(out.body).at("error").at("message").as_string());
  }

  fs::path dir_;
  config::Config cfg_;
};

TEST_F(GatewayUnit, EnvelopeChecksAnswerBeforeTheBodyIsParsed) {
  auto gw = gateway();
  RecordingSink sink("s", nullptr);
  gw->add_sink(sink);

  FakeRequest big("POST", "/v1/chat/completions", "{");
  big.too_large = true;
  RecordingWriter r = send(*gw, big);
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(error_message(r).find("larger than the limit of 4096 bytes"), std::string::npos);

  FakeRequest no_type("POST", "/v1/chat/completions", body("small"), {});
  r = send(*gw, no_type);
  EXPECT_EQ(r.status, 415);
  EXPECT_NE(error_message(r).find("missing Content-Type"), std::string::npos);

  FakeRequest text("POST", "/v1/chat/completions", body("small"), {{"content-type", "text/plain"}});
  r = send(*gw, text);
  EXPECT_EQ(r.status, 415);
  EXPECT_NE(error_message(r).find("unsupported Content-Type 'text/plain'"), std::string::npos);

  // Media type matching ignores case and parameters.
  FakeRequest ok("POST", "/v1/chat/completions", body("small"),
                 {{"content-type", "Application/JSON ; charset=utf-8"}});
  r = send(*gw, ok);
  EXPECT_EQ(r.status, 200) << r.body;

  // Every chat request, refused or not, is one trace with its status.
  ASSERT_EQ(sink.traces.size(), 4u);
  EXPECT_EQ(sink.traces[0]->http_status, 413);
  EXPECT_EQ(sink.traces[1]->http_status, 415);
  EXPECT_EQ(sink.traces[2]->http_status, 415);
  EXPECT_EQ(sink.traces[3]->http_status, 200);
  EXPECT_EQ(sink.traces[0]->error_code, "payload_too_large");
}

TEST_F(GatewayUnit, NonChatEndpointsAndProtocolErrors) {
  auto gw = gateway();
  FakeRequest health("GET", "/healthz");
  EXPECT_EQ(send(*gw, health).body, R"({"status":"ok"})");
  FakeRequest ready("GET", "/readyz");
  EXPECT_EQ(send(*gw, ready).status, 200);
  gw->set_draining();
  EXPECT_EQ(send(*gw, ready).status, 503);
  FakeRequest wrong_method("GET", "/v1/chat/completions");
  EXPECT_EQ(send(*gw, wrong_method).status, 405);
  FakeRequest bad("POST", "/v1/chat/completions", body("small"));
  bad.malformed_why = "bad chunk size";
  RecordingWriter r = send(*gw, bad);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(error_message(r).find("malformed HTTP request: bad chunk size"), std::string::npos);
  FakeRequest nowhere("GET", "/v2/nothing");
  EXPECT_EQ(send(*gw, nowhere).status, 404);
}

TEST_F(GatewayUnit, SinksSeeEveryRequestOnceInTheOrderAdded) {
  auto gw = gateway();
  std::vector<std::string> order;
  RecordingSink first("first", &order), second("second", &order);
  gw->add_sink(first);
  gw->add_sink(second);
  FakeRequest ok("POST", "/v1/chat/completions", body("small"));
  FakeRequest unknown("POST", "/v1/chat/completions", body("nope"));
  FakeRequest broken("POST", "/v1/chat/completions", "{\"model\":");
  const RecordingWriter a = send(*gw, ok);
  const RecordingWriter b = send(*gw, unknown);
  const RecordingWriter c = send(*gw, broken);
  EXPECT_EQ(b.status, 404);
  EXPECT_EQ(c.status, 400);
  const std::string ida = a.header("x-request-id"), idb = b.header("x-request-id"),
                    idc = c.header("x-request-id");
  EXPECT_EQ(order, (std::vector<std::string>{"first:" + ida, "second:" + ida, "first:" + idb,
                                             "second:" + idb, "first:" + idc, "second:" + idc}));
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(first.traces[i].get(), second.traces[i].get());
}

TEST_F(GatewayUnit, AnswerAndStoreCarryTheSameCompletedLatencySplit) {
  auto gw = gateway(/*ttft_ms=*/5);
  RecordingSink sink("s", nullptr);
  gw->add_sink(sink);
  FakeRequest req("POST", "/v1/chat/completions", body("small"));
  const RecordingWriter out = send(*gw, req);
  ASSERT_EQ(out.status, 200) << out.body;
  const json::value v = json::parse(out.body);
  EXPECT_EQ(v.at("choices").at(0).at("message").at("content"), "It is on its way.");
  const json::object& lat = v.at("triage").at("latency_ms").as_object();
  const double total = lat.at("total").to_number<double>();
  EXPECT_GE(lat.at("upstream").to_number<double>(), 5.0);
  EXPECT_NEAR(lat.at("routing").to_number<double>() + lat.at("queue").to_number<double>() +
                  lat.at("upstream").to_number<double>() + lat.at("overhead").to_number<double>(),
              total, 0.0015);

  ASSERT_EQ(sink.traces.size(), 1u);
  const core::Trace& t = *sink.traces[0];
  EXPECT_EQ(t.routing_us + t.queue_us + t.upstream_us + t.overhead_us, t.total_us);
  EXPECT_GE(t.total_us, static_cast<int64_t>(total * 1000 + 0.5));  // measured after the write
  EXPECT_EQ(t.model, "small");
}

TEST_F(GatewayUnit, StreamedAnswerReportsTheCompletedSplit) {
  auto gw = gateway(/*ttft_ms=*/5);
  RecordingSink sink("s", nullptr);
  gw->add_sink(sink);
  FakeRequest req("POST", "/v1/chat/completions", body("small", /*stream=*/true));
  const RecordingWriter out = send(*gw, req);
  ASSERT_EQ(out.stream_starts, 1);
  ASSERT_EQ(out.stream_ends, 1);
  const auto events = testing::sse_data(out.streamed());
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  const json::value& last = events[events.size() - 2];
  const json::object& lat = last.at("triage").at("latency_ms").as_object();
  const double total = lat.at("total").to_number<double>();
  EXPECT_GE(total, lat.at("upstream").to_number<double>());
  EXPECT_GE(lat.at("upstream").to_number<double>(), 5.0);
  EXPECT_GT(lat.at("overhead").to_number<double>(), 0.0);
  ASSERT_EQ(sink.traces.size(), 1u);
  EXPECT_TRUE(sink.traces[0]->stream);
  EXPECT_GE(sink.traces[0]->total_us, static_cast<int64_t>(total * 1000 + 0.5));
}

TEST_F(GatewayUnit, DerivedTracesGoThroughTheSameListWithTheirSplitCompleted) {
  auto gw = gateway();
  RecordingSink sink("s", nullptr);
  gw->add_sink(sink);
  FakeRequest req("POST", "/v1/chat/completions", body("mirrored"));
  const RecordingWriter out = send(*gw, req);  // runs until the shadow run is done too
  ASSERT_EQ(out.status, 200) << out.body;
  ASSERT_EQ(sink.traces.size(), 2u);
  const core::Trace& served = *sink.traces[0];
  const core::Trace& mirrored = *sink.traces[1];
  EXPECT_EQ(served.request_id, out.header("x-request-id"));
  EXPECT_EQ(mirrored.request_id, served.request_id + "-s0");
  EXPECT_EQ(mirrored.flags, std::vector<core::ReviewFlag>{core::ReviewFlag::kShadow});
  EXPECT_EQ(mirrored.model, "large");
  EXPECT_GT(mirrored.total_us, 0);
  EXPECT_EQ(mirrored.overhead_us,
            std::max<int64_t>(0, mirrored.total_us - mirrored.routing_us - mirrored.queue_us -
                                     mirrored.upstream_us));
}

int64_t inflight(Gateway& gw) {
  const std::string text = gw.metrics().render();
  const std::string key = "\ntriage_inflight_requests ";
  const size_t at = text.find(key);
  return at == std::string::npos ? -1 : std::stoll(text.substr(at + key.size()));
}

TEST_F(GatewayUnit, InflightGaugeIsHeldForTheRequestsScope) {
  auto gw = gateway(/*ttft_ms=*/200);
  FakeRequest req("POST", "/v1/chat/completions", body("small"));
  RecordingWriter out;
  {
    asio::io_context io;
    asio::co_spawn(io, gw->handle(req, out), asio::detached);
    io.poll();  // runs until the replay model's timer: the request is in flight
    EXPECT_EQ(inflight(*gw), 1);
    io.run();
    EXPECT_EQ(out.status, 200);
    EXPECT_EQ(inflight(*gw), 0);
  }
  {
    // A request whose coroutine is destroyed mid-flight (its io_context goes away) leaves the
    // gauge as it found it.
    asio::io_context io;
    asio::co_spawn(io, gw->handle(req, out), asio::detached);
    io.poll();
    EXPECT_EQ(inflight(*gw), 1);
  }
  EXPECT_EQ(inflight(*gw), 0);
}

}  // namespace
}  // namespace triage::server
