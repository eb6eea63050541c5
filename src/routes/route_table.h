#pragma once
// The built route tree: every catalog model (as a ModelRuntime, also addressable directly) and
// every configured route, by name. Built once from config at start-up; read-only afterwards,
// so lookups from any thread need no lock.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "providers/provider.h"
#include "routes/model_runtime.h"
#include "routes/route.h"

namespace triage::routes {

class RouteTable;

// Builds one route kind from its declaration. May look up other routes and models through
// `table` (children must be declared first or be models; cycles are refused). Throws
// config::ConfigError with the route's path on a bad declaration.
using RouteFactory = std::function<std::unique_ptr<Route>(const config::RouteSpec& spec,
                                                          size_t index, RouteTable& table)>;

class RouteTable {
 public:
  // Builds clients for every model and every route. Throws config::ConfigError.
  static std::unique_ptr<RouteTable> build(const config::Config& cfg,
                                           const providers::ProviderRegistry& providers,
                                           const providers::EnvLookup& env);

  // A route or a model by the name a client uses; nullptr when unknown.
  Route* find(std::string_view name) const;
  ModelRuntime* find_model(std::string_view name) const;
  // Every model's breaker transitions go to `observer` (metrics); call before serving.
  void set_breaker_observer(const BreakerObserver& observer);
  // Resolves a child reference while building: a model or an already built route. Throws
  // config::ConfigError naming `where` when unknown.
  Route& child(const std::string& name, const std::string& where);

  // The catalog models a request naming `name` (a route or a model) may call: the model itself,
  // or every model a route's declaration names, directly or through the routes it names. An
  // over-approximation by design (a name anywhere in the route's mapping counts), so that a
  // worst-case cost priced over it is a true bound. Empty for an unknown name.
  const std::vector<const config::Model*>& reachable_models(std::string_view name) const;

  const std::vector<std::unique_ptr<ModelRuntime>>& models() const { return models_; }
  const std::vector<std::string>& route_names() const { return route_names_; }
  const config::Config& config() const { return *cfg_; }

  // Makes `type:` `type` build routes with `factory` (process-wide; registering a type again
  // replaces its factory). A kind declares how `triage eval` evaluates it by overriding
  // Route::eval_family() (routes/eval_family.h). Call at start-up, before build().
  static void register_kind(std::string type, RouteFactory factory);
  // The registered `type:` names, sorted (`model` is always there).
  static std::vector<std::string> kind_names();

 private:
  // Records reachable_models(spec.name) from the scalars of its mapping; the routes it names
  // are declared before it, so theirs are known.
  void add_reachable(const config::RouteSpec& spec);

  const config::Config* cfg_ = nullptr;
  std::vector<std::unique_ptr<ModelRuntime>> models_;
  std::vector<std::unique_ptr<Route>> owned_;  // model routes and configured routes
  std::map<std::string, Route*, std::less<>> by_name_;
  std::map<std::string, ModelRuntime*, std::less<>> model_by_name_;
  std::vector<std::string> route_names_;  // configured routes, in declaration order
  std::map<std::string, std::vector<const config::Model*>, std::less<>> reachable_;
};

// A route that calls one model: a catalog model used directly, or `type: model`.
class ModelRoute final : public Route {
 public:
  ModelRoute(std::string name, ModelRuntime& model) : name_(std::move(name)), model_(model) {}
  std::string_view kind() const override { return "model/1"; }
  const std::string& name() const override { return name_; }
  boost::asio::awaitable<Result<core::Completion>> run(const core::ChatRequest& req,
                                                       ExecContext& ctx,
                                                       core::StreamSink* sink) override;
  std::optional<Refusal> refusal(const core::ChatRequest& req) const override;

 private:
  std::string name_;
  ModelRuntime& model_;
};

}  // namespace triage::routes
