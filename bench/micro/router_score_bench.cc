// CPU cost of one decision of every shipped router and scorer, on the prompts of the data set
// each was trained for (cycled through, so caches see a realistic mix). These run on the
// request's I/O thread in serving, so each figure is routing CPU added to a request:
//   BM_MmluGain            `threshold` route, models/mmlu_router.bin (gain scorer), MMLU prompts
//                          ($TRIAGE_ROUTER replaces the file, e.g. a `--scorer stack` router)
//   BM_Gsm8kThreshold      `threshold` route, models/gsm8k_router.bin, GSM8K prompts
//   BM_Predict/<model>     `predict` route, ml::ScorePredictor::predict of models/{arc,winogrande,
//                          routerbench}_router.bin, ARC and Winogrande prompts
//   BM_ClassifyIntent      `classify` route's decide() (intent model + calibration), CLINC150
//   BM_Gsm8kAnswerScorer   the cascade's `scorer` check, models/gsm8k_scorer.bin, on GSM8K
//                          prompts with the weak model's answers
// `scripts/bench.sh` (make bench) runs this binary and reports the slowest as router_us_max.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/csv.h"
#include "ml/answer_scorer.h"
#include "ml/intent_confidence.h"
#include "ml/score_predictor.h"
#include "ml/threshold_scorer.h"
#include "routes/classify_route.h"

namespace {

namespace ml = triage::ml;

constexpr std::size_t kMaxRows = 2000;

std::string source_path(const std::string& relative) {
  return std::string(TRIAGE_SOURCE_DIR) + "/" + relative;
}

// Up to kMaxRows rows of a CSV file, every `stride`-th, in a fixed shuffled order: the named
// columns (missing -> "").
std::vector<std::vector<std::string>> csv_rows(const std::string& file,
                                               const std::vector<std::string>& columns,
                                               std::size_t stride = 1) {
  const auto t = triage::read_csv_file(source_path(file));
  std::vector<std::optional<std::size_t>> idx;
  for (const auto& c : columns) idx.push_back(t.column(c));
  std::vector<std::vector<std::string>> out;
  for (std::size_t i = 0; i < t.rows.size() && out.size() < kMaxRows; i += stride) {
    std::vector<std::string> row;
    for (const auto& k : idx) {
      row.push_back(k && t.rows[i][*k] ? *t.rows[i][*k] : std::string());
    }
    out.push_back(std::move(row));
  }
  // Served traffic interleaves topics, and the data files are sorted by subject: in file order,
  // consecutive decisions would find the same category's index in cache.
  std::mt19937 shuffle_order(20261207);
  std::shuffle(out.begin(), out.end(), shuffle_order);
  return out;
}

struct ThresholdCase {
  std::shared_ptr<const ml::ThresholdScorer> scorer;
  std::vector<std::vector<std::string>> rows;  // (prompt, category)
};

void run_threshold(benchmark::State& state, const ThresholdCase& c) {
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& row = c.rows[i++ % c.rows.size()];
    benchmark::DoNotOptimize(c.scorer->score(row[0], row[1]));
  }
  state.SetLabel(c.scorer->gain() ? "gain" : "stack");
}

void BM_MmluGain(benchmark::State& state) {
  static const ThresholdCase c = [] {
    const char* env = std::getenv("TRIAGE_ROUTER");
    return ThresholdCase{
        ml::ThresholdScorer::load(env ? env : source_path("models/mmlu_router.bin")),
        csv_rows("data/routellm/mmlu.csv", {"prompt", "subject"}, 5)};
  }();
  run_threshold(state, c);
}
BENCHMARK(BM_MmluGain)->Unit(benchmark::kMicrosecond);

void BM_Gsm8kThreshold(benchmark::State& state) {
  static const ThresholdCase c{ml::ThresholdScorer::load(source_path("models/gsm8k_router.bin")),
                               csv_rows("data/routellm/gsm8k.csv", {"prompt", "subject"})};
  run_threshold(state, c);
}
BENCHMARK(BM_Gsm8kThreshold)->Unit(benchmark::kMicrosecond);

void BM_Predict(benchmark::State& state, const char* model) {
  static const auto prompts = [] {
    auto rows = csv_rows("data/routerbench/arc_challenge.csv", {"prompt"});
    for (auto& r : csv_rows("data/routerbench/winogrande.csv", {"prompt"})) {
      rows.push_back(std::move(r));
    }
    return rows;
  }();
  const auto predictor = ml::ScorePredictor::load(source_path(model));
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(predictor->predict(prompts[i++ % prompts.size()][0]));
  }
  state.SetLabel(std::to_string(predictor->models().size()) + " models");
}
BENCHMARK_CAPTURE(BM_Predict, arc, "models/arc_router.bin")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Predict, winogrande, "models/winogrande_router.bin")
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Predict, routerbench, "models/routerbench_router.bin")
    ->Unit(benchmark::kMicrosecond);

void BM_ClassifyIntent(benchmark::State& state) {
  const std::string path = source_path("models/intent.bin");
  const triage::routes::ClassifyRoute route("bench", ml::FastTextModel::load(path), nullptr,
                                            ml::IntentConfidence::for_model(path), {}, {}, {});
  std::vector<std::string> texts;
  std::ifstream in(source_path("data/clinc150/val.jsonl"));
  for (std::string line; std::getline(in, line) && texts.size() < kMaxRows;) {
    texts.emplace_back(boost::json::parse(line).as_object().at("text").as_string());
  }
  std::size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(route.decide(texts[i++ % texts.size()]));
}
BENCHMARK(BM_ClassifyIntent)->Unit(benchmark::kMicrosecond);

void BM_Gsm8kAnswerScorer(benchmark::State& state) {
  const auto scorer = ml::AnswerScorer::load(source_path("models/gsm8k_scorer.bin"));
  const auto rows = csv_rows("data/routellm/gsm8k.csv", {"prompt", "weak_response"});
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& row = rows[i++ % rows.size()];
    benchmark::DoNotOptimize(scorer->score(row[0], row[1]));
  }
}
BENCHMARK(BM_Gsm8kAnswerScorer)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
