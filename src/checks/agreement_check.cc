#include "checks/agreement_check.h"

#include <cmath>

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

AgreementCheck::AgreementCheck(std::vector<routes::Route*> routes, routes::RouteTable* table,
                               Extract how, double min_agree)
    : routes_(std::move(routes)),
      table_(table),
      extract_(how),
      min_agree_("min_agree", min_agree, {0.0, static_cast<double>(opinions() + 1)}, 1.0) {}

AgreementCheck::AgreementCheck(routes::Route* route, routes::RouteTable* table, Extract how)
    : AgreementCheck(route ? std::vector<routes::Route*>{route} : std::vector<routes::Route*>{},
                     table, how, 1.0) {}

boost::asio::awaitable<routes::Verdict> AgreementCheck::run(const core::ChatRequest& req,
                                                            const core::Completion& answer,
                                                            routes::ExecContext& ctx) {
  const double k = min_agree_.get();
  const std::size_t n = opinions();
  if (k <= 0) co_return routes::Verdict{true, 1.0, "min_agree 0: accepted without asking"};
  const std::optional<std::string> first = extract_answer(answer.content, extract_);
  if (!first) {
    co_return routes::Verdict{false, 0.0,
                              std::string("no ") + extract_name(extract_) + " in the answer"};
  }
  const auto need = static_cast<std::size_t>(std::ceil(k - 1e-9));
  if (need > n) {
    co_return routes::Verdict{false, 0.0,
                              "min_agree " + std::to_string(need) + " > " + std::to_string(n) +
                                  " second opinions: escalated without asking"};
  }
  std::size_t agree = 0;
  std::string dissent;  // one opinion: the historical single-route reasons; several: a list
  for (std::size_t i = 0; i < n && agree < need && agree + (n - i) >= need; ++i) {
    routes::Route* second_route = routes_.empty() ? nullptr : routes_[i];
    if (!second_route && table_) second_route = table_->find(answer.model);
    std::string why;
    if (!second_route) {
      why = "no model to resample ('" + answer.model + "' is not a route)";
    } else {
      Result<core::Completion> r = co_await call_for_check(*second_route, req, ctx);
      if (!r) {
        why = "second answer failed: " + std::string(error_code_name(r.error().code));
      } else {
        const std::optional<std::string> second = extract_answer(r->content, extract_);
        if (!second) {
          why = std::string("no ") + extract_name(extract_) + " in the second answer (" +
                second_route->name() + ")";
        } else if (*second == *first) {
          ++agree;
          continue;
        } else {
          // Appended piecewise: GCC 12 warns (-Wrestrict, a false positive) on "'" + string.
          why.append("'").append(shorten(*first)).append("' vs '").append(shorten(*second));
          why.append("' (").append(second_route->name()).append(")");
        }
      }
    }
    if (!dissent.empty()) dissent += "; ";
    dissent += why;
  }
  const bool pass = agree >= need;
  const double score = static_cast<double>(agree) / static_cast<double>(n);
  if (n == 1) {
    co_return routes::Verdict{pass, score,
                              pass ? "both answers say '" + shorten(*first) + "'" : dissent};
  }
  std::string reason = std::to_string(agree) + " of " + std::to_string(n) + " agree on '" +
                       shorten(*first) + "' (need " + std::to_string(need) + ")";
  if (!dissent.empty()) reason += ": " + dissent;
  co_return routes::Verdict{pass, score, std::move(reason)};
}

std::unique_ptr<routes::Check> make_agreement_check(config::MapReader& cfg, const routes::CheckContext& ctx) {
  cfg.only({"type", "route", "routes", "min_agree", "extract"});
  config::Field route_field = cfg["route"];
  config::Field routes_field = cfg["routes"];
  if (route_field.present() && routes_field.present()) {
    routes_field.fail("give either `route:` (one second opinion) or `routes:` (several), not both");
  }
  std::vector<routes::Route*> seconds;
  if (route_field.present()) seconds.push_back(&resolve_check_route(route_field, ctx));
  if (routes_field.present()) {
    for (const config::Field& f : routes_field.items())
      seconds.push_back(&resolve_check_route(f, ctx));
    if (seconds.empty()) routes_field.fail("`routes:` needs at least one route or model");
  }
  routes::RouteTable* table = ctx.table;
  if (seconds.empty() && !table) {
    route_field.fail("agreement without `route:` resamples the answering model, so it can only "
                     "be used where checks are built with the route table (e.g. a cascade step)");
  }
  const std::size_t n = seconds.empty() ? 1 : seconds.size();
  // 0: always accept; n + 1: always escalate (see the header).
  const double min_agree = cfg["min_agree"].get<double>(
      static_cast<double>(n), config::Range::between(0.0, static_cast<double>(n + 1)));
  const std::string ex = cfg["extract"].one_of({"number", "option", "text"}, "number");
  const Extract how = ex == "option" ? Extract::kOption
                      : ex == "text" ? Extract::kText
                                     : Extract::kNumber;
  return std::make_unique<AgreementCheck>(std::move(seconds), table, how, min_agree);
}

}  // namespace triage::checks
