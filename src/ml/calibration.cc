#include "ml/calibration.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <fstream>
#include <numeric>
#include <sstream>

#include "ml/fasttext_model.h"
#include "ml/logistic.h"

namespace triage::ml {
namespace {

double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

void check_inputs(const std::vector<double>& scores, const std::vector<bool>& correct) {
  if (scores.empty()) throw ModelError("calibration: no held-out predictions to fit on");
  if (scores.size() != correct.size()) {
    throw ModelError("calibration: scores and outcomes differ in length");
  }
}

double number(const boost::json::value& v, const std::string& where) {
  if (v.is_double()) return v.as_double();
  if (v.is_int64()) return static_cast<double>(v.as_int64());
  if (v.is_uint64()) return static_cast<double>(v.as_uint64());
  throw ModelError(where + ": expected a number");
}

std::vector<double> numbers(const boost::json::object& o, std::string_view key,
                            const std::string& where) {
  const auto* v = o.if_contains(key);
  if (!v || !v->is_array())
    throw ModelError(where + ": calibration." + std::string(key) + " must be an array of numbers");
  std::vector<double> out;
  for (const auto& x : v->as_array())
    out.push_back(number(x, where + ": calibration." + std::string(key)));
  return out;
}

}  // namespace

Calibrator Calibrator::fit_isotonic(const std::vector<double>& scores,
                                    const std::vector<bool>& correct, int min_block) {
  check_inputs(scores, correct);
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  // Pool adjacent violators. Equal raw scores start in one block (they must map to one value).
  struct Block {
    double sum_x = 0, sum_y = 0;
    double n = 0;
    double mean() const { return sum_y / n; }
  };
  std::vector<Block> blocks;
  double last_x = -1.0;
  for (std::size_t i : order) {
    const double x = std::clamp(scores[i], 0.0, 1.0);
    const double y = correct[i] ? 1.0 : 0.0;
    if (!blocks.empty() && x == last_x) {
      blocks.back().sum_x += x;
      blocks.back().sum_y += y;
      blocks.back().n += 1;
    } else {
      blocks.push_back({x, y, 1});
    }
    last_x = x;
    while (blocks.size() > 1 && blocks[blocks.size() - 2].mean() >= blocks.back().mean()) {
      Block b = blocks.back();
      blocks.pop_back();
      blocks.back().sum_x += b.sum_x;
      blocks.back().sum_y += b.sum_y;
      blocks.back().n += b.n;
    }
  }
  if (min_block > 1) {
    std::vector<Block> merged;
    for (const auto& b : blocks) {
      if (!merged.empty() && merged.back().n < min_block) {
        merged.back().sum_x += b.sum_x;
        merged.back().sum_y += b.sum_y;
        merged.back().n += b.n;
      } else {
        merged.push_back(b);
      }
    }
    if (merged.size() > 1 && merged.back().n < min_block) {
      Block last = merged.back();
      merged.pop_back();
      merged.back().sum_x += last.sum_x;
      merged.back().sum_y += last.sum_y;
      merged.back().n += last.n;
    }
    blocks = std::move(merged);
  }
  Calibrator c;
  c.method_ = Method::kIsotonic;
  for (const auto& b : blocks) {
    c.xs_.push_back(b.sum_x / b.n);
    c.ys_.push_back(b.mean());
  }
  return c;
}

Calibrator Calibrator::fit_platt(const std::vector<double>& scores,
                                 const std::vector<bool>& correct) {
  check_inputs(scores, correct);
  // Platt's smoothed targets keep a and b finite on separable data.
  double n_pos = 0, n_neg = 0;
  for (bool y : correct) (y ? n_pos : n_neg) += 1;
  const double t_pos = (n_pos + 1) / (n_pos + 2), t_neg = 1 / (n_neg + 2);
  double a = 1.0, b = 0.0;
  for (int iter = 0; iter < 100; ++iter) {
    double g_a = 0, g_b = 0, h_aa = 1e-9, h_ab = 0, h_bb = 1e-9;
    for (std::size_t i = 0; i < scores.size(); ++i) {
      const double z = logit(scores[i]);
      const double p = sigmoid(a * z + b);
      const double t = correct[i] ? t_pos : t_neg;
      const double w = std::max(p * (1 - p), 1e-12);
      g_a += (p - t) * z;
      g_b += (p - t);
      h_aa += w * z * z;
      h_ab += w * z;
      h_bb += w;
    }
    const double det = h_aa * h_bb - h_ab * h_ab;
    if (std::abs(det) < 1e-18) break;
    const double da = (h_bb * g_a - h_ab * g_b) / det;
    const double db = (h_aa * g_b - h_ab * g_a) / det;
    a -= da;
    b -= db;
    if (std::abs(da) < 1e-10 && std::abs(db) < 1e-10) break;
  }
  Calibrator c;
  c.method_ = Method::kPlatt;
  c.a_ = a;
  c.b_ = b;
  return c;
}

double Calibrator::apply(double p) const {
  if (std::isnan(p)) return 0.0;
  p = std::clamp(p, 0.0, 1.0);
  switch (method_) {
    case Method::kIdentity:
      return p;
    case Method::kPlatt:
      return sigmoid(a_ * logit(p) + b_);
    case Method::kIsotonic: {
      if (xs_.empty()) return p;
      if (p <= xs_.front()) return ys_.front();
      if (p >= xs_.back()) return ys_.back();
      const auto it = std::upper_bound(xs_.begin(), xs_.end(), p);
      const std::size_t hi = static_cast<std::size_t>(it - xs_.begin());
      const std::size_t lo = hi - 1;
      const double t = (p - xs_[lo]) / (xs_[hi] - xs_[lo]);
      return ys_[lo] + t * (ys_[hi] - ys_[lo]);
    }
  }
  return p;
}

std::string Calibrator::method_name() const {
  switch (method_) {
    case Method::kIsotonic:
      return "isotonic";
    case Method::kPlatt:
      return "platt";
    case Method::kIdentity:
      break;
  }
  return "identity";
}

boost::json::object Calibrator::to_json() const {
  boost::json::object o;
  o["method"] = method_name();
  o["target"] = "top1";  // calibrates the top-1 probability against top-1 correctness
  if (method_ == Method::kIsotonic) {
    boost::json::array x, y;
    for (double v : xs_) x.emplace_back(v);
    for (double v : ys_) y.emplace_back(v);
    o["x"] = std::move(x);
    o["y"] = std::move(y);
  } else if (method_ == Method::kPlatt) {
    o["a"] = a_;
    o["b"] = b_;
  }
  return o;
}

Calibrator Calibrator::from_json(const boost::json::value& v, const std::string& where) {
  if (!v.is_object()) throw ModelError(where + ": \"calibration\" must be an object");
  const auto& o = v.as_object();
  const auto* m = o.if_contains("method");
  if (!m || !m->is_string()) throw ModelError(where + ": calibration.method is missing");
  Calibrator c;
  const std::string method(m->as_string());
  if (method == "identity") return c;
  if (method == "platt") {
    const auto* a = o.if_contains("a");
    const auto* b = o.if_contains("b");
    if (!a || !b) throw ModelError(where + ": platt calibration needs \"a\" and \"b\"");
    c.method_ = Method::kPlatt;
    c.a_ = number(*a, where + ": calibration.a");
    c.b_ = number(*b, where + ": calibration.b");
    if (c.a_ < 0)
      throw ModelError(where + ": calibration.a < 0 would reverse the confidence order");
    return c;
  }
  if (method != "isotonic") {
    throw ModelError(where + ": unknown calibration.method \"" + method +
                     "\" (known: isotonic, platt, identity)");
  }
  c.method_ = Method::kIsotonic;
  c.xs_ = numbers(o, "x", where);
  c.ys_ = numbers(o, "y", where);
  if (c.xs_.empty() || c.xs_.size() != c.ys_.size()) {
    throw ModelError(where +
                     ": calibration.x and calibration.y must be non-empty and of equal "
                     "length");
  }
  for (std::size_t i = 0; i < c.xs_.size(); ++i) {
    if (c.ys_[i] < 0 || c.ys_[i] > 1) throw ModelError(where + ": calibration.y outside 0..1");
    if (i > 0 && (c.xs_[i] <= c.xs_[i - 1] || c.ys_[i] < c.ys_[i - 1])) {
      throw ModelError(where +
                       ": calibration.x must increase and calibration.y must not "
                       "decrease");
    }
  }
  return c;
}

Calibrator Calibrator::for_model(const std::string& model_path) {
  const std::string meta_path = metadata_path_for(model_path);
  std::ifstream in(meta_path);
  if (!in) return Calibrator();
  std::stringstream buf;
  buf << in.rdbuf();
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(buf.str(), ec);
  if (ec || !v.is_object()) throw ModelError(meta_path + ": model metadata is not a JSON object");
  const auto* cal = v.as_object().if_contains("calibration");
  if (!cal || cal->is_null()) return Calibrator();
  return from_json(*cal, meta_path);
}

std::vector<ReliabilityBin> reliability_table(const std::vector<double>& confidence,
                                              const std::vector<bool>& correct, int bins) {
  bins = std::max(1, bins);
  std::vector<ReliabilityBin> out(static_cast<std::size_t>(bins));
  std::vector<double> sum_conf(out.size(), 0.0), sum_right(out.size(), 0.0);
  for (std::size_t b = 0; b < out.size(); ++b) {
    out[b].lo = static_cast<double>(b) / bins;
    out[b].hi = static_cast<double>(b + 1) / bins;
  }
  const std::size_t n = std::min(confidence.size(), correct.size());
  for (std::size_t i = 0; i < n; ++i) {
    const double c = std::clamp(confidence[i], 0.0, 1.0);
    auto b = static_cast<std::size_t>(c * bins);
    if (b >= out.size()) b = out.size() - 1;
    ++out[b].n;
    sum_conf[b] += c;
    sum_right[b] += correct[i] ? 1.0 : 0.0;
  }
  for (std::size_t b = 0; b < out.size(); ++b) {
    if (out[b].n == 0) continue;
    out[b].mean_confidence = sum_conf[b] / static_cast<double>(out[b].n);
    out[b].accuracy = sum_right[b] / static_cast<double>(out[b].n);
  }
  return out;
}

double expected_calibration_error(const std::vector<double>& confidence,
                                  const std::vector<bool>& correct, int bins) {
  const std::size_t n = std::min(confidence.size(), correct.size());
  if (n == 0) return 0.0;
  double ece = 0.0;
  for (const auto& b : reliability_table(confidence, correct, bins)) {
    ece += static_cast<double>(b.n) / static_cast<double>(n) *
           std::abs(b.accuracy - b.mean_confidence);
  }
  return ece;
}

}  // namespace triage::ml
