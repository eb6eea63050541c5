#include "config/slo_config.h"

#include <map>
#include <set>

#include "config/config.h"
#include "config/yaml_util.h"

namespace triage::config {

std::string_view slo_scope_name(SloScope s) {
  switch (s) {
    case SloScope::kModel: return "model";
    case SloScope::kTier: return "tier";
    case SloScope::kRoute: return "route";
    case SloScope::kRouter: return "router";
  }
  return "tier";
}

namespace {

std::vector<std::string> route_names(const Config& cfg) {
  std::vector<std::string> out;
  for (const RouteSpec& r : cfg.routes) out.push_back(r.name);
  return out;
}

void need_route(const Field& f, const std::string& name, const Config& cfg) {
  if (!cfg.find_route(name)) f.fail("unknown route '" + name + "'" + suggest(name, route_names(cfg)));
}

void parse_scope(const Field& f, const Config& cfg, Slo& slo) {
  if (!f.present()) f.fail("missing required field 'scope' (one of {model: NAME}, {tier: NAME}, "
                           "{route: NAME}, {router: ROUTE})");
  MapReader r = f.map();
  r.only({"model", "tier", "route", "router"});
  int given = 0;
  for (SloScope s : {SloScope::kModel, SloScope::kTier, SloScope::kRoute, SloScope::kRouter}) {
    Field v = r[slo_scope_name(s)];
    if (!v.present()) continue;
    ++given;
    slo.scope = s;
    slo.scope_name = v.as<std::string>();
    if (s == SloScope::kModel && !cfg.find_model(slo.scope_name)) {
      std::vector<std::string> names;
      for (const Model& m : cfg.models) names.push_back(m.name);
      v.fail("unknown model '" + slo.scope_name + "'" + suggest(slo.scope_name, names));
    }
    if (s == SloScope::kTier && cfg.tier_index(slo.scope_name) < 0)
      v.fail("unknown tier '" + slo.scope_name + "'" + suggest(slo.scope_name, cfg.tiers));
    if (s == SloScope::kRoute || s == SloScope::kRouter) need_route(v, slo.scope_name, cfg);
  }
  if (given != 1) f.fail("give exactly one of model, tier, route, router");
}

SloAction parse_action(const Field& f, const Config& cfg) {
  MapReader r = f.map();
  r.only({"route", "knob", "toward", "step", "hold_s", "margin"});
  SloAction a;
  Field route = r["route"];
  a.route = route.as<std::string>();
  need_route(route, a.route, cfg);
  a.knob = r["knob"].as<std::string>();
  a.toward = r["toward"].as<double>();
  a.step = r["step"].as<double>(Range::above(0));
  a.hold_s = r["hold_s"].get<int64_t>(a.hold_s, Range::at_least(1));
  a.margin = r["margin"].get<double>(a.margin, Range::between(0, 1));
  return a;
}

}  // namespace

void parse_slos(const Field& f, Config& cfg) {
  if (!f.present()) return;
  if (!f.node().IsSequence()) f.fail("expected a list of SLOs ({name, scope, target, window_s, ...})");
  std::map<std::string, int> names;                  // name -> line
  std::map<std::pair<std::string, std::string>, std::string> knobs;  // (route, knob) -> slo
  for (const Field& item : f.items()) {
    MapReader r = item.map();
    r.only({"name", "scope", "target", "window_s", "min_requests", "mode", "action"});
    Slo slo;
    slo.line = item.line();
    slo.path = item.path();
    Field name = r["name"];
    slo.name = name.as<std::string>();
    if (auto [it, fresh] = names.emplace(slo.name, slo.line); !fresh)
      name.fail("duplicate SLO name '" + slo.name + "' (first declared at line " +
                std::to_string(it->second) + ")");
    parse_scope(r["scope"], cfg, slo);
    Field target = r["target"];
    slo.target = target.as<double>(Range::between(0, 1));
    if (slo.target <= 0) target.fail("must be > 0, got 0");
    slo.window_s = r["window_s"].get<int64_t>(slo.window_s, Range::at_least(1));
    slo.min_requests = r["min_requests"].get<int64_t>(slo.min_requests, Range::at_least(1));
    slo.observe = r["mode"].one_of({"act", "observe"}, std::string("act")) == "observe";
    Field action = r["action"];
    if (action.present()) {
      slo.action = parse_action(action, cfg);
      const auto key = std::make_pair(slo.action->route, slo.action->knob);
      if (auto [it, fresh] = knobs.emplace(key, slo.name); !fresh)
        action.fail("SLO '" + it->second + "' already moves knob '" + key.second + "' of route '" +
                    key.first + "'; one controller per knob");
      if (slo.target + slo.action->margin > 1.0)
        action.map()["margin"].fail("target + margin must be <= 1, or the SLO never counts as "
                                    "recovered");
    }
    cfg.slos.push_back(std::move(slo));
  }
}

void parse_slo_controller(MapReader r, SloControllerConfig& out) {
  r.only({"interval_ms"});
  out.interval_ms = r["interval_ms"].get<int64_t>(out.interval_ms, Range::between(10, 600000));
}

}  // namespace triage::config
