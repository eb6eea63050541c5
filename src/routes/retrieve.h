#pragma once
// `retrieve`: in-process BM25 search over a folder of documents, for retrieval-generation
// (a pipeline step finds the passages, a later step's model answers from them).
//
//   - name: kb
//     type: retrieve
//     documents: kb              # folder, relative to the config file; read once at start-up
//     extensions: [md, txt]      # the default
//     top_k: 3                   # passages returned (default 3)
//     k1: 1.2                    # BM25 parameters (defaults)
//     b: 0.75
//     empty_answer: "No knowledge-base article matches this question."
//
// Documents: every file with a listed extension directly in the folder, in file-name order.
// Each is split into passages at blank lines; a block made only of Markdown headings is joined
// to the block after it, and a document's first `# ` title is indexed with each of its passages
// (but not repeated in the output). The query is the request's last user message.
//
// Output (Completion.content): the passages, best first, each as "[i] FILE: TITLE\nTEXT",
// separated by blank lines; `empty_answer` when nothing matches. Completion.label is the best
// passage's file name (pipelines can branch on it), confidence its BM25 score. No model is
// called and nothing is billed; a kRoute span lists the hits with their scores, and the search
// time is routing time. Streaming: the output is written as one delta.
//
// Threading: the index is built in the factory and read-only afterwards.
#include <memory>
#include <string>
#include <vector>

#include "ml/bm25.h"
#include "routes/route.h"
#include "routes/route_table.h"

namespace triage::routes {

struct Passage {
  std::string file;   // file name inside the folder ("card-lost.md")
  std::string title;  // the document's first `# ` heading, else the file name
  std::string text;   // the passage as written (headings of its section included)
};

// Splits a document into passages as described above. Pure.
std::vector<Passage> split_passages(const std::string& file, const std::string& text);

class RetrieveRoute final : public Route {
 public:
  RetrieveRoute(std::string name, std::vector<Passage> passages, ml::Bm25Params params,
                size_t top_k, std::string empty_answer);
  std::string_view kind() const override { return "retrieve/1"; }
  const std::string& name() const override { return name_; }
  boost::asio::awaitable<Result<core::Completion>> run(const core::ChatRequest& req,
                                                       ExecContext& ctx,
                                                       core::StreamSink* sink) override;

  // The search itself: the best passages for `query` (pure; what run() formats).
  std::vector<ml::Bm25Hit> search(const std::string& query) const;
  const std::vector<Passage>& passages() const { return passages_; }

 private:
  std::string name_;
  std::vector<Passage> passages_;
  ml::Bm25Index index_;
  size_t top_k_;
  std::string empty_answer_;
};

std::unique_ptr<Route> build_retrieve_route(const config::RouteSpec& spec, size_t index,
                                            RouteTable& table);
void register_retrieve_kind();

}  // namespace triage::routes
