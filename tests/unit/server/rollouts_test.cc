// The server side of progressive rollouts (server/rollouts.h) over a real ConfigVersions and
// KnobMoves: traces fed through consume() move a split's weights through the steps; a hot
// reload with the same rollout block keeps the state and moves the new version's weights; a
// changed block starts over; a failing gate puts the weights back. Time is injected (the
// clock consume() records with, and tick()'s argument).
#include "server/rollouts.h"

#include <gtest/gtest.h>

#include <memory>

#include "engine/built_config.h"
#include "routes/split_route.h"
#include "server/access_control.h"

namespace triage::server {
namespace {

std::string yaml(const std::string& steps, double price = 1) {
  return "store: {type: none}\n"
         "models:\n"
         "  - {name: a, provider: openai, endpoint: \"http://127.0.0.1:9/v1\", prices: {input: " +
         std::to_string(price) + "}}\n"
         "  - {name: b, provider: openai, endpoint: \"http://127.0.0.1:9/v1\"}\n"
         "routes:\n"
         "  - name: chat\n"
         "    type: split\n"
         "    children: [{route: a, weight: 100}, {route: b, weight: 0}]\n"
         "    rollout:\n"
         "      candidate: b\n"
         "      steps: " + steps + "\n"
         "      hold_s: 0.01\n"
         "      min_requests: 3\n"
         "      gates: {max_success_drop: 0.1}\n";
}

const char* no_env(const char*) { return nullptr; }

class RolloutsTest : public ::testing::Test {
 protected:
  RolloutsTest()
      : cfg_(config::parse_config(yaml("[5, 100]"), "t.yaml")),
        access_(cfg_, no_env),
        versions_(engine::build_config(cfg_, no_env), {}, no_env, metrics_, access_),
        moves_(versions_, metrics_),
        rollouts_(cfg_, versions_, moves_, metrics_, [this] { return now_; }) {}

  double weight(size_t child) {
    auto serving = versions_.current();
    return dynamic_cast<routes::SplitRoute&>(*serving->routes().find("chat")).weight(child);
  }
  // `n` finished requests served by `child`, arrived at `at_ms`.
  void serve(const std::string& child, int n, int64_t at_ms, bool ok = true) {
    now_ = at_ms + 1;  // finished a moment after it arrived
    for (int i = 0; i < n; ++i) {
      core::Trace t;
      t.time_ms = at_ms;
      t.total_us = 10'000;
      t.split_choices.push_back({"chat", child});
      if (!ok) t.error_code = "upstream_error";
      rollouts_.consume(std::make_shared<const core::Trace>(std::move(t)));
    }
  }
  control::RolloutState state() { return rollouts_.list(t0_).at(0).status.state; }

  const int64_t t0_ = 1'700'000'000'000;
  int64_t now_ = t0_;
  config::Config cfg_;
  telemetry::Metrics metrics_;
  AccessControl access_;
  ConfigVersions versions_;
  KnobMoves moves_;
  Rollouts rollouts_;
};

TEST_F(RolloutsTest, StepsMoveTheWeightsAndAnUnchangedReloadKeepsThem) {
  EXPECT_DOUBLE_EQ(weight(1), 0);
  rollouts_.tick(t0_);  // start: auto
  EXPECT_EQ(state(), control::RolloutState::kRunning);
  EXPECT_DOUBLE_EQ(weight(0), 95);
  EXPECT_DOUBLE_EQ(weight(1), 5);
  const auto knob = moves_.last_move(versions_.current()->version.seq, "chat", "children[1].weight");
  ASSERT_TRUE(knob.has_value());
  EXPECT_EQ(knob->who, "rollout:chat");

  // A reload that changes a price but not the rollout block: same step on the new version.
  ASSERT_TRUE(versions_.apply(yaml("[5, 100]", 2), "t.yaml", "admin", "price"));
  rollouts_.tick(t0_ + 1);
  EXPECT_EQ(state(), control::RolloutState::kRunning);
  EXPECT_DOUBLE_EQ(weight(1), 5) << "the new version's weights follow the rollout";

  // Not enough candidate requests: no advance, whatever the time.
  serve("a", 3, t0_ + 2);
  serve("b", 2, t0_ + 2);
  rollouts_.tick(t0_ + 50);
  EXPECT_DOUBLE_EQ(weight(1), 5);
  serve("b", 1, t0_ + 2);
  rollouts_.tick(t0_ + 60);
  EXPECT_DOUBLE_EQ(weight(1), 100);
  EXPECT_DOUBLE_EQ(weight(0), 0);

  // A changed block starts over (auto: at its first step).
  ASSERT_TRUE(versions_.apply(yaml("[20, 100]", 2), "t.yaml", "admin", "new steps"));
  rollouts_.tick(t0_ + 70);
  EXPECT_EQ(rollouts_.list(t0_ + 70).at(0).status.step, 0);
  EXPECT_DOUBLE_EQ(weight(1), 20);
  EXPECT_DOUBLE_EQ(weight(0), 80);
}

TEST_F(RolloutsTest, AFailingGateRollsBackAndPutsTheWeightsBack) {
  rollouts_.tick(t0_);
  serve("a", 5, t0_ + 1);
  serve("b", 3, t0_ + 1, /*ok=*/false);
  rollouts_.tick(t0_ + 2);  // before the hold is over: a failure acts at once
  EXPECT_EQ(state(), control::RolloutState::kRolledBack);
  EXPECT_DOUBLE_EQ(weight(1), 0);
  EXPECT_DOUBLE_EQ(weight(0), 100);
  const RolloutView v = rollouts_.list(t0_ + 3).at(0);
  ASSERT_FALSE(v.events.empty());
  EXPECT_EQ(v.events.back().kind, "rolled_back");
  EXPECT_EQ(v.events.back().reason, "step 1 (5%): success 0.0% < 100.0% - 10.0 pts");
  EXPECT_NE(metrics_.render().find("triage_rollout_state{route=\"chat\",state=\"rolled_back\"} 1"),
            std::string::npos);
}

TEST_F(RolloutsTest, RequestsOfAnEarlierStepAndShadowTracesAreNotCountedAsRequests) {
  rollouts_.tick(t0_);
  serve("b", 3, t0_ - 1000, /*ok=*/false);  // arrived before the rollout started
  core::Trace shadow;
  shadow.time_ms = t0_ + 1;
  shadow.flags.push_back(core::ReviewFlag::kShadow);
  shadow.split_choices.push_back({"chat", "b"});
  shadow.error_code = "upstream_error";
  core::Span agree;
  agree.kind = core::SpanKind::kRoute;
  agree.agrees = false;
  shadow.spans.push_back(agree);
  now_ = t0_ + 1;
  rollouts_.consume(std::make_shared<const core::Trace>(shadow));
  rollouts_.tick(t0_ + 2);
  EXPECT_EQ(state(), control::RolloutState::kRunning);
  const RolloutView v = rollouts_.list(t0_ + 3).at(0);
  EXPECT_EQ(v.candidate.requests, 0);
  EXPECT_EQ(v.candidate_agreement.compared, 1);
  EXPECT_EQ(v.candidate_agreement.agreed, 0);
}

TEST_F(RolloutsTest, CommandsAnswerForUnknownRoutesAndWrongStates) {
  EXPECT_EQ(rollouts_.command("nope", RolloutCommand::kStart, t0_).error().code,
            ErrorCode::kNotFound);
  rollouts_.tick(t0_);
  EXPECT_EQ(rollouts_.command("chat", RolloutCommand::kResume, t0_).error().code,
            ErrorCode::kInvalidRequest);
  ASSERT_TRUE(rollouts_.command("chat", RolloutCommand::kAbort, t0_ + 1));
  EXPECT_DOUBLE_EQ(weight(1), 0);
  ASSERT_TRUE(rollouts_.command("chat", RolloutCommand::kStart, t0_ + 2));
  EXPECT_DOUBLE_EQ(weight(1), 5);
}

// A weight moved by someone else during a running rollout is kept: the rollout pauses and
// says who moved what; resume puts the step's weights back.
TEST_F(RolloutsTest, AWeightMovedByHandPausesTheRolloutAndResumeMovesItBack) {
  rollouts_.tick(t0_);
  ASSERT_DOUBLE_EQ(weight(1), 5);
  ASSERT_TRUE(moves_.move(KnobMove{"chat", "children[1].weight", 30, "admin:alice", "try more"}));
  rollouts_.tick(t0_ + 1);
  EXPECT_EQ(state(), control::RolloutState::kPaused);
  EXPECT_DOUBLE_EQ(weight(1), 30) << "the person's move stays";
  const RolloutView v = rollouts_.list(t0_ + 1).at(0);
  ASSERT_FALSE(v.events.empty());
  EXPECT_EQ(v.events.back().kind, "paused");
  EXPECT_NE(v.events.back().reason.find(
                "children[1].weight moved to 30 by admin:alice while the rollout held it at 5"),
            std::string::npos)
      << v.events.back().reason;
  rollouts_.tick(t0_ + 2);
  EXPECT_DOUBLE_EQ(weight(1), 30) << "paused: nothing moves";
  auto resumed = rollouts_.command("chat", RolloutCommand::kResume, t0_ + 3, "admin:bob");
  ASSERT_TRUE(resumed);
  EXPECT_NE(resumed.value().reason.find("(by admin:bob)"), std::string::npos);
  EXPECT_DOUBLE_EQ(weight(1), 5);
  EXPECT_DOUBLE_EQ(weight(0), 95);
  rollouts_.tick(t0_ + 4);
  EXPECT_EQ(state(), control::RolloutState::kRunning) << "its own moves do not pause it";
}

// A finished rollout whose block leaves the config is over: the same block coming back later
// (the next candidate behind the same child) starts over at its first step, never at 100%.
TEST_F(RolloutsTest, ABlockThatComesBackAfterItWasRemovedStartsOver) {
  rollouts_.tick(t0_);
  serve("b", 3, t0_ + 1);
  serve("a", 3, t0_ + 1);
  rollouts_.tick(t0_ + 50);  // 5% -> 100%
  serve("b", 3, t0_ + 51);
  rollouts_.tick(t0_ + 100);
  ASSERT_EQ(state(), control::RolloutState::kPromoted);
  ASSERT_DOUBLE_EQ(weight(1), 100);

  const std::string with_block = yaml("[5, 100]");
  const std::string without = with_block.substr(0, with_block.find("    rollout:\n"));
  ASSERT_TRUE(versions_.apply(without, "t.yaml", "admin", "cut over"));
  rollouts_.tick(t0_ + 110);
  EXPECT_TRUE(rollouts_.list(t0_ + 110).empty());
  ASSERT_TRUE(versions_.apply(with_block, "t.yaml", "admin", "next candidate"));
  rollouts_.tick(t0_ + 120);
  EXPECT_EQ(state(), control::RolloutState::kRunning);
  EXPECT_EQ(rollouts_.list(t0_ + 120).at(0).status.step, 0);
  EXPECT_DOUBLE_EQ(weight(1), 5);
  bool ended = false;
  const auto views = rollouts_.list(t0_ + 120);  // named: the loop reads into it (ASan found it)
  for (const auto& e : views.at(0).events) {
    if (e.kind == "ended") ended = e.reason.find("removed the rollout block") != std::string::npos;
  }
  EXPECT_TRUE(ended) << "the removal is on the timeline";
}

TEST(RolloutWeights, TheCandidateGetsThePercentAndTheOthersShareTheRest) {
  EXPECT_EQ(rollout_weights({100, 0}, 1, 25), (std::vector<double>{75, 25}));
  EXPECT_EQ(rollout_weights({3, 0, 1}, 1, 20), (std::vector<double>{60, 20, 20}));
  EXPECT_EQ(rollout_weights({90, 10}, 1, 0), (std::vector<double>{100, 0}));
  EXPECT_EQ(rollout_weights({90, 10}, 0, 100), (std::vector<double>{100, 0}));
}

}  // namespace
}  // namespace triage::server
