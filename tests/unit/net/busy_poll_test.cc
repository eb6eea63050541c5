// net/busy_poll: the per-thread upstream-wait accounting and the I/O loop that polls instead of
// sleeping while a fast upstream reply is expected. The loop must behave like
// io_context::run(): run every handler, return when stopped or out of work, also while polling.
#include "net/busy_poll.h"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <thread>

namespace triage::net {
namespace {

namespace asio = boost::asio;
using std::chrono::microseconds;
using std::chrono::milliseconds;

TEST(UpstreamWait, CountsOpenWaitsAndLearnsFromCompletedOnes) {
  PollHint& h = poll_hint();
  h = PollHint{};
  {
    UpstreamWait a;
    EXPECT_EQ(h.awaiting_upstream, 1);
    {
      UpstreamWait b;
      EXPECT_EQ(h.awaiting_upstream, 2);
      b.done();
      EXPECT_EQ(h.awaiting_upstream, 1);
      EXPECT_LT(h.reply_ewma_us, 1'000'000);  // learned from b (first sample taken as is)
      b.done();                                // idempotent
      EXPECT_EQ(h.awaiting_upstream, 1);
    }
    EXPECT_EQ(h.awaiting_upstream, 1);  // b's destructor does not count twice
  }
  EXPECT_EQ(h.awaiting_upstream, 0);  // a failed wait (no done) is still closed
}

TEST(UpstreamWait, SlowRepliesRaiseTheAverageAboveAWindow) {
  PollHint& h = poll_hint();
  h = PollHint{};
  h.reply_ewma_us = 10;
  for (int i = 0; i < 40; ++i) {
    UpstreamWait w;
    std::this_thread::sleep_for(milliseconds(1));  // a "slow" 1 ms reply
    w.done();
  }
  EXPECT_GT(h.reply_ewma_us, 500);  // polling (window 200 us, say) would now be off
}

// Runs the loop on its own thread (the hint is per thread) with a fast expected reply, so it
// polls whenever it is idle.
void run_polling(asio::io_context& ioc) {
  std::thread t([&ioc] {
    PollHint& h = poll_hint();
    h.awaiting_upstream = 1;
    h.reply_ewma_us = 1;
    run_io(ioc, microseconds(200));
    h = PollHint{};
  });
  t.join();
}

TEST(RunIo, RunsEveryHandlerAndReturnsWhenOutOfWorkWhilePolling) {
  asio::io_context ioc{1};
  int ran = 0;
  for (int i = 0; i < 100; ++i) asio::post(ioc, [&ran] { ++ran; });
  asio::steady_timer timer(ioc, milliseconds(5));
  bool fired = false;
  timer.async_wait([&fired](const boost::system::error_code& ec) { fired = !ec; });
  run_polling(ioc);
  EXPECT_EQ(ran, 100);
  EXPECT_TRUE(fired);  // waited for the timer, did not return while handlers were pending
}

TEST(RunIo, ReturnsWhenStoppedFromAnotherThreadWhilePolling) {
  asio::io_context ioc{1};
  auto guard = asio::make_work_guard(ioc);  // never out of work: only stop() ends the loop
  std::thread stopper([&ioc] {
    std::this_thread::sleep_for(milliseconds(20));
    ioc.stop();
  });
  run_polling(ioc);
  stopper.join();
  EXPECT_TRUE(ioc.stopped());
}

TEST(RunIo, WindowZeroIsPlainRun) {
  asio::io_context ioc{1};
  int ran = 0;
  asio::post(ioc, [&ran] { ++ran; });
  run_io(ioc, microseconds(0));
  EXPECT_EQ(ran, 1);
}

}  // namespace
}  // namespace triage::net
