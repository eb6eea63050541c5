#include "telemetry/write_queue.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace triage::telemetry {
namespace {

core::TracePtr trace(const std::string& id) {
  auto t = std::make_shared<core::Trace>();
  t->request_id = id;
  return t;
}

WriteQueueOptions options(int64_t capacity, int64_t batch, int64_t interval_ms) {
  return {"test", capacity, batch, interval_ms};
}

TEST(WriteQueue, RefusesBadBounds) {
  EXPECT_THROW(WriteQueue(options(0, 1, 0)), std::runtime_error);
  EXPECT_THROW(WriteQueue(options(1, 0, 0)), std::runtime_error);
  EXPECT_THROW(WriteQueue(options(1, 1, -1)), std::runtime_error);
}

TEST(WriteQueue, AFullBatchIsDueAtOnceAndTheBoundCoversRowsBeingWritten) {
  WriteQueue q(options(3, 2, /*interval_ms=*/600000));
  q.push(trace("a"));
  q.push(trace("b"));  // a full batch: due without waiting for the (10 min) interval
  std::vector<core::TracePtr> batch;
  std::vector<ReviewEntry> reviews;
  ASSERT_TRUE(q.take(batch, reviews));
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0]->request_id, "a");
  q.push(trace("c"));
  q.push(trace("d"));  // over the bound: a and b are taken but not settled
  EXPECT_EQ(q.queued(), 3);
  EXPECT_EQ(q.dropped(), 1);
  EXPECT_TRUE(q.full());
  q.settle(/*written=*/1, /*dropped=*/1);
  EXPECT_EQ(q.queued(), 1);
  EXPECT_EQ(q.written(), 1);
  EXPECT_FALSE(q.full());
}

// A take() that finds a batch already due does not start a new turn on the CPU: the writer has
// been running (a commit, say), so a long commit ends its turn at the next batch's first row.
// Restarting the turn there let a 1-3 ms commit and another 200 us of rows run as one turn.
TEST(WriteQueue, ATakeWithoutWaitingContinuesTheWritersTurn) {
  using Clock = std::chrono::steady_clock;
  WriteQueue q(options(10, 1, /*interval_ms=*/600000));
  std::vector<core::TracePtr> batch;
  std::vector<ReviewEntry> reviews;
  q.push(trace("a"));
  ASSERT_TRUE(q.take(batch, reviews));
  q.between_rows();  // whatever the first turn did, a turn starts from here
  q.settle(1, 0);
  q.committed();
  batch.clear();
  // A "commit" longer than a turn, on the CPU.
  const auto busy_until = Clock::now() + std::chrono::nanoseconds(2 * TurnPacer::kTurnNs);
  while (Clock::now() < busy_until) {
  }
  q.push(trace("b"));
  ASSERT_TRUE(q.take(batch, reviews));  // due at once (batch_size 1): no wait
  const auto t0 = Clock::now();
  q.between_rows();  // the turn is over: a pause (a sleep of at least kPauseNs)
  EXPECT_GE(Clock::now() - t0, std::chrono::nanoseconds(TurnPacer::kPauseNs));
}

// The writer's turns end with a long pause (a fifth of a core at most) while it keeps up, and
// with a short one once more than four batches wait, so that a backlog is caught up.
TEST(WriteQueue, TheWriterPausesBrieflyOnlyWhenBehind) {
  WriteQueue q(options(100, 1, /*interval_ms=*/600000));
  std::vector<core::TracePtr> batch;
  std::vector<ReviewEntry> reviews;
  q.push(trace("a"));
  ASSERT_TRUE(q.take(batch, reviews));
  const auto turn = std::chrono::nanoseconds(TurnPacer::kTurnNs);
  std::this_thread::sleep_for(turn);  // a turn is over whatever started it
  EXPECT_FALSE(q.behind());
  EXPECT_EQ(q.between_rows(), TurnPacer::kPauseNs);
  for (int i = 0; i < 3; ++i) q.push(trace("b"));
  EXPECT_EQ(q.queued(), 4);  // four batches of one (one taken): not yet behind
  EXPECT_FALSE(q.behind());
  q.push(trace("c"));
  EXPECT_TRUE(q.behind());
  std::this_thread::sleep_for(turn);
  EXPECT_EQ(q.between_rows(), TurnPacer::kCatchUpPauseNs);
  q.settle(/*written=*/3, /*dropped=*/0);  // the backlog shrinks: long pauses again
  EXPECT_FALSE(q.behind());
  std::this_thread::sleep_for(turn);
  EXPECT_EQ(q.between_rows(), TurnPacer::kPauseNs);
}

// A quarter of the bound taken: the writer is far behind (rows will soon be dropped).
TEST(WriteQueue, AQuarterOfTheBoundTakenIsFarBehind) {
  WriteQueue q(options(100, 10, /*interval_ms=*/600000));
  for (int i = 0; i < 25; ++i) q.push(trace("a"));  // ids do not matter to the bound
  EXPECT_FALSE(q.far_behind());
  q.push(trace("b"));
  EXPECT_TRUE(q.far_behind());
  EXPECT_FALSE(q.behind());  // 26 queued, not over four batches of 10
}

TEST(WriteQueue, FlushWaitsForTheWriterToCommitWhatWasPushedBefore) {
  WriteQueue q(options(10, 100, /*interval_ms=*/600000));
  q.push(trace("a"));
  ASSERT_TRUE(q.push_review({"a", 1, {core::ReviewFlag::kEscalated}}));
  auto flushed = std::async(std::launch::async, [&] { return q.flush(60000); });
  std::vector<core::TracePtr> batch;
  std::vector<ReviewEntry> reviews;
  ASSERT_TRUE(q.take(batch, reviews));  // due: a flush() waits, not the interval
  EXPECT_EQ(batch.size(), 1u);
  EXPECT_EQ(reviews.size(), 1u);
  EXPECT_EQ(flushed.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  q.settle(1, 0);
  q.committed();
  EXPECT_TRUE(flushed.get());
  EXPECT_TRUE(q.flush(0));  // nothing pending
}

TEST(WriteQueue, APartialBatchWaitsForTheFlushInterval) {
  WriteQueue q(options(10, 100, /*interval_ms=*/30));
  const auto start = std::chrono::steady_clock::now();
  q.push(trace("a"));
  std::vector<core::TracePtr> batch;
  std::vector<ReviewEntry> reviews;
  ASSERT_TRUE(q.take(batch, reviews));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(30));
  EXPECT_EQ(batch.size(), 1u);
}

TEST(WriteQueue, HeldHandsNothingOutAndStopDrainsWhatIsLeftThenEnds) {
  WriteQueue q(options(10, 1, 0));
  q.hold();
  q.push(trace("a"));
  std::vector<core::TracePtr> batch;
  std::vector<ReviewEntry> reviews;
  auto taken = std::async(std::launch::async, [&] { return q.take(batch, reviews); });
  EXPECT_EQ(taken.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  q.stop();  // releases the hold
  ASSERT_TRUE(taken.get());
  EXPECT_EQ(batch.size(), 1u);
  q.push(trace("b"));  // refused after stop, counted
  EXPECT_EQ(q.dropped(), 1);
  EXPECT_FALSE(q.push_review({"b", 1, {core::ReviewFlag::kEscalated}}));
  batch.clear();
  EXPECT_FALSE(q.take(batch, reviews));
}

TEST(WriteQueue, SleepGivesUpOncePastTheDrainDeadline) {
  WriteQueue q(options(10, 1, 0));
  const auto now = SteadyClock::now();
  EXPECT_TRUE(q.sleep_until(now + std::chrono::milliseconds(5)));
  q.stop(/*drain_timeout_ms=*/20);
  const auto start = SteadyClock::now();
  EXPECT_TRUE(q.sleep_until(start + std::chrono::milliseconds(5)));  // inside the deadline
  EXPECT_FALSE(q.sleep_until(start + std::chrono::seconds(60)));    // cut at the deadline
  EXPECT_LT(SteadyClock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace triage::telemetry
