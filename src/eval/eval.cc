#include "eval/eval.h"

#include <boost/json/serialize.hpp>
#include <iostream>
#include <stdexcept>
#include <string>

#include "common/clock.h"
#include "eval/eval_engine.h"
#include "output/svg_plot.h"

namespace triage::eval {

namespace {

// Refuses bad output options before the work starts.
void check_output_options(const EvalOptions& o) {
  if (o.format != "text" && o.format != "json") {
    throw std::runtime_error("--format must be text or json, got '" + o.format + "'");
  }
  if (!o.plot_path.empty()) output::plot_format(o.plot_path);
}

// Prints `r` as JSON or text to stdout and writes its plot when asked.
template <class Result, class ToJson, class ToText, class ToSvg>
void print_report(const EvalOptions& o, const Result& r, ToJson to_json, ToText to_text,
                  ToSvg to_svg) {
  if (o.format == "json") {
    std::cout << boost::json::serialize(to_json(r)) << "\n";
  } else {
    std::cout << to_text(r);
  }
  if (!o.plot_path.empty()) {
    output::write_plot(o.plot_path, to_svg(r));
    if (o.format != "json") std::cout << "plot written to " << o.plot_path << "\n";
  }
}

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

}  // namespace

std::optional<Evaluator> evaluator_for(const routes::EvalFamily& family,
                                       datasets::DatasetFormat format) {
  using datasets::DatasetFormat;
  if (format == DatasetFormat::kIntentLines) {
    if (std::holds_alternative<routes::IntentBandsEval>(family)) return Evaluator::kIntents;
    return std::nullopt;
  }
  if (std::holds_alternative<routes::WeakStrongEval>(family)) return Evaluator::kPairs;
  return format == DatasetFormat::kMultiModel ? Evaluator::kMultiModel : Evaluator::kPairs;
}

EvalReport evaluate(const EvalOptions& o) {
  const SteadyTime start = SteadyClock::now();
  const datasets::EvalData data = datasets::read_eval_data(o.dataset);
  EvalEngine engine(o, data);
  const routes::EvalFamily family = engine.route().eval_family();
  const std::optional<Evaluator> evaluator = evaluator_for(family, data.format);
  if (!evaluator) {
    throw std::runtime_error("route '" + o.route + "' is a " +
                             std::string(engine.route().kind()) +
                             " route; JSON-lines (CLINC150) datasets are evaluated with a "
                             "classify route");
  }
  if (*evaluator == Evaluator::kIntents && (o.cv_folds > 0 || o.split == "train")) {
    throw std::runtime_error("--cv and --split train are for CSV datasets; a classify route's "
                             "bands are evaluated by its own protocol");
  }
  EvalReport report;
  switch (*evaluator) {
    case Evaluator::kIntents:
      report = evaluate_classifier(o, data, engine, std::get<routes::IntentBandsEval>(family));
      break;
    case Evaluator::kMultiModel:
      report = evaluate_multi(o, data, engine, std::get_if<routes::CandidatesEval>(&family));
      break;
    case Evaluator::kPairs:
      report = evaluate_pairs(o, data, engine, std::get_if<routes::WeakStrongEval>(&family));
      break;
  }
  const double seconds = static_cast<double>(micros_between(start, SteadyClock::now())) / 1e6;
  std::visit([seconds](auto& r) { r.seconds = seconds; }, report);
  return report;
}

int run_eval(const EvalOptions& o) {
  try {
    check_output_options(o);
    const EvalReport report = evaluate(o);
    std::visit(Overloaded{
                   [&](const EvalResult& r) { print_report(o, r, eval_json, eval_text, eval_svg); },
                   [&](const MultiEvalResult& r) {
                     print_report(o, r, eval_multi_json, eval_multi_text, eval_multi_svg);
                   },
                   [&](const ClassifierEvalResult& r) {
                     print_report(o, r, classifier_eval_json, classifier_eval_text,
                                  classifier_eval_svg);
                   }},
               report);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "triage eval: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace triage::eval
