// FastTextModel's fast path (predictions computed from the matrices) against fastText's own
// predictLine (predict_reference): labels, order and probabilities equal bit for bit.
#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "common/csv.h"
#include "ml/fasttext_model.h"
#include "ml/score_predictor.h"

namespace triage::ml {
namespace {

namespace fs = std::filesystem;

uint64_t bits(double x) { return std::bit_cast<uint64_t>(x); }

// P(label) the way label_probability defines it, from the library's predictions.
double reference_probability(const FastTextModel& m, const std::string& text,
                             const std::string& label, double if_none) {
  const auto preds = m.predict_reference(text, static_cast<int>(m.labels().size()));
  if (preds.empty()) return if_none;
  for (const auto& p : preds) {
    if (p.label == label) return p.probability;
  }
  return 0.0;
}

// Every k and every label (and one it does not have) give the library's result.
void expect_same_as_library(const FastTextModel& m, const std::string& text) {
  const int n = static_cast<int>(m.labels().size());
  for (int k : {1, 2, n, n + 3}) {
    const auto fast = m.predict(text, k);
    const auto ref = m.predict_reference(text, k);
    ASSERT_EQ(fast.size(), ref.size()) << "k=" << k << " text: " << text;
    for (std::size_t i = 0; i < fast.size(); ++i) {
      ASSERT_EQ(fast[i].label, ref[i].label) << "k=" << k << " text: " << text;
      ASSERT_EQ(bits(fast[i].probability), bits(ref[i].probability))
          << fast[i].probability << " vs " << ref[i].probability << " text: " << text;
    }
  }
  std::vector<std::string> labels = m.labels();
  labels.push_back("no-such-label");
  const FastTextInput input(text);  // one input for every label: its id cache is reused
  for (const auto& label : labels) {
    const double ref = reference_probability(m, text, label, 0.25);
    ASSERT_EQ(bits(label_probability(m, text, label, 0.25)), bits(ref)) << label << ": " << text;
    ASSERT_EQ(bits(m.label_probability(input, label, 0.25)), bits(ref)) << label << ": " << text;
  }
}

// Six topics (so the output rows fill 4-float vectors and a tail), filler words, noise.
std::vector<LabeledExample> topics_dataset(int per_class, unsigned seed, bool binary) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> topics = {
      {"weather", {"rain", "sunny", "forecast", "umbrella", "cloudy", "snow"}},
      {"sports", {"football", "score", "goal", "match", "team", "referee"}},
      {"cooking", {"recipe", "oven", "bake", "flour", "boil", "sauce"}},
      {"travel", {"flight", "hotel", "passport", "luggage", "airport", "visa"}},
      {"music", {"guitar", "song", "concert", "album", "drums", "melody"}},
      {"money", {"bank", "loan", "savings", "budget", "invest", "credit"}}};
  const std::vector<std::string> filler = {"the", "what", "is", "a", "today", "please", "my",
                                           "caf\xC3\xA9", "42", "?"};
  std::mt19937 rng(seed);
  std::vector<LabeledExample> out;
  for (int i = 0; i < per_class; ++i) {
    for (const auto& [label, words] : topics) {
      std::string text;
      for (int w = 0; w < 7; ++w) {
        const auto& pool = (rng() % 2 == 0) ? words : filler;
        text += (text.empty() ? "" : " ") + pool[rng() % pool.size()];
      }
      out.push_back({text, binary ? (label == "weather" ? "ok" : "bad") : label});
    }
  }
  return out;
}

std::vector<std::string> probe_texts() {
  std::vector<std::string> texts = {
      "", "   \t\n", "zzzz qqqq",  // nothing / only unknown words: the prior via </s>
      "__label__weather rain", "Will it RAIN today? Bring an umbrella!",
      "caf\xC3\xA9 \xff\xfe rain \xe2\x80\x99 snow", "rain rain rain rain", "?!?", "3.5 42",
      "goal goal goal, the referee! flight to the hotel, then bake a cake"};
  std::string long_text;
  for (int i = 0; i < 400; ++i) long_text += (i % 7 == 0 ? "forecast " : "the match ");
  texts.push_back(long_text);
  // Random mixes of every topic: many distinct softmax inputs, so that an operation done in
  // another precision or order than the library's shows up as a last-bit difference.
  std::vector<std::string> words;
  for (const auto& ex : topics_dataset(1, 5, false)) {
    for (std::size_t i = 0, j; i < ex.text.size(); i = j + 1) {
      j = std::min(ex.text.find(' ', i), ex.text.size());
      words.push_back(ex.text.substr(i, j - i));
    }
  }
  std::mt19937 rng(99);
  for (int t = 0; t < 1500; ++t) {
    std::string text;
    for (int w = 0, n = 1 + static_cast<int>(rng() % 20); w < n; ++w) {
      text += words[rng() % words.size()] + " ";
    }
    texts.push_back(text);
  }
  return texts;
}

class FastPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("triage_fast_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::shared_ptr<const FastTextModel> train(const std::string& file, int word_ngrams, int dim,
                                             bool binary, unsigned seed = 1) {
    TrainSpec spec;
    spec.train = topics_dataset(40, seed, binary);
    spec.out_path = (dir_ / file).string();
    spec.dim = dim;
    spec.epoch = 10;
    spec.word_ngrams = word_ngrams;
    spec.bucket = 5000;
    spec.threads = 1;
    train_classifier(spec);
    return FastTextModel::load(spec.out_path);
  }

  fs::path dir_;
};

TEST_F(FastPathTest, BigramModelEqualsTheLibraryBitForBit) {
  const auto m = train("bigrams.bin", 2, 10, false);
  ASSERT_TRUE(m->fast());
  ASSERT_EQ(m->labels().size(), 6u);
  for (const auto& text : probe_texts()) expect_same_as_library(*m, text);
}

TEST_F(FastPathTest, UnigramModelWithoutBucketsEqualsTheLibrary) {
  const auto m = train("unigrams.bin", 1, 7, true);  // bucket 0; dim 7: a vector and a tail
  ASSERT_TRUE(m->fast());
  for (const auto& text : probe_texts()) expect_same_as_library(*m, text);
}

TEST_F(FastPathTest, ModelsSharingAVocabularyShareOneInput) {
  // Same texts, other labels: the same words, so one FastTextInput resolves them once for both;
  // a model trained on other texts has another vocabulary and resolves its own.
  const auto topics = train("topics.bin", 1, 8, false);
  const auto binary = train("binary.bin", 1, 8, true);
  const auto other = train("other.bin", 1, 8, true, /*seed=*/7);
  for (const auto& text : probe_texts()) {
    const FastTextInput input(text);
    for (const auto* m : {topics.get(), binary.get(), other.get(), topics.get()}) {
      for (const auto& label : m->labels()) {
        ASSERT_EQ(bits(m->label_probability(input, label, 0.5)),
                  bits(reference_probability(*m, text, label, 0.5)))
            << label << ": " << text;
      }
    }
  }
}

TEST_F(FastPathTest, QuantizedModelsUseTheLibrary) {
  TrainSpec spec;
  spec.train = topics_dataset(40, 1, false);
  spec.out_path = (dir_ / "q.ftz").string();
  spec.dim = 8;
  spec.bucket = 2000;  // quantising costs time per row
  spec.threads = 1;
  train_classifier(spec);
  const auto m = FastTextModel::load(spec.out_path);
  EXPECT_FALSE(m->fast());
  for (const auto& text : probe_texts()) expect_same_as_library(*m, text);
}

// Texts of every shipped data set, a few hundred each.
std::vector<std::string> shipped_texts() {
  const std::string root = TRIAGE_SOURCE_DIR;
  std::vector<std::string> texts;
  auto csv = [&](const std::string& file, std::size_t stride, bool gsm8k) {
    const CsvTable t = read_csv_file(root + "/" + file);
    const auto prompt = t.column("prompt");
    const auto response = t.column("weak_response");
    for (std::size_t r = 0; r < t.rows.size(); r += stride) {
      const std::string p = t.rows[r][*prompt].value_or("");
      texts.push_back(p);
      texts.push_back(multi_feature_text(p));
      if (gsm8k && response) texts.push_back(p + " " + t.rows[r][*response].value_or(""));
    }
  };
  csv("data/routellm/mmlu.csv", 40, false);
  csv("data/routellm/gsm8k.csv", 4, true);
  csv("data/routerbench/arc_challenge.csv", 4, false);
  csv("data/routerbench/winogrande.csv", 4, false);
  std::ifstream in(root + "/data/clinc150/val.jsonl");
  std::size_t line_no = 0;
  for (std::string line; std::getline(in, line);) {
    if (line_no++ % 10 == 0 && !line.empty()) {
      texts.emplace_back(boost::json::parse(line).as_object().at("text").as_string());
    }
  }
  return texts;
}

// Every shipped model (`make models`) takes the fast path and agrees with the library on the
// shipped data: top-1 and every label's probability.
TEST(FastPathShippedModels, EqualTheLibraryOnTheShippedData) {
  const fs::path models = fs::path(TRIAGE_SOURCE_DIR) / "models";
  std::vector<std::string> files;
  if (fs::is_directory(models)) {
    for (const auto& e : fs::directory_iterator(models)) {
      if (e.path().extension() == ".bin") files.push_back(e.path().string());
    }
  }
  if (files.empty()) GTEST_SKIP() << "no trained models in " << models << " (make models)";
  std::sort(files.begin(), files.end());
  const auto texts = shipped_texts();
  ASSERT_GT(texts.size(), 1000u);
  for (const auto& file : files) {
    SCOPED_TRACE(file);
    const auto m = FastTextModel::load(file);
    EXPECT_TRUE(m->fast());
    const int n = static_cast<int>(m->labels().size());
    for (const auto& text : texts) {
      const auto fast = m->predict(text, 1);
      const auto ref = m->predict_reference(text, n);
      ASSERT_EQ(fast.empty(), ref.empty()) << text;
      if (ref.empty()) continue;
      ASSERT_EQ(fast[0].label, ref[0].label) << text;
      ASSERT_EQ(bits(fast[0].probability), bits(ref[0].probability)) << text;
      const FastTextInput input(text);
      for (const auto& p : ref) {
        ASSERT_EQ(bits(m->label_probability(input, p.label, 0.5)), bits(p.probability))
            << p.label << ": " << text;
      }
    }
  }
}

}  // namespace
}  // namespace triage::ml
