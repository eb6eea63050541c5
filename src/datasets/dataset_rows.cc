#include "datasets/dataset_rows.h"

#include <fmt/format.h>

#include <cmath>
#include <openssl/evp.h>

#include <boost/json.hpp>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "ml/fasttext_model.h"

namespace triage::datasets {

std::optional<double> parse_number_cell(const CsvCell& cell) {
  if (!cell) return std::nullopt;
  std::string_view s = *cell;
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s == "True" || s == "true") return 1.0;
  if (s == "False" || s == "false") return 0.0;
  double v = 0.0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  // from_chars also reads "nan" and "inf": not a grade or a cost (found by fuzz_csv).
  if (!std::isfinite(v)) return std::nullopt;
  return v;
}

std::string file_sha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ml::ModelError("cannot read " + path);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  char buf[1 << 16];
  while (in) {
    in.read(buf, sizeof buf);
    EVP_DigestUpdate(ctx, buf, static_cast<std::size_t>(in.gcount()));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, digest, &len);
  EVP_MD_CTX_free(ctx);
  std::string out;
  for (unsigned int i = 0; i < len; ++i) out += fmt::format("{:02x}", digest[i]);
  return out;
}

std::string eval_dataset_sha256(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) {
    throw std::runtime_error("dataset " + path + " does not exist");
  }
  return file_sha256(path);
}

std::optional<std::size_t> category_column(const CsvTable& table) {
  auto c = table.column("subject");
  if (!c) c = table.column("category");
  return c;
}

std::vector<std::string> routerbench_models(const std::vector<std::string>& header) {
  const std::size_t n = kModelScoreSuffix.size();
  std::vector<std::string> out;
  for (const auto& h : header) {
    if (h.size() > n && h.compare(h.size() - n, n, kModelScoreSuffix) == 0) {
      out.push_back(h.substr(0, h.size() - n));
    }
  }
  return out;
}

TrainedSplit read_trained_split(const std::string& model_path,
                                std::initializer_list<std::string_view> blocks) {
  TrainedSplit out;
  std::ifstream in(ml::metadata_path_for(model_path));
  std::stringstream buf;
  buf << in.rdbuf();
  boost::system::error_code ec;
  auto v = boost::json::parse(buf.str(), ec);
  if (ec || !v.is_object()) return out;
  const boost::json::value* block = nullptr;
  for (std::string_view name : blocks) {
    block = v.as_object().if_contains(name);
    if (block) break;
  }
  if (!block || !block->is_object()) return out;
  const auto& b = block->as_object();
  if (const auto* s = b.if_contains("split"); s && s->is_object()) {
    out.rule = SplitRule::from_json(s->as_object());
  }
  if (const auto* h = b.if_contains("data_file_sha256"); h && h->is_string()) {
    out.trained_sha256.emplace_back(h->as_string());
  }
  if (const auto* f = b.if_contains("data_files"); f && f->is_array()) {
    for (const auto& d : f->as_array()) {
      if (const auto* h = d.as_object().if_contains("sha256"); h && h->is_string()) {
        out.trained_sha256.emplace_back(h->as_string());
      }
    }
  }
  return out;
}

std::optional<SplitRule> eval_split(const std::string& split_option, const TrainedSplit& trained,
                                    const std::string& dataset_sha256, std::string_view whose) {
  if (split_option == "all") return std::nullopt;
  if (split_option == "test" && !trained.rule) {
    throw std::runtime_error("--split test: the route has no " + std::string(whose) +
                             " metadata with a split rule");
  }
  bool trained_here = false;
  for (const auto& h : trained.trained_sha256) trained_here = trained_here || h == dataset_sha256;
  if (trained.rule && (split_option == "test" || trained_here)) return trained.rule;
  return std::nullopt;
}

std::string split_description(const std::optional<SplitRule>& split, std::string_view whose) {
  if (!split) return "none (all rows)";
  return "test part of the " + std::string(whose) + "'s split (" + split->key_column +
         " hash, seed " + std::to_string(split->seed) + ")";
}

EvalRows select_eval_rows(const CsvTable& table, std::size_t prompt_col,
                          const std::optional<SplitRule>& split, bool train_part) {
  EvalRows out;
  const std::optional<std::size_t> key_opt = split ? table.column(split->key_column) : std::nullopt;
  const bool has_key = key_opt.has_value();
  const std::size_t key_idx = key_opt.value_or(0);
  for (const auto& r : table.rows) {
    if (!r[prompt_col]) {
      ++out.missing_prompt;
      continue;
    }
    if (split) {
      const std::string& key = has_key && r[key_idx] ? *r[key_idx] : *r[prompt_col];
      if ((split->part(key) == SplitPart::kTest) == train_part) {
        ++out.excluded_train;
        continue;
      }
    }
    out.rows.push_back(&r);
  }
  return out;
}

}  // namespace triage::datasets
