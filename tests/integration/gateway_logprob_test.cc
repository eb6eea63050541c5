// A cascade whose first step is judged by the model's own token logprobs, against the real
// gateway and the real test upstream: the gateway asks the cheap step's upstream for logprobs
// (the client did not), accepts a confident answer, escalates an unsure one, and leaves the
// client's response as the client asked for it.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "harness.h"

namespace triage::testing {
namespace {

namespace json = boost::json;

const std::map<std::string, std::string> kJson = {{"content-type", "application/json"}};

std::string config_yaml(int upstream_port) {
  const std::string ep = "http://127.0.0.1:" + std::to_string(upstream_port) + "/v1";
  // The upstream's logprob-<permille> mode sets every token's probability.
  auto model = [&](const std::string& name, const std::string& upstream, const std::string& tier) {
    return "  - {name: " + name + ", provider: openai, endpoint: \"" + ep +
           "\", api_key_env: TEST_UPSTREAM_KEY, upstream_model: \"" + upstream +
           "\", tier: " + tier + ", prices: {input: 1, output: 1}}\n";
  };
  auto cascade = [](const std::string& name, const std::string& first) {
    return "  - name: " + name +
           "\n    type: cascade\n    steps:\n"
           "      - {route: " + first + ", checks: [{type: logprob, threshold: 0.7, missing: fail}]}\n"
           "      - {route: large}\n";
  };
  return "server: {host: 127.0.0.1, port: 0, threads: 1}\n"
         "store: {type: none}\n"
         "tiers: [small, large]\n"
         "models:\n" +
         model("small-sure", "mode:logprob-950", "small") +
         model("small-unsure", "mode:logprob-400", "small") + model("large", "gpt-test", "large") +
         "routes:\n" + cascade("sure", "small-sure") + cascade("unsure", "small-unsure");
}

class LogprobCascadeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(up_.port(), 0) << "test upstream did not start";
    write_file(dir_.file("triage.yaml"), config_yaml(up_.port()));
    gw_ = std::make_unique<Gateway>(dir_.file("triage.yaml"),
                                    std::map<std::string, std::string>{{"TEST_UPSTREAM_KEY", "sk-t"}});
    ASSERT_GT(gw_->port(), 0) << gw_->process().stderr_text();
  }
  HttpResponse ask(const std::string& route) {
    const std::string body = R"({"model":")" + route +
                             R"(","messages":[{"role":"user","content":"what is two plus two"}]})";
    return http_request(gw_->port(), "POST", "/v1/chat/completions", body, kJson);
  }

  TempDir dir_;
  Upstream up_;
  std::unique_ptr<Gateway> gw_;
};

TEST_F(LogprobCascadeTest, AConfidentCheapAnswerIsAcceptedAndItsLogprobsWereAskedFor) {
  HttpResponse r = ask("sure");
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  EXPECT_EQ(r.header("x-triage-model"), "small-sure");
  EXPECT_EQ(up_.request_count(), 1);
  // The step's upstream request asked for logprobs although the client did not.
  const json::value last = up_.last_request();
  const json::value sent = json::parse(last.at("body").as_string());
  EXPECT_EQ(sent.at("logprobs"), json::value(true)) << sent;
  // The client's response is shaped as it asked: no logprobs.
  const json::value v = json::parse(r.body);
  EXPECT_TRUE(v.at("choices").at(0).at("logprobs").is_null()) << r.body;
}

TEST_F(LogprobCascadeTest, AnUnsureCheapAnswerEscalates) {
  HttpResponse r = ask("unsure");
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  EXPECT_EQ(r.header("x-triage-model"), "large");
  EXPECT_EQ(up_.request_count(), 2);
  // The escalated step has no logprob check, so its request is the client's.
  const json::value sent = json::parse(up_.last_request().at("body").as_string());
  EXPECT_FALSE(sent.as_object().contains("logprobs")) << sent;
}

}  // namespace
}  // namespace triage::testing
