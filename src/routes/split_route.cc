#include "routes/split_route.h"

#include <cstdio>

#include "config/yaml_util.h"
#include "routes/composite_util.h"
#include "routes/kind_util.h"
#include "routes/route_table.h"

namespace triage::routes {

uint64_t mixed_fnv1a(std::string_view data) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ull;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

double unit_interval(uint64_t hash) {
  return static_cast<double>(hash >> 11) * (1.0 / 9007199254740992.0);  // / 2^53
}

namespace {

std::string_view sticky_name(Sticky s) {
  switch (s) {
    case Sticky::kUser: return "user";
    case Sticky::kApiKey: return "api_key";
    case Sticky::kCohort: return "cohort";
    case Sticky::kNone: break;
  }
  return "none";
}

std::string fmt_weight(double w) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", w);
  return buf;
}

}  // namespace

SplitRoute::SplitRoute(std::string name, std::vector<Child> children, Sticky sticky,
                       std::optional<control::RolloutSpec> rollout)
    : name_(std::move(name)),
      weights_(std::make_unique<std::atomic<double>[]>(children.size())),
      rollout_(std::move(rollout)),
      sticky_(sticky) {
  for (size_t i = 0; i < children.size(); ++i) {
    routes_.push_back(children[i].route);
    config_weights_.push_back(children[i].weight);
    weights_[i].store(children[i].weight, std::memory_order_relaxed);
    knobs_.push_back(std::make_unique<WeightKnob>(*this, i));
  }
}

std::vector<Knob*> SplitRoute::knobs() {
  std::vector<Knob*> out;
  for (auto& k : knobs_) out.push_back(k.get());
  return out;
}

double SplitRoute::point(const core::ChatRequest& req) const {
  const std::string* key = &req.meta.request_id;
  switch (sticky_) {
    case Sticky::kUser: key = &req.meta.user; break;
    case Sticky::kApiKey: key = &req.meta.api_key_id; break;
    case Sticky::kCohort: key = &req.meta.cohort; break;
    case Sticky::kNone: break;
  }
  if (key->empty()) key = &req.meta.request_id;
  std::string salted = name_;
  salted.push_back('\0');
  salted += *key;
  return unit_interval(mixed_fnv1a(salted));
}

size_t SplitRoute::pick(const std::vector<double>& weights, double point) {
  double total = 0.0;
  for (double w : weights) total += w > 0.0 ? w : 0.0;
  if (total <= 0.0) return 0;
  const double target = point * total;
  double acc = 0.0;
  size_t last_positive = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] <= 0.0) continue;
    acc += weights[i];
    last_positive = i;
    if (target < acc) return i;
  }
  return last_positive;  // rounding at the top end
}

size_t SplitRoute::choose(const core::ChatRequest& req) const {
  std::vector<double> w(routes_.size());
  for (size_t i = 0; i < w.size(); ++i) w[i] = weight(i);
  return pick(w, point(req));
}

boost::asio::awaitable<Result<core::Completion>> SplitRoute::run(const core::ChatRequest& req,
                                                                 ExecContext& ctx,
                                                                 core::StreamSink* sink) {
  const SteadyTime t0 = SteadyClock::now();
  std::vector<double> w(routes_.size());
  double total = 0.0;
  for (size_t i = 0; i < w.size(); ++i) {
    w[i] = weight(i);
    total += w[i] > 0.0 ? w[i] : 0.0;
  }
  const size_t i = pick(w, point(req));
  push_route_span(ctx, name_,
                  "-> " + routes_[i]->name() + " (weight " + fmt_weight(w[i] > 0 ? w[i] : 0) +
                      "/" + fmt_weight(total) + ", sticky " + std::string(sticky_name(sticky_)) +
                      ")",
                  t0);
  ctx.trace.routing_us += ctx.trace.spans.back().duration_us;
  ctx.trace.split_choices.push_back(core::SplitChoice{name_, routes_[i]->name()});
  Route& next = *routes_[i];
  co_return co_await next.run(req, ctx, sink);
}

namespace {

std::string join_names(const std::vector<SplitRoute::Child>& children) {
  std::string out;
  for (const auto& c : children) out += (out.empty() ? "" : ", ") + c.route->name();
  return out;
}

// The `rollout:` block of a split (split_route.h), checked against its children.
control::RolloutSpec parse_rollout(const config::Field& field,
                                   const std::vector<SplitRoute::Child>& children) {
  config::MapReader r = field.map();
  r.only({"candidate", "steps", "hold_s", "min_requests", "start", "evaluate_every_ms", "gates"});
  control::RolloutSpec spec;
  const config::Field candidate = r["candidate"];
  spec.candidate = candidate.as<std::string>();
  int matches = 0;
  double others_weight = 0;
  for (const auto& c : children) {
    if (c.route->name() == spec.candidate) {
      ++matches;
    } else {
      others_weight += c.weight;
    }
  }
  if (matches == 0) {
    candidate.fail("'" + spec.candidate + "' is not a child of this split (children: " +
                   join_names(children) + ")");
  }
  if (matches > 1) candidate.fail("'" + spec.candidate + "' is more than one child of this split");
  if (others_weight <= 0) {
    candidate.fail("the other children's weights are all 0; a rollout needs a child with a "
                   "weight > 0 to serve when it rolls back");
  }
  const config::Field steps = r["steps"];
  const std::vector<config::Field> items = steps.items();
  if (items.empty()) steps.fail("give the candidate's percent per step, e.g. [1, 5, 25, 50, 100]");
  for (const config::Field& item : items) {
    const double p = item.as<double>(config::Range::between(0, 100));
    if (p <= 0) item.fail("a step must be > 0 percent");
    if (!spec.steps.empty() && p <= spec.steps.back()) {
      item.fail("steps must increase; " + item.path() + " is not above the step before it");
    }
    spec.steps.push_back(p);
  }
  if (spec.steps.back() != 100) {
    items.back().fail("the last step must be 100 (the candidate takes all the traffic)");
  }
  spec.hold_ms = static_cast<int64_t>(r["hold_s"].as<double>(config::Range::above(0)) * 1000);
  spec.min_requests = r["min_requests"].get<int64_t>(1, config::Range::at_least(1));
  spec.manual_start = r["start"].one_of({"auto", "manual"}, std::string("auto")) == "manual";
  spec.evaluate_every_ms =
      r["evaluate_every_ms"].get<int64_t>(1000, config::Range::between(10, 3'600'000));
  const config::Field gates_field = r["gates"];
  config::MapReader g = gates_field.map();
  g.only({"max_success_drop", "max_p95_ratio", "max_cost_ratio", "min_agreement"});
  spec.gates.max_success_drop = g["max_success_drop"].maybe<double>(config::Range::between(0, 1));
  spec.gates.max_p95_ratio = g["max_p95_ratio"].maybe<double>(config::Range::above(0));
  spec.gates.max_cost_ratio = g["max_cost_ratio"].maybe<double>(config::Range::above(0));
  spec.gates.min_agreement = g["min_agreement"].maybe<double>(config::Range::between(0, 1));
  const control::RolloutGates& set = spec.gates;
  if (!set.max_success_drop && !set.max_p95_ratio && !set.max_cost_ratio && !set.min_agreement) {
    gates_field.fail("a rollout needs at least one gate: max_success_drop, max_p95_ratio, "
                     "max_cost_ratio or min_agreement");
  }
  return spec;
}

std::unique_ptr<Route> build_split_route(const config::RouteSpec& spec, size_t /*index*/,
                                         RouteTable& table) {
  const config::Config& cfg = table.config();
  config::MapReader r(spec.node, spec.path, cfg.path, spec.line);
  r.only({"name", "type", "children", "sticky", "rollout"});
  const config::Field children_field = r["children"];
  const std::vector<config::Field> items = children_field.items();
  if (items.empty()) children_field.fail("a split needs at least one child");
  std::vector<SplitRoute::Child> children;
  double total = 0.0;
  for (const config::Field& item : items) {
    config::MapReader c = item.map();
    c.only({"route", "weight"});
    SplitRoute::Child child;
    child.route = &resolve_child(table, c["route"]);
    child.weight = c["weight"].as<double>(config::Range::at_least(0));
    total += child.weight;
    children.push_back(child);
  }
  if (total <= 0.0) children_field.fail("every weight is 0; give at least one child a weight > 0");
  const std::string sticky =
      r["sticky"].one_of({"none", "user", "api_key", "cohort"}, std::string("none"));
  Sticky s = Sticky::kNone;
  if (sticky == "user") s = Sticky::kUser;
  if (sticky == "api_key") s = Sticky::kApiKey;
  if (sticky == "cohort") s = Sticky::kCohort;
  std::optional<control::RolloutSpec> rollout;
  if (const config::Field rollout_field = r["rollout"]; rollout_field.present()) {
    rollout = parse_rollout(rollout_field, children);
  }
  return std::make_unique<SplitRoute>(spec.name, std::move(children), s, std::move(rollout));
}

}  // namespace

void register_split_kind() { RouteTable::register_kind("split", build_split_route); }

}  // namespace triage::routes
