#include "routes/route_table.h"

#include <algorithm>
#include <set>

#include <mutex>

#include "config/config.h"
#include "config/yaml_util.h"
#include "routes/eligibility.h"

namespace triage::routes {

namespace {

std::map<std::string, RouteFactory, std::less<>>& kinds() {
  static std::map<std::string, RouteFactory, std::less<>> k;
  return k;
}

std::string where(const config::Config& cfg, int line, const std::string& path) {
  return cfg.path + ":" + std::to_string(line) + ": " + path;
}

std::unique_ptr<Route> build_model_route(const config::RouteSpec& spec, size_t index,
                                         RouteTable& table) {
  const std::string path = "routes[" + std::to_string(index) + "].model";
  const YAML::Node m = spec.node["model"];
  if (!m || !m.IsScalar()) {
    throw config::ConfigError(where(table.config(), spec.line, path) +
                              ": a route of type 'model' needs `model: <catalog model name>`");
  }
  ModelRuntime* model = table.find_model(m.as<std::string>());
  if (!model) {
    throw config::ConfigError(where(table.config(), m.Mark().line + 1, path) + ": unknown model '" +
                              m.as<std::string>() + "' (routes of type 'model' name a catalog model)");
  }
  return std::make_unique<ModelRoute>(spec.name, *model);
}

void register_builtin_kinds() {
  static std::once_flag once;
  std::call_once(once, [] { kinds().emplace("model", build_model_route); });
}

}  // namespace

void RouteTable::register_kind(std::string type, RouteFactory factory) {
  register_builtin_kinds();
  kinds()[std::move(type)] = std::move(factory);
}

std::vector<std::string> RouteTable::kind_names() {
  register_builtin_kinds();
  std::vector<std::string> names;
  for (const auto& [type, factory] : kinds()) names.push_back(type);
  return names;
}

namespace {
// The model's runtime: one client, or one per `deployments:` entry (each the model with that
// deployment's endpoint and key). Deployment names are regions (or d0, d1...): they appear in
// traces and metrics, which must not carry upstream addresses.
std::unique_ptr<ModelRuntime> make_runtime(const config::Config& cfg, const config::Model& m,
                                           const providers::ProviderRegistry& providers,
                                           const providers::EnvLookup& env) {
  if (m.deployments.empty()) return std::make_unique<ModelRuntime>(m, providers.create(cfg, m, env));
  std::vector<ModelDeployment> deployments;
  std::set<std::string> names;
  for (std::size_t i = 0; i < m.deployments.size(); ++i) {
    const config::Deployment& d = m.deployments[i];
    config::Model one = m;
    one.endpoint = d.endpoint;
    if (!d.api_key_env.empty()) one.api_key_env = d.api_key_env;
    one.deployments.clear();
    // (appends, not "d" + to_string(i): GCC 12 warns falsely (-Wrestrict) on that shape)
    std::string name = d.region;
    if (name.empty()) name.append("d").append(std::to_string(i));
    if (!names.insert(name).second) {
      name.append("-").append(std::to_string(i));
      names.insert(name);
    }
    deployments.push_back(ModelDeployment{std::move(name), providers.create(cfg, one, env)});
  }
  return std::make_unique<ModelRuntime>(m, std::move(deployments));
}
}  // namespace

void RouteTable::set_breaker_observer(const BreakerObserver& observer) {
  for (auto& m : models_) m->set_breaker_observer(observer);
}

std::unique_ptr<RouteTable> RouteTable::build(const config::Config& cfg,
                                              const providers::ProviderRegistry& providers,
                                              const providers::EnvLookup& env) {
  register_builtin_kinds();
  auto table = std::make_unique<RouteTable>();
  table->cfg_ = &cfg;
  for (const auto& m : cfg.models) {
    auto runtime = make_runtime(cfg, m, providers, env);
    table->model_by_name_[m.name] = runtime.get();
    table->reachable_[m.name] = {&m};
    auto route = std::make_unique<ModelRoute>(m.name, *runtime);
    table->by_name_[m.name] = route.get();
    table->owned_.push_back(std::move(route));
    table->models_.push_back(std::move(runtime));
  }
  for (const auto& m : cfg.models) {
    if (!m.overflow.empty()) table->model_by_name_.at(m.name)->set_overflow(
        table->model_by_name_.at(m.overflow));
  }
  for (size_t i = 0; i < cfg.routes.size(); ++i) {
    const auto& spec = cfg.routes[i];
    auto it = kinds().find(spec.type);
    if (it == kinds().end()) {
      std::vector<std::string> known;
      for (const auto& [k, f] : kinds()) known.push_back(k);
      const int line = config::line_of(spec.node["type"]);
      throw config::ConfigError(where(cfg, line > 0 ? line : spec.line,
                                      "routes[" + std::to_string(i) + "].type") +
                                ": unknown route type '" + spec.type + "'" +
                                config::suggest(spec.type, known));
    }
    auto route = it->second(spec, i, *table);
    table->add_reachable(spec);
    for (const config::Model* m : table->reachable_models(spec.name)) {
      if (m->kind != config::ModelKind::kEmbedding) continue;
      throw config::ConfigError(where(cfg, spec.line, "routes[" + std::to_string(i) + "]") +
                                ": route '" + spec.name + "' names embedding model '" + m->name +
                                "'; routes answer chats, so they may only use chat models "
                                "(clients call embedding models directly on /v1/embeddings)");
    }
    table->by_name_[spec.name] = route.get();
    table->route_names_.push_back(spec.name);
    table->owned_.push_back(std::move(route));
  }
  return table;
}

void RouteTable::add_reachable(const config::RouteSpec& spec) {
  std::vector<const config::Model*>& out = reachable_[spec.name];
  auto add = [&out](const config::Model* m) {
    if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
  };
  std::vector<YAML::Node> stack = {spec.node};
  while (!stack.empty()) {
    const YAML::Node node = stack.back();
    stack.pop_back();
    if (node.IsScalar()) {
      const std::string& s = node.Scalar();
      if (s == spec.name) continue;
      if (const config::Model* m = cfg_->find_model(s)) add(m);
      if (auto it = reachable_.find(s); it != reachable_.end()) {
        for (const config::Model* m : it->second) add(m);
      }
    } else if (node.IsSequence()) {
      for (const auto& child : node) stack.push_back(child);
    } else if (node.IsMap()) {
      for (const auto& kv : node) stack.push_back(kv.second);
    }
  }
}

const std::vector<const config::Model*>& RouteTable::reachable_models(std::string_view name) const {
  static const std::vector<const config::Model*> kNone;
  if (auto it = reachable_.find(name); it != reachable_.end()) return it->second;
  return kNone;
}

Route* RouteTable::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

ModelRuntime* RouteTable::find_model(std::string_view name) const {
  auto it = model_by_name_.find(name);
  return it == model_by_name_.end() ? nullptr : it->second;
}

Route& RouteTable::child(const std::string& name, const std::string& where_path) {
  Route* r = find(name);
  if (r) return *r;
  std::string why = "unknown route or model '" + name + "'";
  std::vector<std::string> known;
  for (const auto& [n, route] : by_name_) known.push_back(n);
  if (const config::RouteSpec* later = cfg_ ? cfg_->find_route(name) : nullptr) {
    why += " here: route '" + name + "' (line " + std::to_string(later->line) +
           ") is not declared before this point, and children must be catalog models or routes "
           "declared earlier (so there are no cycles)";
  } else if (std::optional<std::string> close = config::closest(name, known)) {
    why += " (did you mean '" + *close + "'?)";
  } else {
    why += " (children must be catalog models or routes declared earlier)";
  }
  throw config::ConfigError(where_path + ": " + why);
}

std::optional<Refusal> ModelRoute::refusal(const core::ChatRequest& req) const {
  if (std::optional<core::SkipReason> why = ineligibility(model_.model(), req)) {
    return Refusal{why, &model_.model()};
  }
  if (!model_.available()) return Refusal{std::nullopt, &model_.model()};
  return std::nullopt;
}

std::string Refusal::text() const {
  return ineligible ? core::skip_reason_text(*ineligible) : std::string("circuit open");
}

boost::asio::awaitable<Result<core::Completion>> ModelRoute::run(const core::ChatRequest& req,
                                                                 ExecContext& ctx,
                                                                 core::StreamSink* sink) {
  return model_.call(req, ctx, sink);
}

}  // namespace triage::routes
