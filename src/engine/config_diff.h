#pragma once
// What would change between two configs (`triage config diff OLD NEW`, docs/config_versions.md):
// models added or removed, a model's prices, endpoint or other fields, routes added, removed or
// changed, and knob values (read from the built route trees, so a knob's value is the one the
// route would serve with, defaults included).
#include <string>
#include <vector>

#include "engine/built_config.h"

namespace triage::engine {

struct ConfigChange {
  enum class Kind {
    kModelAdded,
    kModelRemoved,
    kModelChanged,  // `field` says which (prices.input_per_mtok, endpoint, ...)
    kRouteAdded,
    kRouteRemoved,
    kRouteChanged,  // its definition differs (`field` "type" or "definition")
    kKnobChanged,   // `name` is the route, `field` the knob
    kSettingChanged,  // a top-level setting (`name` empty, `field` its path)
    kSloAdded,
    kSloRemoved,
    kSloChanged,  // `field`: scope, target, window_s, min_requests, mode or action
  };
  Kind kind;
  std::string name;    // the model or route
  std::string field;   // what changed in it; empty for added/removed
  std::string before;  // values as text; empty for added/removed
  std::string after;
};

// The changes from `old_cfg` to `new_cfg`, models first (in the new file's order, then the
// removed ones), then routes, knobs, SLOs and settings. Empty when they serve the same way.
// Pure.
std::vector<ConfigChange> diff_configs(const BuiltConfig& old_cfg, const BuiltConfig& new_cfg);

// One line per change: "model added: big", "model small: prices.input_per_mtok 0.15 -> 0.2",
// "route support: knob threshold 0.5 -> 0.6", "slo small-tier: target 0.9 -> 0.95", ...
std::string describe(const ConfigChange& c);

}  // namespace triage::engine
