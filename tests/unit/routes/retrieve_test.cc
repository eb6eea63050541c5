#include "routes/retrieve.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "composite_harness.h"

namespace triage::routes {
namespace {

namespace fs = std::filesystem;
using composite_testing::composite_build_error;
using composite_testing::CompositeHarness;
using composite_testing::RecordingSink;
using composite_testing::route_spans;
using composite_testing::user_request;

// A tiny corpus in a fresh folder under the build tree.
class RetrieveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(TRIAGE_BINARY_DIR) / "test-tmp" /
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    write("cards.md",
          "# Cards\n\n## Lost card\nLock a lost card in the app, then order a replacement card.\n\n"
          "## PIN\nChange your PIN at any ATM.\n");
    write("transfers.md",
          "# Transfers\n\nThe daily transfer limit is $5,000.\nRaise the limit in Settings.\n\n"
          "International transfers cost $25 per wire.\n");
    write("travel.txt", "Travel notes\n\nTell us before travelling abroad with your card.\n");
    write("ignored.csv", "card,card,card,lost,lost\n");
  }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  std::string config(const std::string& extra = "") const {
    return R"yaml(
models:
  - {name: m, provider: openai, endpoint: "http://127.0.0.1:9/v1"}
routes:
  - name: kb
    type: retrieve
    documents: )yaml" +
           dir_.string() + "\n" + extra;
  }
  fs::path dir_;
};

TEST(SplitPassages, ParagraphsWithHeadingsJoinedToTheirText) {
  auto p = split_passages("a.md", "# Title\n\nIntro line one\nline two\n\n\n## Part\n\nBody.\r\n");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].title, "Title");
  EXPECT_EQ(p[0].text, "# Title\nIntro line one\nline two");
  EXPECT_EQ(p[1].text, "## Part\nBody.");
  auto q = split_passages("b.txt", "no title here\n\n  \nsecond");
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[0].title, "b.txt");
  EXPECT_EQ(q[1].text, "second");
}

TEST_F(RetrieveTest, RankingGolden) {
  CompositeHarness h(config());
  auto& kb = dynamic_cast<RetrieveRoute&>(h.route("kb"));
  // cards.md: 2 passages; transfers.md: 2; travel.txt: 2; the .csv is not indexed.
  ASSERT_EQ(kb.passages().size(), 6u);
  auto files = [&](const std::string& q) {
    std::string out;
    for (const auto& hit : kb.search(q)) {
      const Passage& p = kb.passages()[hit.passage];
      out += (out.empty() ? "" : " ") + p.file + ":" + p.text.substr(0, p.text.find('\n'));
    }
    return out;
  };
  // "Cards" (the title, indexed with each passage) folds to "card"; stop words do not count.
  EXPECT_EQ(files("I lost my card!"),
            "cards.md:# Cards cards.md:## PIN travel.txt:Tell us before travelling abroad with "
            "your card.");
  EXPECT_EQ(files("what is my daily transfer limit"),
            "transfers.md:# Transfers transfers.md:International transfers cost $25 per wire.");
  EXPECT_EQ(files("change PIN"), "cards.md:## PIN");
  EXPECT_EQ(files("going abroad"), "travel.txt:Tell us before travelling abroad with your card.");
  EXPECT_EQ(files("zebra"), "");
  // Only the query's first 16 KiB are searched (ml::model_text).
  std::string padded;
  while (padded.size() < 16 * 1024) padded += "zebra ";
  padded.resize(16 * 1024);
  EXPECT_EQ(files("change PIN " + padded), "cards.md:## PIN");
  EXPECT_EQ(files(padded + " change PIN"), "");
}

TEST_F(RetrieveTest, OutputsPassagesWithSourcesAndTracesTheSearch) {
  CompositeHarness h(config("    top_k: 2\n"));
  core::Trace trace;
  RecordingSink sink;
  auto r = h.run("kb", user_request("how do I raise my transfer limit?"), trace, &sink);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content,
            "[1] transfers.md: Transfers\n# Transfers\nThe daily transfer limit is $5,000.\n"
            "Raise the limit in Settings.\n\n"
            "[2] transfers.md: Transfers\nInternational transfers cost $25 per wire.");
  EXPECT_EQ(r->label, "transfers.md");
  EXPECT_EQ(sink.text, r->content);
  EXPECT_EQ(sink.writes, 1);
  EXPECT_TRUE(h.log().calls.empty());  // no model is called
  EXPECT_EQ(trace.cost_usd, 0.0);
  auto spans = route_spans(trace);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0]->detail.rfind("retrieve/1: transfers.md (", 0), 0u) << spans[0]->detail;
}

TEST_F(RetrieveTest, NothingMatchingAnswersTheEmptyText) {
  CompositeHarness h(config("    empty_answer: nothing found\n"));
  core::Trace trace;
  auto r = h.run("kb", user_request("zebra"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "nothing found");
  EXPECT_EQ(route_spans(trace)[0]->detail, "retrieve/1: no passage matched");
}

TEST_F(RetrieveTest, RefusesAMissingOrEmptyFolder) {
  EXPECT_NE(composite_build_error(R"yaml(
models:
  - {name: m, provider: openai, endpoint: "http://127.0.0.1:9/v1"}
routes:
  - {name: kb, type: retrieve, documents: /nonexistent/kb}
)yaml")
                .find("t.yaml:5: routes[0].documents: '/nonexistent/kb' is not a readable folder"),
            std::string::npos);
  EXPECT_NE(composite_build_error(config("    extensions: [rst]\n"))
                .find("routes[0].documents: no passages"),
            std::string::npos);
}

}  // namespace
}  // namespace triage::routes
