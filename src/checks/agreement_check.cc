#include "checks/agreement_check.h"

#include "checks/check_util.h"
#include "ml/text.h"
#include "routes/answer_extract.h"
#include "routes/route_table.h"

namespace triage::checks {

namespace {

const char* extract_name(Extract how) {
  switch (how) {
    case Extract::kNumber: return "number";
    case Extract::kOption: return "option";
    case Extract::kText: return "text";
  }
  return "?";
}

std::string shorten(std::string s) {
  if (s.size() > 40) s = s.substr(0, 40) + "...";
  return s;
}

}  // namespace

std::optional<std::string> extract_answer(const std::string& text, Extract how) {
  switch (how) {
    case Extract::kNumber: return routes::extract_last_number(text);
    case Extract::kOption: return routes::extract_option_letter(text);
    case Extract::kText: {
      std::string s = ml::normalize_text(text);
      while (!s.empty() && (s.back() == ' ' || s.back() == '.' || s.back() == '!' ||
                            s.back() == '?')) {
        s.pop_back();
      }
      if (s.empty()) return std::nullopt;
      return s;
    }
  }
  return std::nullopt;
}

boost::asio::awaitable<routes::Verdict> AgreementCheck::run(const core::ChatRequest& req,
                                                            const core::Completion& answer,
                                                            routes::ExecContext& ctx) {
  const std::optional<std::string> first = extract_answer(answer.content, extract_);
  if (!first) {
    co_return routes::Verdict{false, 0.0,
                              std::string("no ") + extract_name(extract_) + " in the answer"};
  }
  routes::Route* second_route = route_;
  if (!second_route && table_) second_route = table_->find(answer.model);
  if (!second_route) {
    co_return routes::Verdict{false, 0.0,
                              "no model to resample ('" + answer.model + "' is not a route)"};
  }
  Result<core::Completion> r = co_await call_for_check(*second_route, req, ctx);
  if (!r) {
    co_return routes::Verdict{
        false, 0.0, "second answer failed: " + std::string(error_code_name(r.error().code))};
  }
  const std::optional<std::string> second = extract_answer(r->content, extract_);
  if (!second) {
    co_return routes::Verdict{false, 0.0, std::string("no ") + extract_name(extract_) +
                                              " in the second answer (" + second_route->name() +
                                              ")"};
  }
  const bool same = *first == *second;
  std::string reason = same ? "both answers say '" : "'";
  reason.append(shorten(*first)).append("'");
  if (!same) {
    reason.append(" vs '").append(shorten(*second)).append("' (");
    reason.append(second_route->name()).append(")");
  }
  co_return routes::Verdict{same, same ? 1.0 : 0.0, std::move(reason)};
}

std::unique_ptr<routes::Check> make_agreement_check(config::MapReader& cfg) {
  cfg.only({"type", "route", "extract"});
  config::Field route_field = cfg["route"];
  routes::Route* route = nullptr;
  if (route_field.present()) route = &resolve_check_route(route_field);
  routes::RouteTable* table = routes::CheckRegistry::table();
  if (!route && !table) {
    route_field.fail("agreement without `route:` resamples the answering model, so it can only "
                     "be used where checks are built with the route table (e.g. a cascade step)");
  }
  const std::string ex = cfg["extract"].one_of({"number", "option", "text"}, "number");
  const Extract how = ex == "option" ? Extract::kOption
                      : ex == "text" ? Extract::kText
                                     : Extract::kNumber;
  return std::make_unique<AgreementCheck>(route, table, how);
}

}  // namespace triage::checks
