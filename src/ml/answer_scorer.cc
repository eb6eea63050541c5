#include "ml/answer_scorer.h"

#include <re2/re2.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>

#include "ml/arithmetic.h"
#include "ml/ascii.h"
#include "ml/model_metadata.h"
#include "ml/text.h"
#include "ml/threshold_scorer.h"

namespace triage::ml {

const char kFinalAnswerPattern[] =
    R"((?i)(?:####\s*|the (?:final )?answer is:?\s*|\\boxed\{)\$?(-?[0-9][0-9,]*(?:\.[0-9]+)?|[^\s.,]+))";

namespace {

namespace json = boost::json;

// Bucket index of `v` against ascending upper bounds: the first bound v is below, or the count.
int bucket(int64_t v, std::initializer_list<int64_t> bounds) {
  int i = 0;
  for (int64_t b : bounds) {
    if (v < b) return i;
    ++i;
  }
  return i;
}

const RE2& final_answer_re() {
  static const RE2 re(kFinalAnswerPattern);
  return re;
}

}  // namespace

std::string ScorerFeatures::name() const {
  std::string out;
  auto add = [&](bool on, const char* part) {
    if (!on) return;
    if (!out.empty()) out += '+';
    out += part;
  };
  add(cheap, "cheap");
  add(prompt, "prompt");
  add(response, "response");
  return out;
}

std::optional<ScorerFeatures> ScorerFeatures::parse(std::string_view name) {
  ScorerFeatures f{false, false, false};
  while (!name.empty()) {
    const auto plus = name.find('+');
    const std::string_view part = name.substr(0, plus);
    if (part == "cheap" && !f.cheap) {
      f.cheap = true;
    } else if (part == "prompt" && !f.prompt) {
      f.prompt = true;
    } else if (part == "response" && !f.response) {
      f.response = true;
    } else {
      return std::nullopt;
    }
    if (plus == std::string_view::npos) break;
    name.remove_prefix(plus + 1);
    if (name.empty()) return std::nullopt;  // trailing '+'
  }
  if (!f.cheap && !f.prompt && !f.response) return std::nullopt;
  return f;
}

std::string cheap_feature_tokens(std::string_view response) {
  std::string out;
  re2::StringPiece input(response.data(), response.size());
  out += RE2::PartialMatch(input, final_answer_re()) ? "zzans1" : "zzans0";

  const auto steps = find_arithmetic(response);
  const auto wrong = std::count_if(steps.begin(), steps.end(), [](const auto& s) { return !s.ok; });
  out += steps.empty() ? " zzarnone" : wrong > 0 ? " zzarbad" : " zzarok";
  out +=
      " zzsteps" + std::to_string(bucket(static_cast<int64_t>(steps.size()), {1, 2, 3, 4, 6, 9}));

  int64_t lines = 0;
  bool blank = true;
  for (char c : response) {
    if (c == '\n') {
      lines += blank ? 0 : 1;
      blank = true;
    } else if (!is_c_space(c)) {
      blank = false;
    }
  }
  lines += blank ? 0 : 1;
  out += " zzlines" + std::to_string(bucket(lines, {2, 3, 4, 6, 9, 13}));
  out += " zzlen" + std::to_string(bucket(static_cast<int64_t>(response.size()),
                                          {100, 200, 300, 450, 650, 900, 1300}));

  std::size_t end = response.size();
  while (end > 0 && is_c_space(response[end - 1])) --end;
  char cls = 'p';
  if (end == 0) {
    cls = 'n';
  } else if (is_ascii_digit(response[end - 1])) {
    cls = 'd';
  } else if (is_ascii_alpha(response[end - 1])) {
    cls = 'w';
  }
  out += " zzend";
  out += cls;
  return out;
}

std::string scorer_feature_text(std::string_view prompt, std::string_view response,
                                const ScorerFeatures& f) {
  std::string out;
  if (f.cheap) out = cheap_feature_tokens(response);
  auto append = [&](std::string_view text) {
    if (!out.empty()) out += ' ';
    out.append(text);
  };
  if (f.prompt) append(prompt);
  if (f.response) append(response);
  return out;
}

std::shared_ptr<const AnswerScorer> AnswerScorer::load(const std::string& model_path) {
  auto s = std::make_shared<AnswerScorer>();
  s->path_ = model_path;
  s->model_ = FastTextModel::load(model_path);  // throws ModelError naming the path
  const std::string meta_path = metadata_path_for(model_path);
  const json::object block = read_metadata_block(
      model_path,
      {"scorer", "scorer", "scorer", "an answer scorer", "triage train cascade-scorer"});
  try {
    const auto* label = block.if_contains("positive_label");
    if (!label || !label->is_string()) throw std::invalid_argument("scorer.positive_label");
    s->positive_label_ = std::string(label->as_string());
    const auto* features = block.if_contains("features");
    if (!features || !features->is_string()) throw std::invalid_argument("scorer.features");
    auto parsed = ScorerFeatures::parse(features->as_string());
    if (!parsed) {
      throw std::invalid_argument("scorer.features \"" + std::string(features->as_string()) +
                                  "\" (expected parts cheap, prompt, response joined by '+')");
    }
    s->features_ = *parsed;
    if (const auto* cal = block.if_contains("calibration"); cal && cal->is_object()) {
      const auto* a = cal->as_object().if_contains("a");
      const auto* b = cal->as_object().if_contains("b");
      if (!a || !b) throw std::invalid_argument("scorer.calibration.{a,b}");
      s->platt_a_ = json_number(*a);
      s->platt_b_ = json_number(*b);
    }
  } catch (const std::exception& e) {
    throw ModelError(meta_path + ": bad scorer metadata: " + e.what());
  }
  require_positive_label(*s->model_, s->positive_label_, model_path, "scorer");
  return s;
}

double AnswerScorer::raw_score(std::string_view prompt, std::string_view response) const {
  const std::string text = scorer_feature_text(model_text(prompt), model_text(response), features_);
  return label_probability(*model_, text, positive_label_, /*if_no_prediction=*/0.5);
}

double AnswerScorer::score(std::string_view prompt, std::string_view response) const {
  // Strictly below 1, so that threshold 1 escalates every answer.
  return std::min(platt(raw_score(prompt, response), platt_a_, platt_b_), 1.0 - 1e-9);
}

}  // namespace triage::ml
