#include "routes/ensemble.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>

#include "config/yaml_util.h"
#include "routes/answer_extract.h"
#include "routes/composite_util.h"
#include "routes/kind_util.h"

namespace triage::routes {

namespace asio = boost::asio;

namespace {

const char* kDefaultJudgePrompt =
    "You are judging {n} candidate answers to the same request. Pick the one that is most "
    "correct, complete and helpful.\n\nRequest:\n{input}\n\n{candidates}\n\n"
    "Reply with only the number (1 to {n}) of the best candidate.";
const char* kDefaultFusePrompt =
    "Here are {n} candidate answers to the same request. Write the single best answer: keep "
    "what they agree on, resolve disagreements by reasoning about the request, and drop "
    "mistakes. Reply with the answer only.\n\nRequest:\n{input}\n\n{candidates}";

RE2::Options quiet() {
  RE2::Options o;
  o.set_log_errors(false);
  return o;
}

const RE2& first_number_re() {
  static const RE2 re(R"((\d+))", quiet());
  return re;
}

std::string render_candidates(const std::vector<const core::Completion*>& candidates) {
  std::string out;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (i) out += "\n\n";
    out += "Candidate " + std::to_string(i + 1) + ":\n" + candidates[i]->content;
  }
  return out;
}

}  // namespace

std::optional<std::string> extract_vote(const std::string& text, const RE2* pattern) {
  if (pattern) {
    auto v = last_answer_match(text, *pattern);
    if (!v) return std::nullopt;
    std::string n = normalize_answer_text(*v);
    if (n.empty()) return std::nullopt;
    return n;
  }
  if (auto v = extract_option_letter(text)) return v;
  return extract_last_number(text);
}

std::optional<size_t> vote_winner(const std::vector<std::optional<std::string>>& votes,
                                  std::string* tally, const std::vector<std::string>* names) {
  struct Count {
    size_t count = 0;
    size_t first = 0;
    std::vector<size_t> voters;
  };
  std::map<std::string, Count> counts;
  std::vector<std::string> order;  // values in order of first appearance
  for (size_t i = 0; i < votes.size(); ++i) {
    if (!votes[i]) continue;
    auto [it, fresh] = counts.try_emplace(*votes[i]);
    if (fresh) {
      it->second.first = i;
      order.push_back(*votes[i]);
    }
    ++it->second.count;
    it->second.voters.push_back(i);
  }
  if (order.empty()) return std::nullopt;
  const std::string* best = &order[0];
  for (const std::string& v : order) {
    if (counts[v].count > counts[*best].count) best = &v;
  }
  if (tally) {
    tally->clear();
    std::vector<std::string> ranked = order;
    std::stable_sort(ranked.begin(), ranked.end(), [&](const std::string& a, const std::string& b) {
      return counts[a].count > counts[b].count;
    });
    for (const std::string& v : ranked) {
      if (!tally->empty()) *tally += ", ";
      *tally += "'" + v + "' x" + std::to_string(counts[v].count) + " (";
      for (size_t k = 0; k < counts[v].voters.size(); ++k) {
        const size_t voter = counts[v].voters[k];
        *tally += k ? ", " : "";
        *tally += names && voter < names->size() ? (*names)[voter] : std::to_string(voter);
      }
      *tally += ")";
    }
  }
  return counts[*best].first;
}

std::optional<size_t> parse_judge_choice(const std::string& output, size_t n, const RE2* pattern) {
  const RE2& re = pattern ? *pattern : first_number_re();
  re2::StringPiece m[2];
  const int groups = re.NumberOfCapturingGroups();
  if (!re.Match(output, 0, output.size(), RE2::UNANCHORED, m, groups > 0 ? 2 : 1)) {
    return std::nullopt;
  }
  const std::string digits = trim_answer(std::string(groups > 0 ? m[1] : m[0]));
  if (digits.empty() || digits.size() > 6) return std::nullopt;
  size_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<size_t>(c - '0');
  }
  if (v < 1 || v > n) return std::nullopt;
  return v - 1;
}

asio::awaitable<std::vector<Result<core::Completion>>> EnsembleRoute::run_children(
    const core::ChatRequest& req, ExecContext& ctx) {
  const size_t n = opts_.children.size();
  std::vector<std::optional<Result<core::Completion>>> slots(n);
  auto ex = co_await asio::this_coro::executor;
  // Each child writes its own slot; all run on `ex` (see the threading note in the header).
  auto one = [](Route* child, const core::ChatRequest& r, ExecContext& c,
                std::optional<Result<core::Completion>>& slot) -> asio::awaitable<void> {
    slot.emplace(co_await child->run(r, c, nullptr));
  };
  using Op = decltype(asio::co_spawn(ex, one(nullptr, req, ctx, slots[0]), asio::deferred));
  std::vector<Op> ops;
  ops.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    ops.push_back(asio::co_spawn(ex, one(opts_.children[i], req, ctx, slots[i]), asio::deferred));
  }
  auto [order, errors] = co_await asio::experimental::make_parallel_group(std::move(ops))
                             .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  (void)order;
  std::vector<Result<core::Completion>> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (slots[i]) {
      out.push_back(std::move(*slots[i]));
    } else {
      out.push_back(make_error(ErrorCode::kInternal, "an ensemble child failed unexpectedly",
                               errors[i] ? "child threw an exception" : "child did not finish"));
    }
  }
  co_return out;
}

std::string EnsembleRoute::combiner_prompt(
    const core::ChatRequest& req, const std::vector<const core::Completion*>& candidates) const {
  const std::string rendered = render_candidates(candidates);
  return opts_.prompt.render([&](const std::string& name) -> std::string {
    if (name == "input") return req.last_user_text();
    if (name == "candidates") return rendered;
    if (name == "n") return std::to_string(candidates.size());
    return {};
  });
}

asio::awaitable<Result<core::Completion>> EnsembleRoute::run(const core::ChatRequest& req,
                                                             ExecContext& ctx,
                                                             core::StreamSink* sink) {
  const SteadyTime t0 = SteadyClock::now();
  std::vector<Result<core::Completion>> results = co_await run_children(req, ctx);

  std::string failed;      // "'b' failed (upstream_error); "
  std::vector<size_t> ok;  // indexes of children that answered
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i]) {
      ok.push_back(i);
    } else {
      failed += "'" + opts_.children[i]->name() + "' failed (" +
                std::string(error_code_name(results[i].error().code)) + "); ";
    }
  }
  const std::string prefix = std::string(kind()) + ": " + failed;
  if (ok.empty()) {
    const std::string code(error_code_name(results[0].error().code));
    push_route_span(ctx, name_, prefix + "no child answered", t0, false, code);
    co_return std::move(results[0]);
  }
  std::vector<const core::Completion*> candidates;
  for (size_t i : ok) candidates.push_back(&results[i].value());

  size_t chosen = 0;  // index into `ok`
  std::string detail;
  if (opts_.combine == Combine::kVote) {
    std::vector<std::optional<std::string>> votes;
    for (const core::Completion* c : candidates)
      votes.push_back(extract_vote(c->content, opts_.extract.get()));
    std::vector<std::string> voter_names;
    for (size_t i : ok) voter_names.push_back(opts_.children[i]->name());
    std::string tally;
    std::optional<size_t> w = vote_winner(votes, &tally, &voter_names);
    std::string named;
    if (w) {
      chosen = *w;
      for (size_t k = 0; k < votes.size(); ++k) {
        if (votes[k]) continue;
        named += (named.empty() ? "" : ", ") + opts_.children[ok[k]]->name();
      }
      detail = "vote " + tally + (named.empty() ? "" : "; no answer: " + named);
    } else {
      ctx.trace.flags.push_back(core::ReviewFlag::kEnsembleNoVote);
      detail = "vote: no answer could be extracted from any child";
    }
  } else if (opts_.combine == Combine::kJudge) {
    core::ChatRequest jreq = sub_request(req, combiner_prompt(req, candidates));
    Result<core::Completion> verdict = co_await opts_.combiner->run(jreq, ctx, nullptr);
    if (!verdict) {
      ctx.trace.flags.push_back(core::ReviewFlag::kJudgeFailed);
      detail = "judge '" + opts_.combiner->name() + "' failed (" +
               std::string(error_code_name(verdict.error().code)) + "), first answer kept";
    } else if (auto choice = parse_judge_choice(verdict->content, candidates.size(),
                                                opts_.choice_pattern.get())) {
      chosen = *choice;
      detail = "judge '" + opts_.combiner->name() + "' picked " + std::to_string(chosen + 1) +
               " of " + std::to_string(candidates.size());
    } else {
      ctx.trace.flags.push_back(core::ReviewFlag::kJudgeUnparsed);
      std::string shown = verdict->content.substr(0, 60);
      detail = "judge '" + opts_.combiner->name() + "' gave no valid choice ('" + shown +
               "'), first answer kept";
    }
  } else {
    core::ChatRequest freq = sub_request(req, combiner_prompt(req, candidates));
    bool streamed = false;
    struct Watch final : core::StreamSink {
      core::StreamSink* inner;
      bool* wrote;
      asio::awaitable<bool> write(const core::Delta& d) override {
        *wrote = true;
        co_return co_await inner->write(d);
      }
      asio::awaitable<bool> flush() override { co_return co_await inner->flush(); }
    } watch;
    watch.inner = sink;
    watch.wrote = &streamed;
    Result<core::Completion> fused =
        co_await opts_.combiner->run(freq, ctx, sink ? &watch : nullptr);
    if (fused) {
      attribute_answer(ctx, table_, *fused);
      push_route_span(ctx, name_,
                      prefix + "fuse of " + std::to_string(candidates.size()) + " answers by '" +
                          opts_.combiner->name() + "'",
                      t0);
      co_return fused;
    }
    const ErrorCode code = fused.error().code;
    if (streamed || code == ErrorCode::kCancelled) {
      push_route_span(ctx, name_,
                      prefix + "fuser '" + opts_.combiner->name() + "' failed (" +
                          std::string(error_code_name(code)) + ")",
                      t0, false, std::string(error_code_name(code)));
      co_return fused;
    }
    ctx.trace.flags.push_back(core::ReviewFlag::kFuseFailed);
    detail = "fuser '" + opts_.combiner->name() + "' failed (" +
             std::string(error_code_name(code)) + "), first answer kept";
  }

  const size_t child = ok[chosen];
  core::Completion answer = std::move(results[child].value());
  attribute_answer(ctx, table_, answer);
  if (sink && !co_await write_whole(*sink, answer)) {
    push_route_span(ctx, name_, prefix + detail + "; the client went away", t0, false, "cancelled");
    co_return make_error(ErrorCode::kCancelled, "the client closed the connection");
  }
  push_route_span(ctx, name_,
                  prefix + detail + "; '" + opts_.children[child]->name() + "' answered", t0);
  co_return answer;
}

std::unique_ptr<Route> build_ensemble_route(const config::RouteSpec& spec, size_t,
                                            RouteTable& table) {
  config::MapReader r(spec.node, spec.path, table.config().path, spec.line);
  r.only({"name", "type", "children", "combine", "extract", "judge", "fuser", "prompt",
          "choice_pattern"});
  EnsembleOptions o;
  for (const config::Field& c : r["children"].items())
    o.children.push_back(&resolve_child(table, c));
  if (o.children.size() < 2) {
    r["children"].fail("an ensemble needs at least two children (a list of routes or models)");
  }
  const std::string combine = r["combine"].one_of({"vote", "judge", "fuse"}, "vote");
  o.combine = combine == "judge"  ? Combine::kJudge
              : combine == "fuse" ? Combine::kFuse
                                  : Combine::kVote;
  auto refuse = [&](std::string_view key, const std::string& why) {
    if (r.has(key)) r[key].fail(why);
  };
  const std::string combiner_key = o.combine == Combine::kJudge ? "judge" : "fuser";
  if (o.combine == Combine::kVote) {
    refuse("judge", "only `combine: judge` uses a judge");
    refuse("fuser", "only `combine: fuse` uses a fuser");
    refuse("prompt", "a vote uses no prompt (set `combine: judge` or `combine: fuse`)");
    refuse("choice_pattern", "only `combine: judge` parses a choice");
    const config::Field ex = r["extract"];
    if (ex.present()) o.extract = compile_regex(ex, ex.as<std::string>());
  } else {
    refuse("extract", "only `combine: vote` extracts answers");
    refuse(o.combine == Combine::kJudge ? "fuser" : "judge",
           "`combine: " + combine + "` takes `" + combiner_key + ":`");
    const config::Field cf = r[combiner_key];
    if (!cf.present()) {
      cf.fail("`combine: " + combine + "` needs `" + combiner_key +
              ": NAME` (a route or model declared earlier)");
    }
    o.combiner = &resolve_child(table, cf);
    const config::Field pf = r["prompt"];
    auto known = [](const std::string& name) -> std::string {
      if (name == "input" || name == "candidates" || name == "n") return {};
      return "unknown" + config::suggest(name, {"input", "candidates", "n"});
    };
    o.prompt = pf.present()
                   ? PromptTemplate::parse(pf, known)
                   : PromptTemplate::from_text(o.combine == Combine::kJudge ? kDefaultJudgePrompt
                                                                            : kDefaultFusePrompt);
    if (pf.present()) {
      bool has_candidates = false;
      for (const auto& p : o.prompt.placeholders()) has_candidates |= p == "candidates";
      if (!has_candidates) pf.fail("the prompt must contain {candidates}");
    }
    if (o.combine == Combine::kJudge) {
      const config::Field cp = r["choice_pattern"];
      if (cp.present()) o.choice_pattern = compile_regex(cp, cp.as<std::string>());
    } else {
      refuse("choice_pattern", "only `combine: judge` parses a choice");
    }
  }
  return std::make_unique<EnsembleRoute>(spec.name, std::move(o), table);
}

void register_ensemble_kind() { RouteTable::register_kind("ensemble", build_ensemble_route); }

}  // namespace triage::routes
