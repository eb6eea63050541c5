#include "routes/pipeline.h"

#include <gtest/gtest.h>

#include "composite_harness.h"

namespace triage::routes {
namespace {

using composite_testing::composite_build_error;
using composite_testing::CompositeHarness;
using composite_testing::RecordingSink;
using composite_testing::route_spans;
using composite_testing::user_request;

const std::string kModels = R"yaml(
models:
  - {name: cls, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: small}
  - {name: small, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: small}
  - {name: medium, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: medium}
  - {name: large, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: large}
)yaml";

const std::string kPipeline = kModels + R"yaml(
routes:
  - name: p
    type: pipeline
    steps:
      - name: intent
        route: cls
      - name: extract
        route: small
        when: {step: intent, label_in: [transfer, balance]}
        prompt: "Extract from '{input}' (intent {steps.intent.label} @ {steps.intent.confidence})"
      - name: answer
        route: small
        branch: {step: intent, routes: {report_lost_card: medium, oos: large}}
        prompt: "Intent={steps.intent.label}; entities={steps.extract.output}; q={input}; {\"json\": true}"
)yaml";

class PipelineTest : public ::testing::Test {
 protected:
  PipelineTest() : h_(kPipeline) {
    h_.fake("cls").confidence = 0.875;
    h_.fake("small").respond = [](const std::string& p) { return "small saw [" + p + "]"; };
    h_.fake("medium").respond = [](const std::string& p) { return "medium saw [" + p + "]"; };
  }
  CompositeHarness h_;
};

TEST_F(PipelineTest, TemplatesFeedEarlierOutputsIntoLaterPrompts) {
  h_.fake("cls").label = "transfer";
  core::Trace trace;
  auto r = h_.run("p", user_request("send 20 EUR to Bob"), trace);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(h_.log().models(), (std::vector<std::string>{"cls", "small", "small"}));
  EXPECT_EQ(h_.log().calls[0].prompt, "send 20 EUR to Bob");  // no prompt: the request as sent
  EXPECT_EQ(h_.log().calls[1].prompt, "Extract from 'send 20 EUR to Bob' (intent transfer @ 0.88)");
  const std::string extract_out =
      "small saw [Extract from 'send 20 EUR to Bob' (intent transfer @ 0.88)]";
  EXPECT_EQ(h_.log().calls[2].prompt, "Intent=transfer; entities=" + extract_out +
                                          "; q=send 20 EUR to Bob; {\"json\": true}");
  EXPECT_EQ(r->content, "small saw [" + h_.log().calls[2].prompt + "]");
  EXPECT_EQ(trace.label, "transfer");
  EXPECT_DOUBLE_EQ(trace.confidence, 0.875);

  auto spans = route_spans(trace);
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(spans[0]->name, "p.intent");
  EXPECT_EQ(spans[0]->detail, "pipeline/1: step 'intent' -> 'cls'");
  EXPECT_EQ(spans[1]->detail, "pipeline/1: step 'extract' -> 'small'");
  EXPECT_EQ(spans[2]->detail,
            "pipeline/1: step 'answer' -> 'small' (branch on intent: no route for label "
            "'transfer')");
  EXPECT_EQ(trace.spans.size(), 6u);  // three model calls, three step spans
}

TEST_F(PipelineTest, WhenSkipsAndBranchPicksTheRoute) {
  h_.fake("cls").label = "report_lost_card";
  core::Trace trace;
  auto r = h_.run("p", user_request("I lost my card"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(h_.log().models(), (std::vector<std::string>{"cls", "medium"}));
  // The skipped step's output is empty.
  EXPECT_EQ(h_.log().calls[1].prompt,
            "Intent=report_lost_card; entities=; q=I lost my card; {\"json\": true}");
  EXPECT_EQ(r->content, "medium saw [" + h_.log().calls[1].prompt + "]");
  EXPECT_EQ(trace.model, "medium");
  auto spans = route_spans(trace);
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(spans[1]->detail,
            "pipeline/1: step 'extract' skipped (when intent in transfer|balance: label "
            "'report_lost_card')");
  EXPECT_EQ(spans[2]->detail,
            "pipeline/1: step 'answer' -> 'medium' (branch on intent = 'report_lost_card')");
}

TEST_F(PipelineTest, StreamsOnlyTheFinalStep) {
  h_.fake("cls").label = "balance";
  core::Trace trace;
  RecordingSink sink;
  auto r = h_.run("p", user_request("what is my balance"), trace, &sink);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(h_.log().calls.size(), 3u);
  EXPECT_FALSE(h_.log().calls[0].streamed);
  EXPECT_FALSE(h_.log().calls[1].streamed);
  EXPECT_TRUE(h_.log().calls[2].streamed);
  EXPECT_EQ(sink.text, r->content);
  EXPECT_GT(sink.writes, 1);  // as produced, word by word
}

TEST_F(PipelineTest, AFailingStepFailsThePipeline) {
  h_.fake("cls").label = "transfer";
  h_.fake("small").fail = make_error(ErrorCode::kUpstreamError, "boom");
  core::Trace trace;
  auto r = h_.run("p", user_request("x"), trace);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUpstreamError);
  EXPECT_EQ(h_.log().calls.size(), 2u);  // stopped after 'extract'
  auto spans = route_spans(trace);
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_FALSE(spans[1]->ok);
  EXPECT_EQ(spans[1]->detail, "pipeline/1: step 'extract' -> 'small' failed (upstream_error)");
}

TEST(Pipeline, OptionalStepFailureIsSkipped) {
  CompositeHarness h(kModels + R"yaml(
routes:
  - name: p
    type: pipeline
    steps:
      - {name: first, route: small, optional: true}
      - {name: last, route: medium, prompt: "got '{steps.first.output}' for {input}"}
)yaml");
  h.fake("small").fail = make_error(ErrorCode::kUpstreamTimeout, "slow");
  core::Trace trace;
  auto r = h.run("p", user_request("q"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(h.log().calls[1].prompt, "got '' for q");
  EXPECT_EQ(route_spans(trace)[0]->detail,
            "pipeline/1: step 'first' -> 'small' failed (upstream_timeout), optional: skipped");
}

TEST(Pipeline, NestsOtherCompositeRoutes) {
  CompositeHarness h(kModels + R"yaml(
routes:
  - {name: both, type: ensemble, children: [small, medium], combine: fuse, fuser: large}
  - name: p
    type: pipeline
    steps:
      - {name: draft, route: both}
      - {name: check, route: large, prompt: "verify: {steps.draft.output}"}
)yaml");
  h.fake("large").respond = [](const std::string& p) { return "L(" + p.substr(0, 7) + ")"; };
  core::Trace trace;
  auto r = h.run("p", user_request("q"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "L(verify:)");
  EXPECT_EQ(h.log().models(), (std::vector<std::string>{"small", "medium", "large", "large"}));
  EXPECT_EQ(trace.model, "large");
}

TEST(PipelineConfig, RefusesBadDeclarations) {
  auto err = [&](const std::string& routes) { return composite_build_error(kModels + routes); };
  EXPECT_NE(
      err(R"yaml(
routes:
  - name: p
    type: pipeline
    steps:
      - {name: a, route: small, prompt: "{steps.b.output}"}
      - {name: b, route: small}
)yaml")
          .find(
              "routes[0].steps[0].prompt: placeholder {steps.b.output}: no earlier step named 'b'"),
      std::string::npos);
  EXPECT_NE(err(R"yaml(
routes:
  - name: p
    type: pipeline
    steps:
      - {name: intent, route: small}
      - {name: b, route: small, prompt: "{steps.intnet.label}"}
)yaml")
                .find("no earlier step named 'intnet' (did you mean 'intent'?)"),
            std::string::npos);
  EXPECT_NE(err(R"yaml(
routes:
  - name: p
    type: pipeline
    steps:
      - {name: a, route: small}
      - {name: b, route: small, prompt: "{input} {steps.a.text}"}
)yaml")
                .find("use steps.NAME.output, .label, .confidence, .verdict or .reason"),
            std::string::npos);
  EXPECT_NE(err(R"yaml(
routes:
  - name: p
    type: pipeline
    steps:
      - {name: a, route: small}
      - {name: b, route: small, when: {step: a, label_in: [x]}}
)yaml")
                .find("routes[0].steps[1].when: the final step always runs"),
            std::string::npos);
  EXPECT_NE(err(R"yaml(
routes:
  - name: p
    type: pipeline
    steps:
      - {name: a, route: small}
      - {name: b, branch: {step: a, routes: {x: medium}}}
)yaml")
                .find("routes[0].steps[1].branch: the final step always runs"),
            std::string::npos);
  EXPECT_NE(err(R"yaml(
routes:
  - name: p
    type: pipeline
    steps:
      - {name: a, route: small}
      - {name: a, route: small}
)yaml")
                .find("duplicate step name 'a'"),
            std::string::npos);
  EXPECT_NE(err(R"yaml(
routes:
  - name: p
    type: pipeline
    steps:
      - {name: a, route: small, when: {step: z, label_in: [x]}}
      - {name: b, route: small}
)yaml")
                .find("routes[0].steps[0].when.step: no earlier step named 'z'"),
            std::string::npos);
  EXPECT_NE(err(R"yaml(
routes:
  - name: p
    type: pipeline
    steps:
      - {name: a, route: nowhere}
      - {name: b, route: small}
)yaml")
                .find("unknown route or model 'nowhere'"),
            std::string::npos);
}

}  // namespace
}  // namespace triage::routes
