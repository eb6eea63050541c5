#include "net/sse.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace triage::net {
namespace {

struct Ev {
  std::string event, data, id;
  bool operator==(const Ev&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Ev& e) {
  return os << "{" << e.event << "|" << e.data << "|" << e.id << "}";
}

// Feeds `input` in slices of the given sizes (cycled) and collects every event.
std::vector<Ev> parse_split(std::string_view input, const std::vector<size_t>& sizes) {
  SseParser p;
  std::vector<Ev> out;
  size_t i = 0, k = 0;
  while (i < input.size()) {
    size_t n = std::min(sizes[k++ % sizes.size()], input.size() - i);
    p.feed(input.substr(i, n));
    i += n;
    while (auto e = p.next())
      out.push_back({std::string(e->event), std::string(e->data), std::string(e->id)});
  }
  return out;
}

const char kStream[] =
    ": keep-alive comment\r\n"
    "\r\n"
    "event: message_start\r\n"
    "data: {\"a\":1}\r\n"
    "\r\n"
    "data: line one\n"
    "data:line two\n"
    "data\n"
    "id: 7\n"
    "\n"
    "event: ping\r"
    "data: {}\r"
    "\r"
    "retry: 100\n"
    "event: no_data\n"
    "\n"
    "data: [DONE]\n\n";

const std::vector<Ev> kExpected = {
    {"message_start", "{\"a\":1}", ""},
    {"", "line one\nline two\n", "7"},
    {"ping", "{}", ""},
    {"", "[DONE]", ""},
};

TEST(Sse, WholeInput) { EXPECT_EQ(parse_split(kStream, {10000}), kExpected); }

TEST(Sse, EveryByteSplit) { EXPECT_EQ(parse_split(kStream, {1}), kExpected); }

TEST(Sse, AllTwoWaySplits) {
  std::string_view in(kStream);
  for (size_t cut = 0; cut <= in.size(); ++cut) {
    SseParser p;
    std::vector<Ev> out;
    for (auto part : {in.substr(0, cut), in.substr(cut)}) {
      p.feed(part);
      while (auto e = p.next())
        out.push_back({std::string(e->event), std::string(e->data), std::string(e->id)});
    }
    EXPECT_EQ(out, kExpected) << "cut at " << cut;
  }
}

TEST(Sse, IrregularSplits) {
  for (std::vector<size_t> sizes :
       std::vector<std::vector<size_t>>{{2, 3}, {7, 1, 13}, {5}, {1, 1, 2, 40}, {17, 4}}) {
    EXPECT_EQ(parse_split(kStream, sizes), kExpected);
  }
}

TEST(Sse, CrLfSplitAcrossFeedsIsOneLineEnd) {
  SseParser p;
  p.feed("data: x\r");
  EXPECT_FALSE(p.next());
  p.feed("\n\r");
  auto e = p.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->data, "x");
  p.feed("\n");
  EXPECT_FALSE(p.next());
  EXPECT_FALSE(p.has_partial());
}

TEST(Sse, PartialEventAtEndIsReported) {
  SseParser p;
  p.feed("data: {\"half\":");
  EXPECT_FALSE(p.next());
  EXPECT_TRUE(p.has_partial());
  p.feed("1}\n");
  EXPECT_FALSE(p.next());
  EXPECT_TRUE(p.has_partial());
  p.feed("\n");
  auto e = p.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->data, "{\"half\":1}");
  EXPECT_FALSE(p.has_partial());
}

TEST(Sse, SingleDataLineSurvivesFeedBeforeDispatch) {
  // The one-line fast path views the input buffer; a feed before the blank line compacts it.
  SseParser p;
  p.feed("data: first\n");
  EXPECT_FALSE(p.next());
  p.feed("data: second\n");
  EXPECT_FALSE(p.next());
  p.feed(std::string(5000, ':') + "\n\n");
  auto e = p.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->data, "first\nsecond");
}

TEST(Sse, OnlyOneSpaceAfterColonIsStripped) {
  SseParser p;
  p.feed("data:  two spaces\n\n");
  auto e = p.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->data, " two spaces");
}

TEST(Sse, ResetForgetsState) {
  SseParser p;
  p.feed("event: x\ndata: 1\n");
  p.reset();
  p.feed("\n");
  EXPECT_FALSE(p.next());
  p.feed("data: 2\n\n");
  auto e = p.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->event, "");
  EXPECT_EQ(e->data, "2");
}

}  // namespace
}  // namespace triage::net
