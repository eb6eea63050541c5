// A client that goes away mid-request cancels the request's upstream call (server
// .cancel_on_disconnect), against the real gateway and the real test upstream: the upstream is
// slow, the client gives up after 300 ms and closes its connection, and the stored request says
// it was cancelled long before the upstream would have answered. With the setting off, the
// call runs to the upstream's answer, which shows the measure can tell the two apart.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <string>
#include <thread>

#include "harness.h"

namespace triage::testing {
namespace {

const std::map<std::string, std::string> kJson = {{"content-type", "application/json"}};
constexpr int64_t kUpstreamMs = 4000;

struct StoredRequest {
  int64_t status = 0;
  std::string error_code;
  int64_t total_ms = -1;
};

class CancelOnDisconnectTest : public ::testing::Test {
 protected:
  void start(bool cancel_on_disconnect) {
    ASSERT_GT(up_.port(), 0) << "test upstream did not start";
    const std::string ep = "http://127.0.0.1:" + std::to_string(up_.port()) + "/v1";
    // idle_timeout_ms 2000 -> connection sweep tick 500 ms.
    write_file(dir_.file("triage.yaml"),
               "server: {host: 127.0.0.1, port: 0, threads: 1, idle_timeout_ms: 2000, "
               "cancel_on_disconnect: " +
                   std::string(cancel_on_disconnect ? "true" : "false") +
                   "}\n"
                   "store: {type: sqlite, path: " +
                   dir_.file("t.db") +
                   ", flush_interval_ms: 20}\n"
                   "models:\n"
                   "  - {name: slow, provider: openai, endpoint: \"" +
                   ep + "\", upstream_model: \"mode:slow-" + std::to_string(kUpstreamMs) +
                   "\", prices: {input: 1, output: 1}}\n");
    gw_ = std::make_unique<Gateway>(dir_.file("triage.yaml"), std::map<std::string, std::string>{});
    ASSERT_GT(gw_->port(), 0) << gw_->process().stderr_text();
  }

  // Sends a request and gives up (closing the connection) after 300 ms.
  void ask_and_leave() {
    const HttpResponse r = http_request(
        gw_->port(), "POST", "/v1/chat/completions",
        R"({"model":"slow","messages":[{"role":"user","content":"take your time"}]})", kJson,
        Millis(300));
    ASSERT_EQ(r.status, 0) << "the upstream answered too early: " << r.body;
  }

  // The one stored request, waiting up to 10 s for it.
  StoredRequest stored() {
    StoredRequest out;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < until) {
      sqlite3* db = nullptr;
      if (sqlite3_open_v2(dir_.file("t.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) ==
          SQLITE_OK) {
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v2(db, "SELECT status, error_code, total_us FROM requests", -1, &s,
                               nullptr) == SQLITE_OK &&
            sqlite3_step(s) == SQLITE_ROW) {
          out.status = sqlite3_column_int64(s, 0);
          const unsigned char* code = sqlite3_column_text(s, 1);
          out.error_code = code ? reinterpret_cast<const char*>(code) : "";
          out.total_ms = sqlite3_column_int64(s, 2) / 1000;
        }
        sqlite3_finalize(s);
      }
      sqlite3_close(db);
      if (out.total_ms >= 0) return out;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return out;
  }

  TempDir dir_;
  Upstream up_;
  std::unique_ptr<Gateway> gw_;
};

TEST_F(CancelOnDisconnectTest, AClientThatLeavesCancelsTheUpstreamCall) {
  start(/*cancel_on_disconnect=*/true);
  ask_and_leave();
  const StoredRequest r = stored();
  ASSERT_GE(r.total_ms, 0) << "no request was stored";
  EXPECT_EQ(r.status, 499);
  EXPECT_EQ(r.error_code, "cancelled");
  // Detected within about two sweep ticks (1 s) of the close, far before the upstream's 4 s.
  EXPECT_LT(r.total_ms, kUpstreamMs / 2) << "the upstream call was not abandoned";
}

TEST_F(CancelOnDisconnectTest, WithTheSettingOffTheCallRunsToTheUpstreamAnswer) {
  start(/*cancel_on_disconnect=*/false);
  ask_and_leave();
  const StoredRequest r = stored();
  ASSERT_GE(r.total_ms, 0) << "no request was stored";
  EXPECT_GE(r.total_ms, kUpstreamMs - 100);
  EXPECT_NE(r.status, 499);
}

}  // namespace
}  // namespace triage::testing
