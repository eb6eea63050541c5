#include "checks/similarity_check.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "ml/text.h"

namespace triage::checks {

namespace {

namespace json = boost::json;

// Words of the normalised text, then (ngram >= 2) adjacent word pairs joined by a space.
std::vector<std::string> terms(std::string_view text, int ngram) {
  const std::string norm = ml::normalize_text(text);
  std::vector<std::string> words;
  size_t pos = 0;
  while (pos < norm.size()) {
    size_t sp = norm.find(' ', pos);
    if (sp == std::string::npos) sp = norm.size();
    if (sp > pos) words.push_back(norm.substr(pos, sp - pos));
    pos = sp + 1;
  }
  std::vector<std::string> out = words;
  for (int n = 2; n <= ngram; ++n) {
    for (size_t i = 0; i + static_cast<size_t>(n) <= words.size(); ++i) {
      std::string t = words[i];
      for (int k = 1; k < n; ++k) t += " " + words[i + static_cast<size_t>(k)];
      out.push_back(std::move(t));
    }
  }
  return out;
}

}  // namespace

TfidfIndex::TfidfIndex(std::vector<SimilarityReference> refs, int ngram)
    : refs_(std::move(refs)), ngram_(ngram) {
  std::vector<Vec> counts;
  counts.reserve(refs_.size());
  for (const auto& r : refs_) counts.push_back(vectorize(r.text, &term_id_));
  std::vector<int> df(term_id_.size(), 0);
  for (const Vec& v : counts) {
    for (const auto& [id, c] : v) ++df[static_cast<size_t>(id)];
  }
  const double n = static_cast<double>(refs_.size());
  idf_.resize(df.size());
  for (size_t i = 0; i < df.size(); ++i) idf_[i] = std::log((1 + n) / (1 + df[i])) + 1;
  unknown_idf_ = std::log(1 + n) + 1;
  for (size_t i = 0; i < counts.size(); ++i) {
    Vec v = std::move(counts[i]);
    double norm = 0;
    for (auto& [id, w] : v) {
      w *= idf_[static_cast<size_t>(id)];
      norm += w * w;
    }
    norm = std::sqrt(norm);
    if (norm > 0) {
      for (auto& p : v) p.second /= norm;
    }
    vecs_.push_back(std::move(v));
    by_category_[refs_[i].category].push_back(i);
  }
}

TfidfIndex::Vec TfidfIndex::vectorize(std::string_view text,
                                      std::unordered_map<std::string, int>* grow) const {
  std::map<int, double> counts;
  std::unordered_map<std::string, int> unknown;  // query terms outside the vocabulary
  for (std::string& t : terms(text, ngram_)) {
    if (grow) {
      auto it = grow->emplace(std::move(t), static_cast<int>(grow->size())).first;
      counts[it->second] += 1;
    } else if (auto it = term_id_.find(t); it != term_id_.end()) {
      counts[it->second] += 1;
    } else {
      auto u = unknown.emplace(std::move(t), -1 - static_cast<int>(unknown.size())).first;
      counts[u->second] += 1;
    }
  }
  return Vec(counts.begin(), counts.end());
}

TfidfIndex::Match TfidfIndex::best(std::string_view text, const std::string& category) const {
  Match m;
  const std::vector<size_t>* candidates = nullptr;
  std::vector<size_t> all;
  if (!category.empty()) {
    if (auto it = by_category_.find(category); it != by_category_.end()) {
      candidates = &it->second;
    }
  }
  if (!candidates) {
    m.fallback = !category.empty();
    all.resize(refs_.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = i;
    candidates = &all;
  }
  if (candidates->empty()) return m;
  m.any = true;
  Vec q = vectorize(text, nullptr);
  double norm = 0;
  for (auto& [id, w] : q) {
    w *= id >= 0 ? idf_[static_cast<size_t>(id)] : unknown_idf_;
    norm += w * w;
  }
  norm = std::sqrt(norm);
  if (norm == 0) return m;
  m.index = candidates->front();
  for (size_t i : *candidates) {
    const Vec& r = vecs_[i];
    double dot = 0;
    size_t a = 0, b = 0;
    while (a < q.size() && b < r.size()) {
      if (q[a].first < r[b].first) {
        ++a;
      } else if (r[b].first < q[a].first) {
        ++b;
      } else {
        dot += q[a++].second * r[b++].second;
      }
    }
    const double cos = dot / norm;
    if (cos > m.cosine) {
      m.cosine = cos;
      m.index = i;
    }
  }
  m.cosine = std::min(m.cosine, 1.0);
  return m;
}

std::vector<SimilarityReference> read_references(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<SimilarityReference> out;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    const json::object* o = ec ? nullptr : v.if_object();
    if (!o) throw std::runtime_error(path + ":" + std::to_string(n) + ": not a JSON object");
    const json::value* text = o->if_contains("text");
    if (!text || !text->is_string()) {
      throw std::runtime_error(path + ":" + std::to_string(n) + ": no string \"text\"");
    }
    SimilarityReference r;
    r.text = std::string(text->as_string());
    if (const json::value* c = o->if_contains("category"); c && c->is_string()) {
      r.category = std::string(c->as_string());
    }
    out.push_back(std::move(r));
  }
  if (out.empty()) throw std::runtime_error(path + ": no references");
  return out;
}

routes::Verdict SimilarityCheck::evaluate(const core::ChatRequest& req,
                                          const core::Completion& answer) const {
  const TfidfIndex::Match m = index_->best(ml::model_text(answer.content), req.meta.category);
  const double min = knob_.get();
  if (!m.any) return routes::Verdict{false, 0.0, "no references to compare with"};
  const bool pass = m.cosine >= min;
  char buf[160];
  std::snprintf(buf, sizeof buf, "max cosine %.3f %s %.3f (reference %zu%s)", m.cosine,
                pass ? ">=" : "<", min, m.index + 1,
                m.fallback ? ", no references for the category" : "");
  return routes::Verdict{pass, m.cosine, buf};
}

std::unique_ptr<routes::Check> make_similarity_check(config::MapReader& cfg, const routes::CheckContext& /*ctx*/) {
  cfg.only({"type", "references", "min", "ngram"});
  config::Field refs_field = cfg["references"];
  std::filesystem::path path = refs_field.as<std::string>();
  if (path.is_relative() && !cfg.file().empty()) {
    path = std::filesystem::path(cfg.file()).parent_path() / path;
  }
  const double min = cfg["min"].get<double>(0.3, config::Range::between(0, 1));
  const int ngram = cfg["ngram"].get<int>(1, config::Range::between(1, 2));
  std::vector<SimilarityReference> refs;
  try {
    refs = read_references(path.lexically_normal().string());
  } catch (const std::exception& e) {
    refs_field.fail(e.what());
  }
  auto index = std::make_shared<const TfidfIndex>(std::move(refs), ngram);
  return std::make_unique<SimilarityCheck>(std::move(index), min);
}

}  // namespace triage::checks
