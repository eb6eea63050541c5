#pragma once
// Service-level objectives (docs/slo.md): the top-level `slos:` list and `slo_controller:`.
//
//   slos:
//     - name: small-tier
//       scope: {tier: small}          # one of model: NAME | tier: NAME | route: NAME | router: ROUTE
//       target: 0.90                  # success rate (router: agreement with labels)
//       window_s: 60
//       min_requests: 50              # fewer in the window: no verdict, no move
//       mode: act                     # act (default) | observe (events only, the knob stays)
//       action: {route: main, knob: children[1].weight, toward: 90, step: 40,
//                hold_s: 30, margin: 0.03}
//
// The loader checks the fields, the names the scope and action refer to (models, tiers,
// routes), and that no two actions move the same knob; engine::build_config checks that the
// action's knob exists on the built route and that `toward` is in its range.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace triage::config {

enum class SloScope { kModel, kTier, kRoute, kRouter };
std::string_view slo_scope_name(SloScope s);  // "model" | "tier" | "route" | "router"

struct SloAction {
  std::string route;  // a route of the same file
  std::string knob;   // routes::Knob::name() on that route, e.g. "children[1].weight"
  double toward = 0;  // the knob value that sends traffic to the more expensive tier
  double step = 0;    // > 0: the largest move the controller makes at once
  int64_t hold_s = 60;  // least time between moves; also how long above target+margin before moving back
  double margin = 0.02;  // success above target+margin counts as recovered
};

struct Slo {
  std::string name;
  SloScope scope = SloScope::kTier;
  std::string scope_name;  // the model, tier or route named by the scope
  double target = 0.9;     // (0, 1]
  int64_t window_s = 60;
  int64_t min_requests = 20;
  bool observe = false;    // mode: observe
  std::optional<SloAction> action;
  int line = 0;
  std::string path;  // "slos[0]"

  // Scope, target and window: two SLOs with the same identity measure the same thing, so a
  // reload keeps the measured window (docs/slo.md "Reload").
  bool same_measure(const Slo& o) const {
    return scope == o.scope && scope_name == o.scope_name && window_s == o.window_s;
  }
};

// `slo_controller:`: how often the controller evaluates every SLO.
struct SloControllerConfig {
  int64_t interval_ms = 1000;
};

class Field;
class MapReader;
struct Config;
// Reads `slos:` onto cfg.slos (after models, tiers and routes: it checks the names the SLOs
// refer to). Throws ConfigError at the field.
void parse_slos(const Field& f, Config& cfg);
void parse_slo_controller(MapReader r, SloControllerConfig& out);

}  // namespace triage::config
