#pragma once
// `triage eval`: runs a configured route over a labeled dataset IN-PROCESS, through the same
// route engine as `triage serve` (RouteTable + ModelRuntime + providers on an asio::io_context,
// no HTTP; eval/eval_engine.h), and measures quality and cost.
//
// One run: the dataset is read once (datasets/eval_data.h: its format), the config is loaded
// and the route table built once (EvalEngine), and the route's evaluation family
// (Route::eval_family(), declared by its kind: routes/eval_family.h) and the data's format
// choose the evaluator (evaluator_for):
//
//   family \ data     | intent lines | multi-model CSV | graded CSV
//   intent bands      | intents      | multi-model     | pairs
//   weak/strong       | -            | pairs           | pairs
//   candidates        | -            | multi-model     | pairs
//   any dataset       | -            | multi-model     | pairs
//
// pairs: eval/eval_pairs.h; multi-model: eval/eval_multi.h; intents: eval/eval_classifier.h.
// "-": refused with "route '<name>' is a <kind> route; JSON-lines (CLINC150) datasets are
// evaluated with a classify route".
//
// Blocking and CPU-bound: runs its own io_context on the calling thread. evaluate() throws
// config::ConfigError / CsvError / ml::ModelError / std::runtime_error; run_eval() catches them,
// prints "triage eval: <message>" to stderr and returns 1.
#include <optional>
#include <variant>

#include "datasets/eval_data.h"
#include "eval/eval_classifier.h"
#include "eval/eval_multi.h"
#include "eval/eval_options.h"
#include "eval/eval_pairs.h"
#include "routes/eval_family.h"

namespace triage::eval {

enum class Evaluator { kPairs, kMultiModel, kIntents };

// The evaluator of a route of `family` on data of `format` (the table above); nullopt when
// none fits.
std::optional<Evaluator> evaluator_for(const routes::EvalFamily& family,
                                       datasets::DatasetFormat format);

// What an evaluation produced: one result type per evaluator.
using EvalReport = std::variant<EvalResult, MultiEvalResult, ClassifierEvalResult>;

// Reads options.dataset, builds the engine for options.config_path and evaluates
// options.route with the evaluator its family and the data choose. `seconds` in the result is
// the whole run's wall time.
EvalReport evaluate(const EvalOptions& options);

// CLI entry: checks --format and --plot, evaluates, prints text or JSON to stdout, writes the
// plot. Returns an exit code.
int run_eval(const EvalOptions& options);

}  // namespace triage::eval
