#include "routes/threshold_route.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "common/csv.h"
#include "config/yaml_util.h"
#include "ml/model_metadata.h"
#include "routes/route_table.h"

namespace triage::routes {

namespace {

const boost::json::value* member(const boost::json::object& o, std::string_view key) {
  return o.if_contains(key);
}

std::string fmt_score(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", p);
  return buf;
}

}  // namespace

std::string router_feature_text(std::string_view prompt, std::string_view category,
                                bool use_category) {
  std::string out;
  if (use_category && !category.empty()) {
    out = "zzcat";
    for (char c : category) {
      unsigned char u = static_cast<unsigned char>(c);
      if (std::isalnum(u)) out.push_back(static_cast<char>(std::tolower(u)));
    }
    out.push_back(' ');
  }
  out.append(prompt);
  return out;
}

double platt(double p, double a, double b) {
  p = std::clamp(p, 1e-6, 1.0 - 1e-6);
  const double z = a * std::log(p / (1.0 - p)) + b;
  return 1.0 / (1.0 + std::exp(-z));
}

std::shared_ptr<const ThresholdScorer> ThresholdScorer::load(const std::string& model_path) {
  auto s = std::make_shared<ThresholdScorer>();
  s->path_ = model_path;
  s->model_ = ml::FastTextModel::load(model_path);  // throws ModelError naming the path
  const std::string meta_path = ml::metadata_path_for(model_path);
  const boost::json::object router = ml::read_metadata_block(
      model_path, {"router", "router", "scorer", "a router scorer", "triage train router"});
  try {
    const auto* label = member(router, "positive_label");
    if (!label || !label->is_string()) throw std::invalid_argument("router.positive_label");
    s->positive_label_ = std::string(label->as_string());
    const auto* features = member(router, "features");
    if (!features || !features->is_string()) throw std::invalid_argument("router.features");
    if (features->as_string() == "category+prompt") {
      s->use_category_ = true;
    } else if (features->as_string() != "prompt") {
      throw std::invalid_argument("router.features (expected \"prompt\" or \"category+prompt\")");
    }
    if (const auto* cal = member(router, "calibration"); cal && cal->is_object()) {
      const auto& c = cal->as_object();
      const auto* a = member(c, "a");
      const auto* b = member(c, "b");
      if (!a || !b) throw std::invalid_argument("router.calibration.{a,b}");
      s->platt_a_ = ml::json_number(*a);
      s->platt_b_ = ml::json_number(*b);
      if (const auto* cw = member(c, "c")) s->category_weight_ = ml::json_number(*cw);
    }
    if (const auto* cr = member(router, "category_rates"); cr && cr->is_object()) {
      for (const auto& [k, v] : cr->as_object()) {
        s->category_rates_[std::string(k)] = ml::json_number(v);
      }
      const auto* prior = member(router, "category_prior");
      if (!prior) throw std::invalid_argument("router.category_prior");
      s->category_prior_ = ml::json_number(*prior);
    } else if (s->category_weight_ != 0.0) {
      throw std::invalid_argument("router.calibration.c without router.category_rates");
    }
    if (const auto* g = member(router, "gain"); g && g->is_object()) {
      s->gain_ = ml::load_gain_router(g->as_object(), model_path);
    } else if (const auto* kind = member(router, "scorer");
               kind && kind->is_string() && kind->as_string() == "gain") {
      throw std::invalid_argument("router.scorer is \"gain\" but router.gain is missing");
    }
    if (const auto* vs = member(router, "validation_scores"); vs && vs->is_array()) {
      for (const auto& x : vs->as_array()) s->validation_scores_.push_back(ml::json_number(x));
    }
  } catch (const std::exception& e) {
    throw ml::ModelError(meta_path + ": bad router metadata: " + e.what());
  }
  ml::require_positive_label(*s->model_, s->positive_label_, model_path, "router");
  return s;
}

double ThresholdScorer::raw_score(std::string_view prompt, std::string_view category) const {
  return ml::label_probability(*model_, router_feature_text(prompt, category, use_category_),
                               positive_label_, /*if_no_prediction=*/0.5);
}

double ThresholdScorer::category_rate(std::string_view category) const {
  auto it = category_rates_.find(category);
  return it == category_rates_.end() ? category_prior_ : it->second;
}

double ThresholdScorer::score(std::string_view prompt, std::string_view category) const {
  if (gain_) return gain_->score(prompt, category);
  double b = platt_b_;
  if (category_weight_ != 0.0) {
    const double r = std::clamp(category_rate(category), 1e-6, 1.0 - 1e-6);
    b += category_weight_ * std::log(r / (1.0 - r));
  }
  return platt(raw_score(prompt, category), platt_a_, b);
}

double threshold_for_share(std::vector<double> scores, double share) {
  if (scores.empty()) return 0.5;
  std::sort(scores.begin(), scores.end(), std::greater<>());
  share = std::clamp(share, 0.0, 1.0);
  const auto k = static_cast<std::size_t>(std::llround(share * static_cast<double>(scores.size())));
  if (k == 0) return scores.front();
  if (k >= scores.size()) return -1.0;
  return scores[k];  // the top k are > scores[k] unless they tie with it
}

ThresholdRoute::ThresholdRoute(std::string name, std::shared_ptr<const ThresholdScorer> scorer,
                               Route& weak, Route& strong, double threshold)
    : name_(std::move(name)),
      scorer_(std::move(scorer)),
      weak_(weak),
      strong_(strong),
      threshold_(threshold) {}

double ThresholdRoute::score(const core::ChatRequest& req) const {
  return scorer_->score(req.last_user_text(), req.meta.category);
}

boost::asio::awaitable<Result<core::Completion>> ThresholdRoute::run(const core::ChatRequest& req,
                                                                     ExecContext& ctx,
                                                                     core::StreamSink* sink) {
  const SteadyTime t0 = SteadyClock::now();
  const double p = score(req);
  const double t = threshold();
  const Choice choice = decide(p, t);
  const SteadyTime t1 = SteadyClock::now();

  core::Span span;
  span.kind = core::SpanKind::kRoute;
  span.name = name_;
  span.detail = "p=" + fmt_score(p) + " -> " + (choice == Choice::kStrong ? "strong" : "weak") +
                " (t=" + fmt_score(t) + ", threshold/1)";
  span.start_us = micros_between(ctx.start, t0);
  span.duration_us = micros_between(t0, t1);
  ctx.trace.routing_us += span.duration_us;
  ctx.trace.spans.push_back(std::move(span));

  Route& next = choice == Choice::kStrong ? strong_ : weak_;
  co_return co_await next.run(req, ctx, sink);
}

namespace {

std::vector<double> calibration_scores(const ThresholdScorer& scorer, const std::string& path,
                                       const config::Field& where) {
  CsvTable table;
  try {
    table = read_csv_file(path);
  } catch (const CsvError& e) {
    where.fail(std::string("cannot read the calibration file: ") + e.what());
  }
  auto prompt = table.column("prompt");
  if (!prompt) {
    where.fail("calibration file " + path + " has no 'prompt' column (columns: " +
               table.columns_list() + ")");
  }
  auto category = table.column("subject");
  if (!category) category = table.column("category");
  std::vector<double> scores;
  for (const auto& row : table.rows) {
    if (!row[*prompt]) continue;  // no prompt: nothing to score (counted out, never as 0)
    std::string cat = category && row[*category] ? *row[*category] : std::string();
    scores.push_back(scorer.score(*row[*prompt], cat));
  }
  if (scores.empty()) where.fail("calibration file " + path + " has no prompts");
  return scores;
}

std::unique_ptr<Route> build_threshold_route(const config::RouteSpec& spec, size_t /*index*/,
                                             RouteTable& table) {
  const config::Config& cfg = table.config();
  config::MapReader r(spec.node, spec.path, cfg.path, spec.line);
  r.only({"name", "type", "scorer", "weak", "strong", "threshold", "strong_share",
          "calibration"});
  config::Field scorer_field = r["scorer"];
  const std::string scorer_path = cfg.resolve(scorer_field.as<std::string>());
  std::shared_ptr<const ThresholdScorer> scorer;
  try {
    scorer = ThresholdScorer::load(scorer_path);
  } catch (const ml::ModelError& e) {
    scorer_field.fail(e.what());
  }
  config::Field weak_field = r["weak"];
  config::Field strong_field = r["strong"];
  const std::string weak_name = weak_field.as<std::string>();
  const std::string strong_name = strong_field.as<std::string>();
  auto at = [&](const config::Field& f) {
    return f.file() + ":" + std::to_string(f.line()) + ": " + f.path();
  };
  Route& weak = table.child(weak_name, at(weak_field));
  Route& strong = table.child(strong_name, at(strong_field));

  config::Field threshold_field = r["threshold"];
  config::Field share_field = r["strong_share"];
  if (threshold_field.present() && share_field.present()) {
    share_field.fail("set either 'threshold' or 'strong_share', not both");
  }
  // A gain scorer's scores are differences of probabilities, in [-1, 1].
  const double lowest = scorer->gain() ? -1.0 : 0.0;
  double threshold = threshold_field.get<double>(0.5, config::Range::between(lowest, 1));
  config::Field calib_field = r["calibration"];
  if (share_field.present()) {
    const double share = share_field.as<double>(config::Range::between(0, 1));
    std::vector<double> scores;
    if (calib_field.present()) {
      scores = calibration_scores(*scorer, cfg.resolve(calib_field.as<std::string>()),
                                  calib_field);
    } else {
      scores = scorer->validation_scores();
      if (scores.empty()) {
        share_field.fail("the scorer " + scorer_path + " stores no validation scores; give a "
                         "'calibration' CSV with a 'prompt' column or set 'threshold'");
      }
    }
    threshold = threshold_for_share(std::move(scores), share);
  } else if (calib_field.present()) {
    calib_field.fail("'calibration' is only used with 'strong_share'");
  }
  return std::make_unique<ThresholdRoute>(spec.name, std::move(scorer), weak, strong, threshold);
}

}  // namespace

void register_threshold_kind() { RouteTable::register_kind("threshold", build_threshold_route); }

}  // namespace triage::routes
