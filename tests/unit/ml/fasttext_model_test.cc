#include "ml/fasttext_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <cctype>
#include <unistd.h>

#include "ml/datasets.h"
#include "ml/text.h"

namespace triage::ml {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

TEST(NormalizeTextTest, LowercasesSplitsPunctuationAndCollapsesSpace) {
  EXPECT_EQ(normalize_text("Hello, World!"), "hello , world !");
  EXPECT_EQ(normalize_text("  a\t\nb\r\n  "), "a b");
  EXPECT_EQ(normalize_text("__label__x"), "_ _ label _ _ x");
  EXPECT_EQ(normalize_text("it's 3.5km"), "it ' s 3 . 5km");
  EXPECT_EQ(normalize_text("Caf\xC3\xA9"), "caf\xC3\xA9");  // UTF-8 bytes kept
  EXPECT_EQ(normalize_text(""), "");
  EXPECT_EQ(normalize_text(normalize_text("A,b")), normalize_text("A,b"));  // idempotent
}

// norm-v1 as first written (appending byte by byte): the fast version must equal it on every
// input, here random byte strings over every byte class.
std::string normalize_text_reference(std::string_view text) {
  std::string out;
  bool pending_space = false;
  for (unsigned char c : text) {
    if (c < 0x80 && (c <= 0x20 || c == 0x7f)) {
      if (!out.empty()) pending_space = true;
      continue;
    }
    const bool punct = c < 0x80 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                                     (c >= 'A' && c <= 'Z'));
    if (punct && !out.empty()) pending_space = true;
    if (pending_space) {
      out.push_back(' ');
      pending_space = false;
    }
    out.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c));
    if (punct) pending_space = true;
  }
  return out;
}

TEST(NormalizeTextTest, EqualsTheByteByByteDefinitionOnRandomText) {
  std::mt19937 rng(20261207);
  const std::string alphabet = std::string("aZ9 \t\n,._-'\x7f\x01") + "\xC3\xA9\xFF";
  for (int i = 0; i < 20000; ++i) {
    std::string text(rng() % 40, ' ');
    for (char& c : text) {
      // Half the bytes from a small alphabet (runs of spaces, punctuation next to words), half
      // any byte.
      c = rng() % 2 ? alphabet[rng() % alphabet.size()] : static_cast<char>(rng() % 256);
    }
    const std::string expected = normalize_text_reference(text);
    ASSERT_EQ(normalize_text(text), expected) << i;
    // The token ends are those of splitting the result at its spaces.
    std::string out = "left over";
    std::vector<uint32_t> ends = {7};
    normalize_text(text, out, &ends);
    ASSERT_EQ(out, expected) << i;
    std::vector<uint32_t> split_ends;
    for (std::size_t at = 0; at < expected.size(); ++at) {
      if (expected[at] == ' ') split_ends.push_back(static_cast<uint32_t>(at));
    }
    if (!expected.empty()) split_ends.push_back(static_cast<uint32_t>(expected.size()));
    ASSERT_EQ(ends, split_ends) << i;
  }
}

// Three topics with disjoint vocabularies plus shared filler words.
std::vector<LabeledExample> make_dataset(int per_class, unsigned seed) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> topics = {
      {"weather", {"rain", "sunny", "forecast", "umbrella", "cloudy", "temperature", "snow"}},
      {"sports", {"football", "score", "goal", "match", "team", "tennis", "referee"}},
      {"cooking", {"recipe", "oven", "bake", "flour", "boil", "pasta", "sauce"}}};
  const std::vector<std::string> filler = {"the", "what", "is", "a", "today", "please", "my"};
  std::mt19937 rng(seed);
  std::vector<LabeledExample> out;
  for (int i = 0; i < per_class; ++i) {
    for (const auto& [label, words] : topics) {
      std::string text;
      for (int w = 0; w < 6; ++w) {
        const auto& pool = (rng() % 2 == 0) ? words : filler;
        if (!text.empty()) text += ' ';
        text += pool[rng() % pool.size()];
      }
      text += " " + words[rng() % words.size()];  // at least one topic word
      if (rng() % 3 == 0) text[0] = static_cast<char>(std::toupper(text[0]));
      out.push_back({text + "?", label});
    }
  }
  return out;
}

class FastTextTrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("triage_ml_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  TrainSpec small_spec(const std::string& file) {
    TrainSpec spec;
    spec.train = make_dataset(60, 1);
    spec.validation = make_dataset(20, 2);
    spec.out_path = (dir_ / file).string();
    spec.dim = 10;
    spec.epoch = 20;
    spec.bucket = 10000;
    spec.threads = 1;
    return spec;
  }

  fs::path dir_;
};

TEST_F(FastTextTrainTest, TrainsPredictsAndWritesMetadata) {
  TrainSpec spec = small_spec("topics.bin");
  TrainResult r = train_classifier(spec);
  ASSERT_TRUE(fs::exists(r.model_path));
  ASSERT_TRUE(r.validation_accuracy.has_value());
  EXPECT_GT(*r.validation_accuracy, 0.9);
  EXPECT_EQ(r.n_train, 180);
  EXPECT_EQ(r.n_validation, 60);
  EXPECT_THAT(r.labels, ::testing::UnorderedElementsAre("weather", "sports", "cooking"));
  EXPECT_EQ(r.data_sha256.size(), 64u);

  auto model = FastTextModel::load(r.model_path);
  auto p = model->predict("Will it RAIN today? Bring an umbrella!", 3);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].label, "weather");
  EXPECT_GT(p[0].probability, p[1].probability);
  double sum = p[0].probability + p[1].probability + p[2].probability;
  EXPECT_NEAR(sum, 1.0, 0.02);
  EXPECT_EQ(model->predict("how long to bake pasta in the oven", 1)[0].label, "cooking");
  EXPECT_EQ(model->predict("the referee stopped the football match", 1)[0].label, "sports");
  EXPECT_TRUE(model->predict("", 1).empty());
  EXPECT_TRUE(model->predict("zzzz qqqq", 0).empty());

  std::ifstream in(r.metadata_path);
  ASSERT_TRUE(in) << r.metadata_path;
  std::stringstream buf;
  buf << in.rdbuf();
  auto meta = boost::json::parse(buf.str()).as_object();
  EXPECT_EQ(meta.at("features_version").as_string(), kFeaturesVersion);
  EXPECT_EQ(meta.at("n_train").as_int64(), 180);
  EXPECT_EQ(meta.at("labels").as_array().size(), 3u);
  EXPECT_EQ(meta.at("data_sha256").as_string(), r.data_sha256);
  EXPECT_NEAR(meta.at("validation_accuracy").as_double(), *r.validation_accuracy, 1e-9);
  EXPECT_GT(meta.at("created_unix_ms").as_int64(), 0);
  EXPECT_EQ(meta.at("hyperparameters").as_object().at("dim").as_int64(), 10);
}

// The hashed n-gram table holds 16 rows per n-gram the data can have (at least 1024), never
// more than the configured bucket; none without word n-grams, the bucket with character ones.
TEST(HashedNgramRows, AreSizedToTheData) {
  // 3 words + end of line, 1 word + end of line: 6 tokens, counted as 6 bigrams (4 at most:
  // the count is an upper bound).
  const std::string two_lines = "__label__a w1 w2 w3\n__label__b w4\n";
  EXPECT_EQ(hashed_ngram_rows(two_lines, 2, 0, 200000), kMinHashedRows);
  EXPECT_EQ(hashed_ngram_rows(two_lines, 2, 0, 500), 500);
  EXPECT_EQ(hashed_ngram_rows(two_lines, 1, 0, 200000), 0);
  EXPECT_EQ(hashed_ngram_rows(two_lines, 2, 5, 200000), 200000);
  std::string many;
  for (int i = 0; i < 1000; ++i) many += "__label__x one two three four five six seven\n";
  EXPECT_EQ(hashed_ngram_rows(many, 2, 0, 200000), 16 * 8000);  // 8 tokens a line
  EXPECT_EQ(hashed_ngram_rows(many, 3, 0, 200000), 200000);      // 2 x 16 x 8000 > bucket
  EXPECT_EQ(hashed_ngram_rows(many, 3, 0, 1 << 30), 2 * 16 * 8000);
}

// A small data set trains a small table: the metadata records the rows used and the file is a
// fraction of what the configured 200,000 rows would take (200,000 x 10 floats = 8 MB).
TEST_F(FastTextTrainTest, SmallDataTrainsASmallHashedTable) {
  TrainSpec spec = small_spec("small_table.bin");
  spec.bucket = 200000;
  const TrainResult r = train_classifier(spec);
  std::ifstream in(r.metadata_path);
  std::stringstream buf;
  buf << in.rdbuf();
  const auto meta = boost::json::parse(buf.str()).as_object();
  const int64_t rows = meta.at("hyperparameters").at("bucket").as_int64();
  EXPECT_GE(rows, kMinHashedRows);
  EXPECT_LT(rows, 200000);
  EXPECT_LT(fs::file_size(r.model_path), 2'000'000u);
  EXPECT_GT(*r.validation_accuracy, 0.9);
}

TEST_F(FastTextTrainTest, SameDataSameHash) {
  TrainSpec a = small_spec("a.bin");
  TrainSpec b = small_spec("b.bin");
  b.validation.clear();
  TrainResult ra = train_classifier(a);
  TrainResult rb = train_classifier(b);
  EXPECT_EQ(ra.data_sha256, rb.data_sha256);
  EXPECT_FALSE(rb.validation_accuracy.has_value());
  b.train.pop_back();
  b.out_path = (dir_ / "c.bin").string();
  EXPECT_NE(train_classifier(b).data_sha256, ra.data_sha256);
}

TEST_F(FastTextTrainTest, SaveLoadRoundTripGivesSamePredictions) {
  TrainSpec spec = small_spec("rt.bin");
  train_classifier(spec);
  auto m1 = FastTextModel::load(spec.out_path);
  auto m2 = FastTextModel::load(spec.out_path);
  EXPECT_EQ(m1->labels(), m2->labels());
  for (const auto& ex : spec.validation) {
    auto p1 = m1->predict(ex.text, 2);
    auto p2 = m2->predict(ex.text, 2);
    ASSERT_EQ(p1.size(), p2.size());
    for (std::size_t i = 0; i < p1.size(); ++i) {
      EXPECT_EQ(p1[i].label, p2[i].label);
      EXPECT_DOUBLE_EQ(p1[i].probability, p2[i].probability);
    }
  }
}

TEST_F(FastTextTrainTest, QuantizedFtz) {
  TrainSpec spec = small_spec("q.ftz");
  TrainResult r = train_classifier(spec);
  auto model = FastTextModel::load(r.model_path);
  EXPECT_GT(accuracy(*model, spec.validation), 0.85);
}

TEST_F(FastTextTrainTest, ConcurrentPredictMatchesSerial) {
  TrainSpec spec = small_spec("mt.bin");
  train_classifier(spec);
  auto model = FastTextModel::load(spec.out_path);
  std::vector<std::string> serial;
  for (const auto& ex : spec.validation) serial.push_back(model->predict(ex.text, 1)[0].label);
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 50; ++rep) {
        for (std::size_t i = 0; i < spec.validation.size(); ++i) {
          auto p = model->predict(spec.validation[i].text, 1);
          if (p.empty() || p[0].label != serial[i]) ++mismatches[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

TEST_F(FastTextTrainTest, RejectsLabelWithWhitespaceAndEmptyData) {
  TrainSpec spec = small_spec("bad.bin");
  spec.train.push_back({"text", "two words"});
  EXPECT_THROW(train_classifier(spec), ModelError);
  spec.train.clear();
  EXPECT_THROW(train_classifier(spec), ModelError);
  // No hashed rows for word bigrams: a clear error, not fastText's division by zero.
  TrainSpec no_rows = small_spec("no_rows.bin");
  no_rows.bucket = 0;
  try {
    train_classifier(no_rows);
    ADD_FAILURE() << "trained with bucket 0";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("bucket must be positive"), std::string::npos) << e.what();
  }
}

TEST_F(FastTextTrainTest, LoadErrorsNameThePath) {
  std::string missing = (dir_ / "missing.bin").string();
  try {
    FastTextModel::load(missing);
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_THAT(e.what(), HasSubstr(missing));
  }
  std::string garbage = (dir_ / "garbage.bin").string();
  std::ofstream(garbage) << "this is not a fastText model at all";
  try {
    FastTextModel::load(garbage);
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_THAT(e.what(), HasSubstr(garbage));
  }
}

TEST_F(FastTextTrainTest, RefusesModelWithOtherFeatureVersion) {
  TrainSpec spec = small_spec("v.bin");
  spec.validation.clear();
  TrainResult r = train_classifier(spec);
  std::ofstream(r.metadata_path, std::ios::trunc) << R"({"features_version": "norm-v0"})";
  try {
    FastTextModel::load(r.model_path);
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_THAT(e.what(), HasSubstr("norm-v0"));
  }
}

TEST(Clinc150LoaderTest, LoadsFixtureAndSkipsBlankLines) {
  auto ex = load_clinc150_jsonl(std::string(TRIAGE_SOURCE_DIR) + "/tests/data/clinc_tiny.jsonl");
  ASSERT_EQ(ex.size(), 2u);
  EXPECT_EQ(ex[0].text, "what is the weather like in paris");
  EXPECT_EQ(ex[0].label, "weather");
  EXPECT_EQ(ex[1].label, "restaurant_reservation");
}

TEST(Clinc150LoaderTest, ErrorNamesFileAndLine) {
  std::string path = std::string(TRIAGE_SOURCE_DIR) + "/tests/data/clinc_bad.jsonl";
  try {
    load_clinc150_jsonl(path);
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_THAT(e.what(), HasSubstr(path + ":2"));
    EXPECT_THAT(e.what(), HasSubstr("intent"));
  }
  EXPECT_THROW(load_clinc150_jsonl("/nonexistent.jsonl"), ModelError);
}

}  // namespace
}  // namespace triage::ml
