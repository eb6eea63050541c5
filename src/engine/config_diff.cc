#include "engine/config_diff.h"

#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

#include "routes/knob.h"

namespace triage::engine {

namespace {

using Kind = ConfigChange::Kind;

std::string num(double v) { return fmt::format("{}", v); }

void compare(std::vector<ConfigChange>& out, Kind kind, const std::string& name,
             const char* field, const std::string& before, const std::string& after) {
  if (before != after) out.push_back({kind, name, field, before, after});
}

void diff_model(std::vector<ConfigChange>& out, const config::Model& a, const config::Model& b) {
  const std::string& n = b.name;
  const Kind k = Kind::kModelChanged;
  compare(out, k, n, "provider", a.provider, b.provider);
  compare(out, k, n, "endpoint", a.endpoint, b.endpoint);
  compare(out, k, n, "upstream_model", a.upstream_model, b.upstream_model);
  compare(out, k, n, "tier", a.tier, b.tier);
  compare(out, k, n, "prices.input_per_mtok", num(a.prices.input_per_mtok),
          num(b.prices.input_per_mtok));
  compare(out, k, n, "prices.output_per_mtok", num(a.prices.output_per_mtok),
          num(b.prices.output_per_mtok));
  compare(out, k, n, "prices.cached_input_per_mtok", num(a.prices.cached_input_per_mtok),
          num(b.prices.cached_input_per_mtok));
  compare(out, k, n, "prices.per_call", num(a.prices.per_call), num(b.prices.per_call));
  compare(out, k, n, "context_window", num(static_cast<double>(a.context_window)),
          num(static_cast<double>(b.context_window)));
  compare(out, k, n, "timeout_ms", num(static_cast<double>(a.timeout_ms)),
          num(static_cast<double>(b.timeout_ms)));
}

std::string dump(const YAML::Node& node) {
  YAML::Emitter e;
  e << node;
  return e.c_str();
}

void diff_knobs(std::vector<ConfigChange>& out, const std::string& route, routes::Route& a,
                routes::Route& b) {
  const std::vector<routes::Knob*> before = routes::knobs_of(a);
  for (routes::Knob* kb : routes::knobs_of(b)) {
    for (routes::Knob* ka : before) {
      if (ka->name() != kb->name()) continue;
      compare(out, Kind::kKnobChanged, route, std::string(kb->name()).c_str(), num(ka->get()),
              num(kb->get()));
    }
  }
}

std::string scope_text(const config::Slo& s) {
  return std::string(config::slo_scope_name(s.scope)) + ": " + s.scope_name;
}

std::string action_text(const config::Slo& s) {
  if (!s.action) return "none";
  const config::SloAction& a = *s.action;
  return fmt::format("{} {} toward {} step {} hold_s {} margin {}", a.route, a.knob, a.toward,
                     a.step, a.hold_s, a.margin);
}

void diff_slos(std::vector<ConfigChange>& out, const config::Config& a, const config::Config& b) {
  auto find = [](const config::Config& c, const std::string& name) -> const config::Slo* {
    for (const config::Slo& s : c.slos) {
      if (s.name == name) return &s;
    }
    return nullptr;
  };
  for (const config::Slo& s : b.slos) {
    const config::Slo* before = find(a, s.name);
    if (!before) {
      out.push_back({Kind::kSloAdded, s.name, "", "", ""});
      continue;
    }
    compare(out, Kind::kSloChanged, s.name, "scope", scope_text(*before), scope_text(s));
    compare(out, Kind::kSloChanged, s.name, "target", num(before->target), num(s.target));
    compare(out, Kind::kSloChanged, s.name, "window_s", num(static_cast<double>(before->window_s)),
            num(static_cast<double>(s.window_s)));
    compare(out, Kind::kSloChanged, s.name, "min_requests",
            num(static_cast<double>(before->min_requests)), num(static_cast<double>(s.min_requests)));
    compare(out, Kind::kSloChanged, s.name, "mode", before->observe ? "observe" : "act",
            s.observe ? "observe" : "act");
    compare(out, Kind::kSloChanged, s.name, "action", action_text(*before), action_text(s));
  }
  for (const config::Slo& s : a.slos) {
    if (!find(b, s.name)) out.push_back({Kind::kSloRemoved, s.name, "", "", ""});
  }
}

}  // namespace

std::vector<ConfigChange> diff_configs(const BuiltConfig& old_b, const BuiltConfig& new_b) {
  const config::Config& a = old_b.cfg;
  const config::Config& b = new_b.cfg;
  std::vector<ConfigChange> out;
  for (const config::Model& m : b.models) {
    const config::Model* before = a.find_model(m.name);
    if (!before) {
      out.push_back({Kind::kModelAdded, m.name, "", "", ""});
    } else {
      diff_model(out, *before, m);
    }
  }
  for (const config::Model& m : a.models) {
    if (!b.find_model(m.name)) out.push_back({Kind::kModelRemoved, m.name, "", "", ""});
  }
  for (const config::RouteSpec& r : b.routes) {
    const config::RouteSpec* before = a.find_route(r.name);
    if (!before) {
      out.push_back({Kind::kRouteAdded, r.name, "", "", ""});
      continue;
    }
    if (before->type != r.type) {
      out.push_back({Kind::kRouteChanged, r.name, "type", before->type, r.type});
      continue;
    }
    const std::size_t knobs_at = out.size();
    routes::Route* ra = old_b.routes->find(r.name);
    routes::Route* rb = new_b.routes->find(r.name);
    if (ra && rb) diff_knobs(out, r.name, *ra, *rb);
    // A changed mapping whose only difference is a knob's value is reported as the knob.
    if (out.size() == knobs_at && dump(before->node) != dump(r.node)) {
      out.push_back({Kind::kRouteChanged, r.name, "definition", "", ""});
    }
  }
  for (const config::RouteSpec& r : a.routes) {
    if (!b.find_route(r.name)) out.push_back({Kind::kRouteRemoved, r.name, "", "", ""});
  }
  diff_slos(out, a, b);
  const Kind s = Kind::kSettingChanged;
  compare(out, s, "", "reference_model", a.reference_model, b.reference_model);
  compare(out, s, "", "server.request_timeout_ms", num(static_cast<double>(a.server.request_timeout_ms)),
          num(static_cast<double>(b.server.request_timeout_ms)));
  compare(out, s, "", "server.port", num(a.server.port), num(b.server.port));
  compare(out, s, "", "server.host", a.server.host, b.server.host);
  compare(out, s, "", "store.path", a.store.path, b.store.path);
  compare(out, s, "", "auth.keys", num(static_cast<double>(a.auth ? a.auth->keys.size() : 0)),
          num(static_cast<double>(b.auth ? b.auth->keys.size() : 0)));
  return out;
}

std::string describe(const ConfigChange& c) {
  switch (c.kind) {
    case Kind::kModelAdded: return "model added: " + c.name;
    case Kind::kModelRemoved: return "model removed: " + c.name;
    case Kind::kModelChanged:
      return "model " + c.name + ": " + c.field + " " + c.before + " -> " + c.after;
    case Kind::kRouteAdded: return "route added: " + c.name;
    case Kind::kRouteRemoved: return "route removed: " + c.name;
    case Kind::kRouteChanged:
      return c.field == "type" ? "route " + c.name + ": type " + c.before + " -> " + c.after
                               : "route " + c.name + ": definition changed";
    case Kind::kKnobChanged:
      return "route " + c.name + ": knob " + c.field + " " + c.before + " -> " + c.after;
    case Kind::kSettingChanged: return c.field + ": " + c.before + " -> " + c.after;
    case Kind::kSloAdded: return "slo added: " + c.name;
    case Kind::kSloRemoved: return "slo removed: " + c.name;
    case Kind::kSloChanged:
      return "slo " + c.name + ": " + c.field + " " + c.before + " -> " + c.after;
  }
  return {};
}

}  // namespace triage::engine
