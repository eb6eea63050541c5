// The `threshold` route: golden decisions through the route engine (a tiny fastText scorer
// trained here, identity calibration), its knob, strong_share calibration, load errors, and the
// evaluation family it declares for `triage eval`.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ml/fasttext_model.h"
#include "route_harness.h"
#include "routes/knob.h"
#include "routes/threshold_route.h"

namespace triage::routes {
namespace {

namespace fs = std::filesystem;
using testing::build_error;
using testing::Harness;
using ::testing::HasSubstr;
using testing::user_request;

// Hard prompts (say "integral") need the strong model; easy ones ("hello") do not.
const char* kPrompts[] = {"compute the integral of x", "hello how are you",
                          "integral of sin over pi", "hello there friend"};

class ThresholdTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    register_threshold_kind();
    dir_ = fs::temp_directory_path() / ("triage-threshold-route-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    ml::TrainSpec spec;
    for (int i = 0; i < 30; ++i) {
      spec.train.push_back({"integral derivative proof theorem " + std::to_string(i), "strong"});
      spec.train.push_back({"hello thanks greeting friend " + std::to_string(i), "weak"});
    }
    spec.out_path = scorer_path();
    spec.threads = 1;
    spec.epoch = 30;
    ml::train_classifier(spec);
    // The router block: identity calibration, and the validation scores strong_share uses.
    std::ifstream in(spec.out_path + ".json");
    std::stringstream buf;
    buf << in.rdbuf();
    auto meta = boost::json::parse(buf.str()).as_object();
    meta["router"] = boost::json::object{
        {"positive_label", "strong"},
        {"features", "prompt"},
        {"calibration", boost::json::object{{"a", 1.0}, {"b", 0.0}}},
        {"validation_scores", boost::json::array{0.9, 0.8, 0.3, 0.2, 0.1}}};
    std::ofstream(spec.out_path + ".json", std::ios::trunc) << boost::json::serialize(meta);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static std::string scorer_path() { return (dir_ / "router.bin").string(); }

  static std::string config(const std::string& knob) {
    return R"(
models:
  - {name: small, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: small}
  - {name: large, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: large}
routes:
  - name: default
    type: threshold
    scorer: )" + scorer_path() +
           "\n    weak: small\n    strong: large\n    " + knob + "\n";
  }

  static ThresholdRoute& route(Harness& h) {
    return dynamic_cast<ThresholdRoute&>(h.route("default"));
  }

  static inline fs::path dir_;
};

TEST_F(ThresholdTest, GoldenDecisionsThroughTheRouteEngine) {
  Harness h(config("threshold: 0.5"));
  EXPECT_EQ(route(h).kind(), "threshold/1");
  EXPECT_DOUBLE_EQ(route(h).threshold(), 0.5);
  const std::vector<std::string> expected = {"large", "small", "large", "small"};
  for (std::size_t i = 0; i < 4; ++i) {
    SCOPED_TRACE(kPrompts[i]);
    core::Trace trace;
    auto r = h.run("default", user_request(kPrompts[i]), trace);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->content, "answer from " + expected[i]);
    EXPECT_EQ(trace.model, expected[i]);
    ASSERT_FALSE(trace.spans.empty());
    EXPECT_EQ(trace.spans.front().kind, core::SpanKind::kRoute);
    EXPECT_EQ(trace.spans.front().name, "default");
    // "p=<score> -> strong|weak (t=0.500, threshold/1)"
    const std::string& detail = trace.spans.front().detail;
    EXPECT_EQ(detail.rfind("p=", 0), 0u) << detail;
    EXPECT_THAT(detail, HasSubstr(i % 2 == 0 ? "-> strong (t=0.500, threshold/1)"
                                             : "-> weak (t=0.500, threshold/1)"));
    // The decision without a model call (Decider) is the one run() made.
    EXPECT_EQ(route(h).decide_request(user_request(kPrompts[i])).target, expected[i]);
  }
  EXPECT_EQ(h.fake("large").calls, 2);
  EXPECT_EQ(h.fake("small").calls, 2);
}

TEST_F(ThresholdTest, TheThresholdIsAKnobOverTheRequestScore) {
  Harness h(config("threshold: 0.5"));
  ThresholdRoute& r = route(h);
  const core::ChatRequest hard = user_request(kPrompts[0]);
  const double s = r.score(hard);
  EXPECT_GT(s, 0.5);
  EXPECT_LT(r.score(user_request(kPrompts[1])), 0.5);
  EXPECT_EQ(ThresholdRoute::decide(s, 1.0), ThresholdRoute::Choice::kWeak);
  EXPECT_EQ(ThresholdRoute::decide(s, -1.0), ThresholdRoute::Choice::kStrong);
  EXPECT_EQ(ThresholdRoute::decide(s, s), ThresholdRoute::Choice::kWeak);  // strictly above

  const std::vector<Knob*> knobs = knobs_of(r);
  ASSERT_EQ(knobs.size(), 1u);
  Knob& knob = *knobs[0];
  EXPECT_EQ(knob.name(), "threshold");
  EXPECT_EQ(knob.range(), (std::pair<double, double>{-1.0, 1.0}));
  EXPECT_EQ(knob.model_path(), scorer_path());
  ASSERT_TRUE(knob.request_score(hard).has_value());
  EXPECT_DOUBLE_EQ(*knob.request_score(hard), s);
  // Moving the knob above the hard prompt's score sends it to the weak model.
  knob.set(s + 0.01);
  EXPECT_DOUBLE_EQ(r.threshold(), s + 0.01);
  core::Trace trace;
  ASSERT_TRUE(h.run("default", hard, trace).ok());
  EXPECT_EQ(trace.model, "small");
}

TEST_F(ThresholdTest, StrongShareCalibratesOnValidationScores) {
  Harness h(config("strong_share: 0.4"));
  // Validation scores 0.9 0.8 0.3 0.2 0.1: 40% strong -> the top 2 are above 0.3.
  EXPECT_DOUBLE_EQ(route(h).threshold(), 0.3);
  EXPECT_DOUBLE_EQ(ml::threshold_for_share({0.1, 0.2, 0.3}, 0.0), 0.3);
  EXPECT_DOUBLE_EQ(ml::threshold_for_share({0.1, 0.2, 0.3}, 1.0), -1.0);
}

TEST_F(ThresholdTest, BadDeclarationsFailWithThePath) {
  EXPECT_THAT(build_error(config("threshold: 0.5\n    strong_share: 0.3")),
              HasSubstr("routes[0].strong_share"));
  EXPECT_THAT(build_error(config("threshold: 1.5")), HasSubstr("routes[0].threshold"));
  std::string missing = config("threshold: 0.5");
  missing.replace(missing.find(scorer_path()), scorer_path().size(),
                  (dir_ / "absent.bin").string());
  EXPECT_THAT(build_error(missing), HasSubstr("routes[0].scorer"));
  std::string unknown_child = config("threshold: 0.5");
  unknown_child.replace(unknown_child.find("strong: large"), 13, "strong: larg");
  EXPECT_THAT(build_error(unknown_child), HasSubstr("routes[0].strong"));
  EXPECT_THAT(build_error(unknown_child), HasSubstr("unknown route or model 'larg'"));
}

TEST_F(ThresholdTest, DeclaresTheWeakStrongEvalFamily) {
  Harness h(config("threshold: 0.5"));
  const EvalFamily family = h.route("default").eval_family();
  const auto* pair = std::get_if<WeakStrongEval>(&family);
  ASSERT_NE(pair, nullptr);
  EXPECT_EQ(pair->weak, "small");
  EXPECT_EQ(pair->strong, "large");
  // A fastText scorer ships no training prompts (a gain scorer would).
  EXPECT_FALSE(pair->in_scorer_training);
  // Models and other kinds keep the default family.
  EXPECT_TRUE(std::holds_alternative<AnyDatasetEval>(h.route("small").eval_family()));
}

}  // namespace
}  // namespace triage::routes
