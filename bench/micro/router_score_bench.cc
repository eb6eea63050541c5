// CPU cost of one routing decision of a `threshold` route: ThresholdScorer::score() on real
// MMLU prompts, for the router file in $TRIAGE_ROUTER (default models/mmlu_router.bin: the
// gain scorer after `make models`; train one with `--scorer stack` to compare). Runs on the
// request's I/O thread in serving, so this is added routing latency per request.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "common/csv.h"
#include "ml/threshold_scorer.h"

namespace {

struct Fixture {
  std::shared_ptr<const triage::ml::ThresholdScorer> scorer;
  std::vector<std::pair<std::string, std::string>> prompts;  // (prompt, subject)
  Fixture() {
    const char* env = std::getenv("TRIAGE_ROUTER");
    const std::string src = TRIAGE_SOURCE_DIR;
    scorer = triage::ml::ThresholdScorer::load(env ? env : src + "/models/mmlu_router.bin");
    auto t = triage::read_csv_file(src + "/data/routellm/mmlu.csv");
    const auto p = *t.column("prompt");
    const auto s = *t.column("subject");
    for (std::size_t i = 0; i < t.rows.size() && prompts.size() < 2000; i += 5) {
      prompts.emplace_back(*t.rows[i][p], *t.rows[i][s]);
    }
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void BM_ThresholdScore(benchmark::State& state) {
  Fixture& f = fixture();
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& [prompt, subject] = f.prompts[i++ % f.prompts.size()];
    benchmark::DoNotOptimize(f.scorer->score(prompt, subject));
  }
  state.SetLabel(f.scorer->gain() ? "gain" : "stack");
}
BENCHMARK(BM_ThresholdScore)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
