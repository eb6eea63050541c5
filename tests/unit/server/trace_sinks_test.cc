// TraceSinkList: every sink gets every trace once, in the order the sinks were added, and the
// latency split is completed before any sink sees the trace.
#include "server/trace_sinks.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace triage::server {
namespace {

// Appends "<name>:<request id>" to a shared log and keeps what it was given.
class LoggingSink final : public core::TraceSink {
 public:
  LoggingSink(std::string name, std::vector<std::string>& log) : name_(std::move(name)), log_(log) {}
  void consume(const core::TracePtr& trace) override {
    log_.push_back(name_ + ":" + trace->request_id);
    seen.push_back(trace);
  }
  std::vector<core::TracePtr> seen;

 private:
  std::string name_;
  std::vector<std::string>& log_;
};

core::Trace trace(std::string id, int64_t routing, int64_t queue, int64_t upstream) {
  core::Trace t;
  t.request_id = std::move(id);
  t.routing_us = routing;
  t.queue_us = queue;
  t.upstream_us = upstream;
  return t;
}

TEST(TraceSinkList, EverySinkOnceInOrderSameImmutableTrace) {
  std::vector<std::string> log;
  LoggingSink metrics("metrics", log), store("store", log), review("review", log);
  TraceSinkList sinks;
  sinks.add(metrics);
  sinks.add(store);
  sinks.add(review);
  EXPECT_EQ(sinks.size(), 3u);
  sinks.publish(trace("a", 10, 20, 300), 400);
  sinks.publish(trace("b", 0, 0, 0), 5);
  EXPECT_EQ(log, (std::vector<std::string>{"metrics:a", "store:a", "review:a", "metrics:b",
                                           "store:b", "review:b"}));
  ASSERT_EQ(store.seen.size(), 2u);
  EXPECT_EQ(metrics.seen[0].get(), store.seen[0].get());  // one trace object, shared
  EXPECT_EQ(review.seen[1].get(), store.seen[1].get());
}

TEST(TraceSinkList, CompletesTheLatencySplitBeforeAnySinkSeesIt) {
  std::vector<std::string> log;
  LoggingSink only("s", log);
  TraceSinkList sinks;
  sinks.add(only);
  sinks.publish(trace("a", 100, 50, 1000), 1234);
  const core::Trace& t = *only.seen.at(0);
  EXPECT_EQ(t.total_us, 1234);
  EXPECT_EQ(t.overhead_us, 84);  // 1234 - 100 - 50 - 1000
  EXPECT_EQ(t.routing_us + t.queue_us + t.upstream_us + t.overhead_us, t.total_us);
}

TEST(TraceSinkList, OverheadIsNeverNegative) {
  // Parts measured on other clocks (a shadow run's, a check's) may sum past the total.
  core::Trace t = trace("a", 10, 0, 500);
  core::complete_latency_split(t, 400);
  EXPECT_EQ(t.total_us, 400);
  EXPECT_EQ(t.overhead_us, 0);
}

}  // namespace
}  // namespace triage::server
