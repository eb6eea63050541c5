// The core request/response types: what a request's last user text is, and the defaults every
// provider and route relies on.
#include "core/chat.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <optional>

namespace triage::core {
namespace {

ChatRequest conversation(std::initializer_list<std::pair<const char*, const char*>> turns) {
  ChatRequest r;
  for (const auto& [role, text] : turns) r.messages.push_back(Message{role, text, {}});
  return r;
}

TEST(ChatRequest, LastUserTextIsTheLatestUserMessage) {
  const ChatRequest r = conversation({{"system", "be brief"},
                                      {"user", "first question"},
                                      {"assistant", "first answer"},
                                      {"user", "second question"},
                                      {"assistant", "second answer"}});
  EXPECT_EQ(r.last_user_text(), "second question");
  EXPECT_EQ(conversation({{"system", "be brief"}, {"assistant", "hi"}}).last_user_text(), "");
  EXPECT_EQ(ChatRequest{}.last_user_text(), "");
  // An empty user message still counts as the latest one.
  EXPECT_EQ(conversation({{"user", "asked"}, {"user", ""}}).last_user_text(), "");
}

TEST(ChatTypes, DefaultsMeanNothingHappenedYet) {
  const ChatRequest req;
  EXPECT_FALSE(req.stream);
  EXPECT_FALSE(req.include_usage);
  EXPECT_FALSE(req.max_tokens.has_value());
  EXPECT_EQ(req.meta.cancellation, nullptr);

  const Completion c;
  EXPECT_EQ(c.finish_reason, "stop");
  EXPECT_EQ(c.usage.prompt_tokens, 0);
  EXPECT_EQ(c.usage.completion_tokens, 0);
  EXPECT_FALSE(c.usage.estimated);
  EXPECT_FALSE(c.synthesized);
  EXPECT_FALSE(c.grade.has_value());  // never graded unless a provider knows the grade
  EXPECT_TRUE(c.tool_calls.is_null());
  EXPECT_TRUE(c.token_logprobs.empty());

  const Delta d;
  EXPECT_FALSE(d.more);
  EXPECT_EQ(d.tool_calls, nullptr);
}

// A sink that does not batch: flush() has nothing to send and succeeds.
class CountingSink final : public StreamSink {
 public:
  int writes = 0;
  boost::asio::awaitable<bool> write(const Delta&) override {
    ++writes;
    co_return true;
  }
};

TEST(StreamSink, DefaultFlushSucceeds) {
  CountingSink sink;
  std::optional<bool> wrote, flushed;
  boost::asio::io_context io;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        Delta d;
        d.content = "hi";
        const bool w = co_await sink.write(d);
        wrote = w;
        const bool f = co_await sink.flush();
        flushed = f;
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  io.run();
  EXPECT_EQ(wrote, std::optional<bool>(true));
  EXPECT_EQ(flushed, std::optional<bool>(true));
  EXPECT_EQ(sink.writes, 1);
}

}  // namespace
}  // namespace triage::core
