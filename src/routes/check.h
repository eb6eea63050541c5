#pragma once
// The check extension point: a quality verdict on one completion. Cascades run checks on a
// cheap step's answer to decide whether to accept it or escalate; pipelines and the review
// queue use them too. Implementations live in src/checks/ and register a factory under their
// `type:` name (checks::register_builtin_checks()).
//
// Threading: a Check is built once at config load and shared by every I/O thread; run() must
// not mutate the check (per-request state lives in the coroutine and in ExecContext).
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/yaml_util.h"
#include "core/chat.h"
#include "routes/route.h"

namespace triage::routes {

class RouteTable;

struct Verdict {
  bool pass = true;
  double score = 1.0;  // 0..1, higher is better; rule checks use 1 (pass) or 0 (fail)
  std::string reason;  // one line a reviewer can act on ("wrong step '16 - 3 = 12' (is 13)")
};

class Check {
 public:
  virtual ~Check() = default;
  // Versioned logic name recorded in traces, e.g. "non_empty/1".
  virtual std::string_view name() const = 0;
  // Judges `answer` to `req`. Never throws. A check that calls a model does so through a
  // ModelRuntime, which appends its own model-call span and cost to ctx.trace.
  virtual boost::asio::awaitable<Verdict> run(const core::ChatRequest& req,
                                              const core::Completion& answer,
                                              ExecContext& ctx) = 0;
  // True when the verdict reads the answer's token logprobs: a cascade then asks the step's
  // upstream for them (`logprobs: true`) even when the client did not.
  virtual bool needs_logprobs() const { return false; }
};

// Runs `check` and traces it: appends a kCheck span (name = check.name(), detail = the
// verdict's reason, ok = pass, duration, cost_usd = the cost of model calls the check made) to
// ctx.trace and adds the check's own time (minus any
// queue/upstream time of model calls it made) to ctx.trace.routing_us.
boost::asio::awaitable<Verdict> run_traced(Check& check, const core::ChatRequest& req,
                                           const core::Completion& answer, ExecContext& ctx);

// The checks a route attaches to one of its steps (cascade and pipeline steps).
using CheckList = std::vector<std::unique_ptr<Check>>;

struct ChecksOutcome {
  bool pass = true;
  std::string why;  // the first failure, "name/1: reason"; empty when all passed
};

// Runs `checks` in order with run_traced, stopping at the first failure (a later, costlier
// check is not paid for). The trace's answer attribution (model, tier, provider) is restored
// afterwards: a check that calls a model does not become the model that answered.
boost::asio::awaitable<ChecksOutcome> run_checks(const CheckList& checks,
                                                 const core::ChatRequest& req,
                                                 const core::Completion& answer,
                                                 ExecContext& ctx);

// True when some check reads token logprobs (Check::needs_logprobs).
bool needs_logprobs(const CheckList& checks);

// A copy of `req` that asks the upstream for token logprobs, or nothing when `req` already
// says whether it wants them (the client's choice is kept).
std::optional<core::ChatRequest> asking_for_logprobs(const core::ChatRequest& req);

// What a check factory may use besides its own config, given to it explicitly by whoever
// builds the check. Start-up only.
struct CheckContext {
  // The route table being built, for checks that call a route or model (verifier, agreement:
  // checks/check_util.h resolve_check_route). Null where checks are built without one (a bare
  // CheckRegistry::build()); such checks then refuse to be built, at their config's position.
  RouteTable* table = nullptr;
};

// Builds one check from its typed config. `cfg` is the check's mapping (the `type` key is
// already read); the factory declares its other keys with cfg.only({"type", ...}) and throws
// config::ConfigError (via cfg / Field fail()) on a bad value.
using CheckFactory =
    std::function<std::unique_ptr<Check>(config::MapReader& cfg, const CheckContext& ctx)>;

// Registry of check kinds by `type:` name. Filled at start-up (before any route table is
// built) and read-only afterwards; registration is not thread-safe, lookups are.
class CheckRegistry {
 public:
  static void add(std::string type, CheckFactory factory);
  static std::vector<std::string> types();  // sorted
  // Builds a check from a list item: either a mapping `{type: regex, must_match: "..."}` or a
  // bare type name `non_empty` (all defaults), handing `ctx` to its factory. Routes that build
  // checks (cascade, pipeline) pass their route table in it. Throws config::ConfigError at the
  // item's path.
  static std::unique_ptr<Check> build(const config::Field& item, const CheckContext& ctx = {});
};

}  // namespace triage::routes
