// The resilience facts of model-call spans in metrics and in the stored span JSON
// (docs/resilience.md, docs/metrics.md).
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <sstream>
#include <string>

#include "telemetry/metrics.h"
#include "telemetry/trace_json.h"

namespace triage::telemetry {
namespace {

// The value of the exposition line that starts with `series` (labels in declaration order);
// -1 when absent.
double line_value(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

core::Span call(const std::string& model) {
  core::Span s;
  s.kind = core::SpanKind::kModelCall;
  s.name = model;
  s.tier = "small";
  return s;
}

TEST(ResilienceMetrics, RetriesAndSheddingComeFromSpans) {
  Metrics m;
  core::Trace t;
  t.request_id = "r1";
  core::Span retried = call("gpt");
  retried.retries = {"http_503", "connect", "http_503"};
  core::Span shed = call("small");
  shed.ok = false;
  shed.error = "unavailable";
  shed.shed = "overflow";
  t.spans = {retried, shed};
  m.record(t);
  m.record(t);
  const std::string text = m.render();
  EXPECT_EQ(line_value(text, R"(triage_upstream_retries_total{model="gpt",reason="http_503"})"), 4)
      << text;
  EXPECT_EQ(line_value(text, R"(triage_upstream_retries_total{model="gpt",reason="connect"})"), 2);
  EXPECT_EQ(line_value(text, R"(triage_load_shed_total{model="small",outcome="overflow"})"), 2);
}

TEST(ResilienceMetrics, BreakerStateAndTransitions) {
  Metrics m;
  m.record_breaker("gpt", "eu", "closed", false);
  std::string text = m.render();
  EXPECT_EQ(line_value(text, R"(triage_circuit_state{deployment="eu",model="gpt"})"), 0) << text;
  EXPECT_EQ(text.find("triage_circuit_transitions_total{"), std::string::npos);
  m.record_breaker("gpt", "eu", "open");
  m.record_breaker("gpt", "eu", "half_open");
  m.record_breaker("gpt", "eu", "open");
  text = m.render();
  EXPECT_EQ(line_value(text, R"(triage_circuit_state{deployment="eu",model="gpt"})"), 1) << text;
  EXPECT_EQ(
      line_value(text, R"(triage_circuit_transitions_total{deployment="eu",model="gpt",to="open"})"),
      2);
  EXPECT_EQ(line_value(
                text,
                R"(triage_circuit_transitions_total{deployment="eu",model="gpt",to="half_open"})"),
            1);
}

TEST(ResilienceSpanJson, FieldsOnlyWhenSet) {
  core::Span plain = call("gpt");
  const std::string without = spans_json({plain});
  for (const char* key : {"retries", "no_retry", "breaker", "deployment", "shed"}) {
    EXPECT_EQ(without.find(std::string("\"") + key + "\""), std::string::npos) << key;
  }
  core::Span s = call("gpt");
  s.retries = {"http_429"};
  s.no_retry = "deadline";
  s.breaker = "half_open";
  s.deployment = "eu";
  s.shed = "rejected";
  const boost::json::object o = boost::json::parse(spans_json({s})).as_array().at(0).as_object();
  EXPECT_EQ(o.at("retries").as_array().at(0).as_string(), "http_429");
  EXPECT_EQ(o.at("no_retry").as_string(), "deadline");
  EXPECT_EQ(o.at("breaker").as_string(), "half_open");
  EXPECT_EQ(o.at("deployment").as_string(), "eu");
  EXPECT_EQ(o.at("shed").as_string(), "rejected");
}

}  // namespace
}  // namespace triage::telemetry
