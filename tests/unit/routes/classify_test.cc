// The `classify` route: band decisions (golden), escalation targets, the FAQ tier, trace
// contents and load errors. The classifier is a tiny fastText model trained here; its metadata's
// calibration is rewritten per test to a constant (Platt with a = 0) so that the confidence, and
// hence the band, is exactly what the test says, while the label still comes from the model.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ml/fasttext_model.h"
#include "ml/intent_confidence.h"
#include "route_harness.h"
#include "routes/classify_route.h"
#include "support/intent_references.h"

namespace triage::routes {
namespace {

namespace fs = std::filesystem;
using testing::Harness;
using ::testing::HasSubstr;
using testing::user_request;

class ClassifyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    register_classify_kind();
    dir_ = fs::temp_directory_path() / ("triage-classify-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    ml::TrainSpec spec;
    const std::vector<std::pair<std::string, std::vector<std::string>>> topics = {
        {"balance", {"balance", "account", "money", "checking", "savings", "funds"}},
        {"weather", {"rain", "sunny", "forecast", "umbrella", "cloudy", "snow"}},
        {"oos", {"banana", "guitar", "volcano", "poem", "chess", "dragon"}}};
    for (int i = 0; i < 60; ++i) {
      for (const auto& [label, w] : topics) {
        spec.train.push_back({w[i % w.size()] + " " + w[(i / 6) % w.size()], label});
      }
    }
    spec.out_path = (dir_ / "intent.bin").string();
    spec.threads = 1;
    spec.epoch = 30;
    spec.bucket = 10000;
    ml::train_classifier(spec);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static std::string model_path() { return (dir_ / "intent.bin").string(); }

  // Calibrated confidence := p for every prediction.
  static void set_constant_confidence(double p) {
    const std::string meta = ml::metadata_path_for(model_path());
    std::ifstream in(meta);
    std::stringstream buf;
    buf << in.rdbuf();
    auto v = boost::json::parse(buf.str()).as_object();
    v["calibration"] = constant_map(p);
    v.erase("neighbor_calibration");
    std::ofstream(meta, std::ios::trunc) << boost::json::serialize(v);
  }

  static boost::json::object constant_map(double p) {
    return {{"method", "platt"}, {"a", 0.0}, {"b", std::log(p / (1 - p))}};
  }

  // Neighbour-agreement maps (ml/intent_confidence.h): confidence `agree` when the nearest of
  // `references` (text, label) has the predicted label, else `disagree`.
  static void set_neighbor_confidence(const std::vector<ml::LabeledExample>& references,
                                      double agree, double disagree) {
    set_constant_confidence(0.5);
    std::string refs;
    for (const ml::LabeledExample& r : references) {
      refs +=
          boost::json::serialize(boost::json::object{{"text", r.text}, {"intent", r.label}}) + "\n";
    }
    std::ofstream(model_path() + ".refs.jsonl", std::ios::trunc) << refs;
    const std::string meta = ml::metadata_path_for(model_path());
    std::ifstream in(meta);
    std::stringstream buf;
    buf << in.rdbuf();
    auto v = boost::json::parse(buf.str()).as_object();
    v["neighbor_calibration"] = boost::json::object{{"format", ml::kIntentNeighborFormat},
                                                    {"references", "intent.bin.refs.jsonl"},
                                                    {"references_sha256", ml::sha256_hex(refs)},
                                                    {"agree", constant_map(agree)},
                                                    {"disagree", constant_map(disagree)}};
    std::ofstream(meta, std::ios::trunc) << boost::json::serialize(v);
  }

  // The shared corpus (support/intent_references.h): with `balance_as` != "balance" a
  // predicted `balance` disagrees with its nearest utterance.
  static std::vector<ml::LabeledExample> references(const std::string& balance_as) {
    return triage::testing::intent_references(balance_as);
  }

  static std::string models() {
    return R"(
models:
  - {name: faq, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: small}
  - {name: med-cheap, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: medium, prices: {input: 1, output: 1}}
  - {name: med-pricey, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: medium, prices: {input: 5, output: 5}}
  - {name: large, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: large}
)";
  }

  static std::string config(const std::string& route_extra = "") {
    return models() +
           "routes:\n  - name: support\n    type: classify\n    classifier: " + model_path() +
           "\n    targets: {balance: faq, weather: med-pricey, oos: large}\n"
           "    default: faq\n" +
           route_extra;
  }

  static inline fs::path dir_;
};

TEST_F(ClassifyTest, BandOfUsesInclusiveLowerBounds) {
  const Bands b;  // 0.95 / 0.80
  EXPECT_EQ(band_of(0.95, b), Band::kUse);
  EXPECT_EQ(band_of(1.0, b), Band::kUse);
  EXPECT_EQ(band_of(0.9499, b), Band::kFlag);
  EXPECT_EQ(band_of(0.80, b), Band::kFlag);
  EXPECT_EQ(band_of(0.7999, b), Band::kEscalate);
  EXPECT_EQ(band_of(0.0, b), Band::kEscalate);
  EXPECT_EQ(band_name(Band::kFlag), "flag");
}

struct Golden {
  std::string text;
  std::string label;
  std::string answered_by;
  std::vector<core::ReviewFlag> flags;
};

void check_golden(Harness& h, const std::vector<Golden>& golden, double p, Band band) {
  auto& route = dynamic_cast<ClassifyRoute&>(h.route("support"));
  EXPECT_EQ(route.kind(), "classify/1");
  for (const auto& g : golden) {
    SCOPED_TRACE(g.text);
    const ClassifyDecision d = route.decide(g.text);
    EXPECT_EQ(d.label, g.label);
    EXPECT_NEAR(d.confidence, p, 1e-9);
    EXPECT_EQ(d.band, band);
    core::Trace trace;
    auto r = h.run("support", user_request(g.text), trace);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->content, "answer from " + g.answered_by);
    EXPECT_EQ(trace.model, g.answered_by);
    EXPECT_EQ(trace.label, g.label);
    EXPECT_NEAR(trace.confidence, p, 1e-9);
    EXPECT_EQ(trace.flags, g.flags);
    ASSERT_FALSE(trace.spans.empty());
    EXPECT_EQ(trace.spans[0].kind, core::SpanKind::kRoute);
    EXPECT_EQ(trace.spans[0].name, "support");
  }
}

TEST_F(ClassifyTest, UseBandRoutesToThePrediction) {
  set_constant_confidence(0.97);
  Harness h(config());
  check_golden(h,
               {{"what is my account balance", "balance", "faq", {}},
                {"will it rain tomorrow forecast", "weather", "med-pricey", {}},
                {"write a poem about a dragon", "oos", "large", {}}},
               0.97, Band::kUse);
  core::Trace trace;
  ASSERT_TRUE(h.run("support", user_request("savings account balance"), trace));
  EXPECT_EQ(trace.spans[0].detail, "label=balance p=0.97 band=use -> faq (classify/1)");
  EXPECT_GE(trace.routing_us, 0);
}

TEST_F(ClassifyTest, FlagBandRoutesToThePredictionAndFlags) {
  set_constant_confidence(0.85);
  Harness h(config());
  check_golden(
      h,
      {{"what is my account balance", "balance", "faq", {core::ReviewFlag::kFlagBand}},
       {"sunny or cloudy forecast", "weather", "med-pricey", {core::ReviewFlag::kFlagBand}}},
      0.85, Band::kFlag);
}

TEST_F(ClassifyTest, LowConfidenceEscalatesOneTier) {
  set_constant_confidence(0.5);
  Harness h(config());
  // faq (small) -> the cheapest medium model; med-pricey (medium) -> large; large stays.
  check_golden(
      h,
      {{"what is my account balance", "balance", "med-cheap", {core::ReviewFlag::kEscalated}},
       {"will it rain tomorrow forecast", "weather", "large", {core::ReviewFlag::kEscalated}},
       {"write a poem about a dragon", "oos", "large", {core::ReviewFlag::kLowConfidence}}},
      0.5, Band::kEscalate);
  core::Trace trace;
  ASSERT_TRUE(h.run("support", user_request("money in checking"), trace));
  EXPECT_EQ(trace.spans[0].detail,
            "label=balance p=0.50 band=escalate -> med-cheap (escalated from faq) (classify/1)");
}

TEST_F(ClassifyTest, AnEscalationWhoseCircuitIsOpenFallsBackToThePrediction) {
  set_constant_confidence(0.5);
  std::string yaml = config();
  const std::string cheap = "tier: medium, prices: {input: 1, output: 1}}";
  ASSERT_NE(yaml.find(cheap), std::string::npos);
  yaml.replace(yaml.find(cheap), cheap.size(),
               "tier: medium, prices: {input: 1, output: 1}, retries: {max: 0}, "
               "breaker: {consecutive_failures: 1}}");
  Harness h(yaml);
  h.fake("med-cheap").fail = make_error(ErrorCode::kUpstreamError, "down");
  h.fake("med-cheap").failure = control::UpstreamFailure{};  // a connect error
  core::Trace first;
  EXPECT_FALSE(h.run("support", user_request("money in checking"), first).ok());  // opens it
  core::Trace trace;
  auto r = h.run("support", user_request("money in checking"), trace);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->content, "answer from faq");
  EXPECT_EQ(h.fake("med-cheap").calls, 1);  // skipped, not called
  EXPECT_EQ(trace.spans[0].detail,
            "label=balance p=0.50 band=escalate -> faq (circuit open: skipped med-cheap) "
            "(classify/1)");
  EXPECT_EQ(trace.flags, (std::vector<core::ReviewFlag>{core::ReviewFlag::kLowConfidence}));
}

TEST_F(ClassifyTest, EscalationPrefersATierTargetThenAnExplicitEscalateRoute) {
  set_constant_confidence(0.5);
  {
    // A target keyed by the tier name wins over the cheapest model of that tier.
    Harness h(models() +
              "routes:\n  - name: support\n    type: classify\n    classifier: " + model_path() +
              "\n    targets: {balance: faq, medium: med-pricey}\n"
              "    default: faq\n");
    core::Trace trace;
    ASSERT_TRUE(h.run("support", user_request("account balance"), trace));
    EXPECT_EQ(trace.model, "med-pricey");
  }
  {
    Harness h(config("    escalate: large\n"));
    core::Trace trace;
    ASSERT_TRUE(h.run("support", user_request("account balance"), trace));
    EXPECT_EQ(trace.model, "large");
    EXPECT_EQ(trace.flags, std::vector<core::ReviewFlag>{core::ReviewFlag::kEscalated});
  }
  {
    // Custom tier order: small -> large directly.
    Harness h(models() +
              "routes:\n  - name: support\n    type: classify\n    classifier: " + model_path() +
              "\n    targets: {balance: faq, oos: large}\n"
              "    default: faq\n    tiers: [small, large]\n");
    core::Trace trace;
    ASSERT_TRUE(h.run("support", user_request("account balance"), trace));
    EXPECT_EQ(trace.model, "large");
  }
}

TEST_F(ClassifyTest, CustomBandsMoveTheCut) {
  set_constant_confidence(0.85);
  Harness h(config("    bands: {use: 0.85, flag: 0.5}\n"));
  core::Trace trace;
  ASSERT_TRUE(h.run("support", user_request("account balance"), trace));
  EXPECT_EQ(trace.model, "faq");
  EXPECT_TRUE(trace.flags.empty());
}

TEST_F(ClassifyTest, DeclaresTheIntentBandsEvalFamily) {
  set_constant_confidence(0.85);
  Harness h(config("    bands: {use: 0.9, flag: 0.7}\n"));
  auto& route = dynamic_cast<ClassifyRoute&>(h.route("support"));
  const EvalFamily family = route.eval_family();
  const auto* bands = std::get_if<IntentBandsEval>(&family);
  ASSERT_NE(bands, nullptr);
  EXPECT_DOUBLE_EQ(bands->bands.use, 0.9);
  EXPECT_DOUBLE_EQ(bands->bands.flag, 0.7);
  EXPECT_EQ(bands->calibration, "platt");
  // The family's decision is the route's: same label, confidence, band and target.
  for (const char* text : {"what is my account balance", "write a poem about a dragon"}) {
    SCOPED_TRACE(text);
    const ClassifyDecision mine = bands->decide(text);
    const ClassifyDecision routes = route.decide(text);
    EXPECT_EQ(mine.label, routes.label);
    EXPECT_NEAR(mine.confidence, 0.85, 1e-9);
    EXPECT_EQ(mine.band, Band::kFlag);
    EXPECT_EQ(mine.chosen, routes.chosen);
    EXPECT_EQ(mine.escalated, routes.escalated);
  }
  EXPECT_EQ(bands->decide("what is my account balance").label, "balance");
}

TEST_F(ClassifyTest, TextWithoutFeaturesEscalatesFromTheDefault) {
  set_constant_confidence(0.99);
  Harness h(config());
  const ClassifyDecision d = dynamic_cast<ClassifyRoute&>(h.route("support")).decide("   ");
  EXPECT_EQ(d.label, "");
  EXPECT_EQ(d.confidence, 0.0);
  EXPECT_EQ(d.band, Band::kEscalate);
  EXPECT_EQ(d.chosen->name(), "med-cheap");
}

TEST_F(ClassifyTest, FaqTierAnswersFromTheLocalClassifierModel) {
  set_constant_confidence(0.97);
  const std::string yaml =
      "models:\n"
      "  - name: intent-small\n    provider: local\n    tier: small\n"
      "    local:\n      model_path: " +
      model_path() +
      "\n"
      "      answers: {balance: \"Your balance is in the app ({confidence})\"}\n"
      "  - {name: large, provider: openai, endpoint: \"http://127.0.0.1:9/v1\", tier: large}\n"
      "routes:\n  - name: support\n    type: classify\n    classifier: intent-small\n"
      "    targets: {oos: large}\n    default: intent-small\n";
  const config::Config cfg = config::parse_config(yaml, "t.yaml");
  providers::ProviderRegistry reg;
  providers::register_builtin_providers(reg);
  reg.add("openai", [](const config::Config&, const config::Model&, const providers::EnvLookup&) {
    return std::make_unique<testing::ScriptedClient>();
  });
  auto table = RouteTable::build(cfg, reg, [](const char*) -> const char* { return nullptr; });
  Route* route = table->find("support");
  ASSERT_NE(route, nullptr);
  core::Trace trace;
  boost::asio::io_context io;
  ExecContext ctx{trace, SteadyClock::now(), SteadyClock::now() + std::chrono::seconds(10)};
  std::optional<Result<core::Completion>> out;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        out.emplace(co_await route->run(user_request("my checking account balance"), ctx, nullptr));
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  io.run();
  ASSERT_TRUE(out && out->ok());
  // The local provider applies the same calibration: 0.97 in the answer and the trace.
  EXPECT_EQ((*out)->content, "Your balance is in the app (0.97)");
  EXPECT_EQ(trace.model, "intent-small");
  EXPECT_EQ(trace.label, "balance");
  EXPECT_NEAR(trace.confidence, 0.97, 1e-9);
}

std::string error_of(const std::string& yaml) { return testing::build_error(yaml); }

// The route's confidence is the model's neighbour-aware one when the model has the maps: the
// same prediction lands in the use band when its nearest reference utterance agrees and in
// the flag band when it does not.
TEST_F(ClassifyTest, NeighborAgreementPicksTheConfidenceMap) {
  const char* text = "my checking account balance";
  set_neighbor_confidence(references("balance"), 0.97, 0.85);
  {
    Harness h(config());
    auto& route = dynamic_cast<ClassifyRoute&>(h.route("support"));
    EXPECT_EQ(route.confidence().method_name(), "platt+neighbor");
    const ClassifyDecision d = route.decide(text);
    EXPECT_EQ(d.label, "balance");
    EXPECT_NEAR(d.confidence, 0.97, 1e-9);
    EXPECT_EQ(d.band, Band::kUse);
    core::Trace trace;
    ASSERT_TRUE(h.run("support", user_request(text), trace).ok());
    EXPECT_NEAR(trace.confidence, 0.97, 1e-9);
    EXPECT_TRUE(trace.flags.empty());
  }
  set_neighbor_confidence(references("weather"), 0.97, 0.85);
  {
    Harness h(config());
    auto& route = dynamic_cast<ClassifyRoute&>(h.route("support"));
    const ClassifyDecision d = route.decide(text);
    EXPECT_EQ(d.label, "balance");
    EXPECT_NEAR(d.confidence, 0.85, 1e-9);
    EXPECT_EQ(d.band, Band::kFlag);
    core::Trace trace;
    ASSERT_TRUE(h.run("support", user_request(text), trace).ok());
    EXPECT_EQ(trace.flags, std::vector<core::ReviewFlag>{core::ReviewFlag::kFlagBand});
  }
  // References edited after training are refused at load, naming the fix.
  std::ofstream(model_path() + ".refs.jsonl", std::ios::app) << R"({"text":"x y","intent":"oos"})"
                                                             << "\n";
  EXPECT_THAT(error_of(config()), HasSubstr("do not match"));
  set_constant_confidence(0.9);
  EXPECT_EQ(error_of(config()), "no error");
}

TEST_F(ClassifyTest, BandsOutOfOrderOrRangeAreRefusedWithThePath) {
  set_constant_confidence(0.9);
  EXPECT_THAT(error_of(config("    bands: {use: 0.8, flag: 0.9}\n")),
              HasSubstr("routes[0].bands.flag: bands out of order: flag (0.9) must be <= use "
                        "(0.8)"));
  EXPECT_THAT(error_of(config("    bands: {use: 1.5}\n")),
              HasSubstr("routes[0].bands.use: must be between 0 and 1, got 1.5"));
  EXPECT_THAT(error_of(config("    bands: {flag: -0.1}\n")),
              HasSubstr("routes[0].bands.flag: must be between 0 and 1"));
  // use below the default flag, flag not given: the error points at use.
  EXPECT_THAT(error_of(config("    bands: {use: 0.5}\n")),
              HasSubstr("routes[0].bands.use: bands out of order"));
  EXPECT_THAT(error_of(config("    bands: {use: 0.9, flg: 0.5}\n")), HasSubstr("routes[0].bands"));
}

TEST_F(ClassifyTest, BadDeclarationsAreRefusedWithThePath) {
  set_constant_confidence(0.9);
  const std::string head = models() + "routes:\n  - name: support\n    type: classify\n";
  EXPECT_THAT(error_of(head + "    classifier: nowhere.bin\n    default: faq\n"),
              HasSubstr("routes[0].classifier: classifier 'nowhere.bin' is neither a catalog "
                        "model nor an existing model file"));
  EXPECT_THAT(error_of(head + "    classifier: large\n    default: faq\n"),
              HasSubstr("classifier 'large' is a catalog model with provider 'openai'"));
  EXPECT_THAT(error_of(config().replace(config().find("balance: faq"), 12, "balanse: faq")),
              HasSubstr("routes[0].targets.balanse: 'balanse' is neither a label of the "
                        "classifier"));
  EXPECT_THAT(error_of(config().replace(config().find("balance: faq"), 12, "balanse: faq")),
              HasSubstr("did you mean 'balance'?"));
  EXPECT_THAT(error_of(config().replace(config().find("oos: large"), 10, "oos: huge")),
              HasSubstr("unknown route or model 'huge'"));
  EXPECT_THAT(error_of(config("    tiers: [small, small]\n")), HasSubstr("listed twice"));
  EXPECT_THAT(
      error_of(config("    tiers: [medium, large]\n")),
      HasSubstr("routes[0].targets.balance: the tier 'small' of 'faq' is not in the tiers"));
  EXPECT_THAT(error_of(head + "    classifier: " + model_path() + "\n"),
              HasSubstr("missing required field 'default'"));
}

TEST_F(ClassifyTest, MetadataOfAnotherModelIsRefused) {
  set_constant_confidence(0.9);
  const std::string meta = ml::metadata_path_for(model_path());
  std::ifstream in(meta);
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string saved = buf.str();
  auto v = boost::json::parse(saved).as_object();
  v["labels"] = boost::json::array{"balance", "weather", "greeting"};
  std::ofstream(meta, std::ios::trunc) << boost::json::serialize(v);
  EXPECT_THAT(error_of(config()), HasSubstr("labels that do not match"));
  std::ofstream(meta, std::ios::trunc) << saved;
  EXPECT_EQ(error_of(config()), "no error");
}

}  // namespace
}  // namespace triage::routes
