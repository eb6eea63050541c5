#include "routes/classify_route.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "config/yaml_util.h"
#include "ml/text.h"
#include "providers/local.h"
#include "routes/eligibility.h"
#include "routes/kind_util.h"
#include "routes/route_table.h"

namespace triage::routes {

std::string_view band_name(Band b) {
  switch (b) {
    case Band::kUse:
      return "use";
    case Band::kFlag:
      return "flag";
    case Band::kEscalate:
      break;
  }
  return "escalate";
}

ClassifyRoute::ClassifyRoute(std::string name, std::shared_ptr<const ml::FastTextModel> model,
                             const ml::FastTextModel* borrowed_model,
                             ml::IntentConfidence confidence, Bands bands,
                             std::map<std::string, Target, std::less<>> targets, Target fallback)
    : name_(std::move(name)),
      owned_model_(std::move(model)),
      model_ptr_(owned_model_ ? owned_model_.get() : borrowed_model),
      confidence_(std::move(confidence)),
      bands_(bands),
      targets_(std::move(targets)),
      default_(fallback) {}

const ClassifyRoute::Target& ClassifyRoute::target_of(const std::string& label) const {
  if (auto it = targets_.find(label); it != targets_.end()) return it->second;
  return default_;
}

ClassifyDecision ClassifyRoute::decide(std::string_view whole_text) const {
  const std::string_view text = ml::model_text(whole_text);
  ClassifyDecision d;
  const Target* t = &default_;
  auto preds = model_ptr_->predict(text, 1);
  if (!preds.empty()) {
    d.label = std::move(preds[0].label);
    d.raw_confidence = preds[0].probability;
    d.confidence = confidence_.apply(text, d.label, d.raw_confidence);
    if (auto it = targets_.find(d.label); it != targets_.end()) t = &it->second;
  }
  d.band = band_of(d.confidence, bands_);
  d.predicted = t->route;
  d.chosen = t->route;
  if (d.band == Band::kEscalate && t->escalation) {
    d.chosen = t->escalation;
    d.escalated = true;
  }
  return d;
}

boost::asio::awaitable<Result<core::Completion>> ClassifyRoute::run(const core::ChatRequest& req,
                                                                    ExecContext& ctx,
                                                                    core::StreamSink* sink) {
  const SteadyTime t0 = SteadyClock::now();
  ClassifyDecision d = decide(req.last_user_text());
  // The chosen model's circuit is open or it cannot take the request: take the other choice
  // of this target (the one it escalated from, or its escalation) when that one can be called.
  std::string skipped;
  if (std::optional<Refusal> refused = d.chosen->refusal(req)) {
    Route* other = d.escalated ? d.predicted : target_of(d.label).escalation;
    if (other != nullptr && other != d.chosen && !other->refusal(req)) {
      skipped = refused->ineligible ? "skipped " + d.chosen->name() + ": " + refused->text()
                                    : "circuit open: skipped " + d.chosen->name();
      record_refusal(ctx, *refused);
      d.escalated = other != d.predicted;  // back to the prediction: no escalation happened
      d.chosen = other;
    }
  }
  const SteadyTime t1 = SteadyClock::now();

  char p[32];
  std::snprintf(p, sizeof p, "%.2f", d.confidence);
  core::Span span;
  span.kind = core::SpanKind::kRoute;
  span.name = name_;
  span.detail = "label=" + (d.label.empty() ? std::string("(none)") : d.label) + " p=" + p +
                " band=" + std::string(band_name(d.band)) + " -> " + d.chosen->name();
  if (d.escalated) span.detail += " (escalated from " + d.predicted->name() + ")";
  if (!skipped.empty()) span.detail += " (" + skipped + ")";
  span.detail += " (" + std::string(kind()) + ")";
  span.start_us = micros_between(ctx.start, t0);
  span.duration_us = micros_between(t0, t1);
  ctx.trace.routing_us += span.duration_us;
  ctx.trace.spans.push_back(std::move(span));
  ctx.trace.label = d.label;
  ctx.trace.confidence = d.confidence;
  if (d.band == Band::kFlag) {
    ctx.trace.flags.push_back(core::ReviewFlag::kFlagBand);
  } else if (d.band == Band::kEscalate) {
    ctx.trace.flags.push_back(d.escalated ? core::ReviewFlag::kEscalated
                                          : core::ReviewFlag::kLowConfidence);
  }
  co_return co_await d.chosen->run(req, ctx, sink);
}

namespace {

// Refuses a model whose metadata lists other labels than the model has.
void check_metadata_labels(const ml::FastTextModel& model, const config::Field& field) {
  const std::string meta_path = ml::metadata_path_for(model.path());
  std::ifstream in(meta_path);
  if (!in) return;
  std::stringstream buf;
  buf << in.rdbuf();
  boost::system::error_code ec;
  auto v = boost::json::parse(buf.str(), ec);
  if (ec || !v.is_object()) field.fail(meta_path + ": model metadata is not a JSON object");
  const auto* labels = v.as_object().if_contains("labels");
  if (!labels || !labels->is_array()) return;
  std::set<std::string> meta_labels, model_labels(model.labels().begin(), model.labels().end());
  for (const auto& l : labels->as_array()) {
    if (l.is_string()) meta_labels.insert(std::string(l.as_string()));
  }
  if (meta_labels != model_labels) {
    field.fail("the metadata " + meta_path + " lists " + std::to_string(meta_labels.size()) +
               " labels that do not match the " + std::to_string(model_labels.size()) +
               " labels of " + model.path() +
               " (the metadata belongs to another model; retrain "
               "it with `make models`)");
  }
}

double price_of(const config::Model& m) {
  return m.prices.input_per_mtok + m.prices.output_per_mtok + m.prices.per_call;
}

std::unique_ptr<Route> build_classify_route(const config::RouteSpec& spec, size_t,
                                            RouteTable& table) {
  const config::Config& cfg = table.config();
  config::MapReader r(spec.node, spec.path, cfg.path, spec.line);
  r.only({"name", "type", "classifier", "targets", "default", "bands", "tiers", "escalate"});

  // The classifier: a local catalog model (shared) or a model file (loaded here).
  config::Field clf_field = r["classifier"];
  const std::string clf = clf_field.as<std::string>();
  std::shared_ptr<const ml::FastTextModel> owned;
  const ml::FastTextModel* borrowed = nullptr;
  ml::IntentConfidence confidence;
  ModelRuntime* clf_runtime = table.find_model(clf);
  try {
    if (clf_runtime) {
      auto* local = dynamic_cast<providers::LocalClient*>(&clf_runtime->client());
      if (!local) {
        clf_field.fail("classifier '" + clf + "' is a catalog model with provider '" +
                       clf_runtime->model().provider +
                       "'; a classifier must be a model with "
                       "provider: local, or a fastText model file");
      }
      borrowed = &local->model();
      confidence = local->confidence();
    } else {
      const std::string path = cfg.resolve(clf);
      if (!std::filesystem::is_regular_file(path)) {
        std::vector<std::string> locals;
        for (const auto& m : cfg.models) {
          if (m.provider == "local") locals.push_back(m.name);
        }
        clf_field.fail("classifier '" + clf +
                       "' is neither a catalog model nor an existing "
                       "model file (" +
                       path + ")" + config::suggest(clf, locals));
      }
      owned = ml::FastTextModel::load(path);
      confidence = ml::IntentConfidence::for_model(path);
    }
  } catch (const ml::ModelError& e) {
    clf_field.fail(e.what());
  }
  const ml::FastTextModel& model = owned ? *owned : *borrowed;
  check_metadata_labels(model, clf_field);

  // Bands.
  Bands bands;
  config::Field bands_field = r["bands"];
  {
    config::MapReader b = bands_field.map();
    b.only({"use", "flag"});
    config::Field use = b["use"];
    config::Field flag = b["flag"];
    bands.use = use.get<double>(bands.use, config::Range::between(0, 1));
    bands.flag = flag.get<double>(bands.flag, config::Range::between(0, 1));
    if (bands.flag > bands.use) {
      char msg[96];
      std::snprintf(msg, sizeof msg, "bands out of order: flag (%g) must be <= use (%g)",
                    bands.flag, bands.use);
      (flag.present() ? flag : use).fail(msg);
    }
  }

  // Tiers, cheapest first.
  config::Field tiers_field = r["tiers"];
  const std::vector<std::string> tiers = tiers_field.get<std::vector<std::string>>(cfg.tiers);
  if (tiers.empty()) tiers_field.fail("tiers must not be empty");
  for (std::size_t i = 0; i < tiers.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (tiers[i] == tiers[j]) tiers_field.fail("tier '" + tiers[i] + "' is listed twice");
    }
  }
  auto tier_pos = [&](std::string_view t) -> int {
    for (std::size_t i = 0; i < tiers.size(); ++i) {
      if (tiers[i] == t) return static_cast<int>(i);
    }
    return -1;
  };

  // Targets (label or tier name -> route).
  std::vector<std::string> keys_known = model.labels();
  keys_known.insert(keys_known.end(), tiers.begin(), tiers.end());
  std::vector<std::pair<std::string, config::Field>> target_fields = r["targets"].map().entries();
  std::map<std::string, Route*, std::less<>> by_key;
  for (const auto& [key, field] : target_fields) {
    if (std::find(keys_known.begin(), keys_known.end(), key) == keys_known.end()) {
      field.fail("'" + key + "' is neither a label of the classifier " + model.path() +
                 " nor a tier" + config::suggest(key, keys_known));
    }
    by_key[key] = &resolve_child(table, field);
  }
  config::Field default_field = r["default"];
  Route& fallback_route = resolve_child(table, default_field);
  config::Field escalate_field = r["escalate"];
  Route* escalate = escalate_field.present() ? &resolve_child(table, escalate_field) : nullptr;

  // One tier up from each target, resolved now.
  auto escalation_for = [&](const std::string& key, Route& route,
                            const config::Field& field) -> Route* {
    if (escalate) return escalate == &route ? nullptr : escalate;
    std::string tier;
    if (const config::Model* m = cfg.find_model(route.name())) {
      tier = m->tier;
    } else if (tier_pos(key) >= 0) {
      tier = key;
    } else {
      field.fail("cannot tell the tier of route '" + route.name() +
                 "' (not a catalog model, and '" + key +
                 "' is not a tier name) to escalate from it; set 'escalate: ROUTE'");
    }
    const int at = tier_pos(tier);
    if (at < 0) {
      field.fail("the tier '" + tier + "' of '" + route.name() + "' is not in the tiers " +
                 "of this route" + config::suggest(tier, tiers) + "; set 'tiers' or 'escalate'");
    }
    for (std::size_t j = static_cast<std::size_t>(at) + 1; j < tiers.size(); ++j) {
      if (auto it = by_key.find(tiers[j]); it != by_key.end()) return it->second;
      const config::Model* cheapest = nullptr;
      for (const auto& m : cfg.models) {
        if (m.tier == tiers[j] && (!cheapest || price_of(m) < price_of(*cheapest))) cheapest = &m;
      }
      if (cheapest) return table.find(cheapest->name);
    }
    return nullptr;  // already the top tier
  };
  std::map<std::string, ClassifyRoute::Target, std::less<>> targets;
  for (const auto& [key, field] : target_fields) {
    Route& route = *by_key.at(key);
    targets[key] = ClassifyRoute::Target{&route, escalation_for(key, route, field)};
  }
  ClassifyRoute::Target fallback{&fallback_route,
                                 escalation_for("", fallback_route, default_field)};
  return std::make_unique<ClassifyRoute>(spec.name, std::move(owned), borrowed,
                                         std::move(confidence), bands, std::move(targets),
                                         fallback);
}

}  // namespace

EvalFamily ClassifyRoute::eval_family() {
  return IntentBandsEval{[this](std::string_view text) { return decide(text); }, bands_,
                         confidence_.method_name()};
}

void register_classify_kind() { RouteTable::register_kind("classify", build_classify_route); }

}  // namespace triage::routes
