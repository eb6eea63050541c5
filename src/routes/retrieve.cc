#include "routes/retrieve.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/yaml_util.h"
#include "ml/text.h"
#include "routes/composite_util.h"

namespace triage::routes {

namespace fs = std::filesystem;

namespace {

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  const size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

bool only_headings(const std::string& block) {
  std::istringstream in(block);
  std::string line;
  while (std::getline(in, line)) {
    if (!trim(line).empty() && trim(line)[0] != '#') return false;
  }
  return true;
}

std::string format_score(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

}  // namespace

std::vector<Passage> split_passages(const std::string& file, const std::string& text) {
  std::vector<std::string> blocks;
  std::string current;
  std::string title;
  std::istringstream in(text);
  std::string line;
  auto flush = [&] {
    std::string b = trim(current);
    current.clear();
    if (!b.empty()) blocks.push_back(std::move(b));
  };
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (title.empty() && line.rfind("# ", 0) == 0) title = trim(line.substr(2));
    if (trim(line).empty()) {
      flush();
    } else {
      current += line;
      current += '\n';
    }
  }
  flush();
  std::vector<Passage> out;
  std::string pending_headings;
  for (std::string& b : blocks) {
    if (only_headings(b)) {
      pending_headings += b + "\n";
      continue;
    }
    out.push_back({file, title.empty() ? file : title, pending_headings + b});
    pending_headings.clear();
  }
  if (!pending_headings.empty()) {
    out.push_back({file, title.empty() ? file : title, trim(pending_headings)});
  }
  return out;
}

RetrieveRoute::RetrieveRoute(std::string name, std::vector<Passage> passages, ml::Bm25Params params,
                             size_t top_k, std::string empty_answer)
    : name_(std::move(name)),
      passages_(std::move(passages)),
      index_(params),
      top_k_(top_k),
      empty_answer_(std::move(empty_answer)) {
  for (const Passage& p : passages_) index_.add(p.title + "\n" + p.text);
}

std::vector<ml::Bm25Hit> RetrieveRoute::search(const std::string& query) const {
  return index_.search(ml::model_text(query), top_k_);
}

boost::asio::awaitable<Result<core::Completion>> RetrieveRoute::run(const core::ChatRequest& req,
                                                                    ExecContext& ctx,
                                                                    core::StreamSink* sink) {
  const SteadyTime t0 = SteadyClock::now();
  const std::vector<ml::Bm25Hit> hits = search(req.last_user_text());
  core::Completion c;
  std::string detail = std::string(kind()) + ": ";
  for (size_t i = 0; i < hits.size(); ++i) {
    const Passage& p = passages_[hits[i].passage];
    if (i) {
      c.content += "\n\n";
      detail += ", ";
    }
    c.content.append("[").append(std::to_string(i + 1)).append("] ");
    c.content.append(p.file).append(": ").append(p.title).append("\n").append(p.text);
    detail.append(p.file).append(" (").append(format_score(hits[i].score)).append(")");
  }
  if (hits.empty()) {
    c.content = empty_answer_;
    detail += "no passage matched";
  } else {
    c.label = passages_[hits[0].passage].file;
    c.confidence = hits[0].score;
  }
  const SteadyTime t1 = SteadyClock::now();
  ctx.trace.routing_us += micros_between(t0, t1);
  push_route_span(ctx, name_, std::move(detail), t0);
  if (sink && !co_await write_whole(*sink, c)) {
    co_return make_error(ErrorCode::kCancelled, "the client closed the connection");
  }
  co_return c;
}

std::unique_ptr<Route> build_retrieve_route(const config::RouteSpec& spec, size_t,
                                            RouteTable& table) {
  const config::Config& cfg = table.config();
  config::MapReader r(spec.node, spec.path, cfg.path, spec.line);
  r.only({"name", "type", "documents", "extensions", "top_k", "k1", "b", "empty_answer"});
  const config::Field docs_field = r["documents"];
  const std::string dir = cfg.resolve(docs_field.as<std::string>());
  std::vector<std::string> exts = r["extensions"].get<std::vector<std::string>>({"md", "txt"});
  for (std::string& e : exts) {
    if (!e.empty() && e[0] == '.') e.erase(0, 1);
  }
  ml::Bm25Params params;
  params.k1 = r["k1"].get<double>(1.2, config::Range::between(0, 10));
  params.b = r["b"].get<double>(0.75, config::Range::between(0, 1));
  const int top_k = r["top_k"].get<int>(3, config::Range::between(1, 100));
  const std::string empty_answer =
      r["empty_answer"].get<std::string>("No knowledge-base passage matches this question.");

  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    docs_field.fail("'" + dir +
                    "' is not a readable folder (relative paths resolve against "
                    "the config file's folder)");
  }
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file()) continue;
    std::string ext = entry.path().extension().string();
    if (!ext.empty()) ext.erase(0, 1);
    if (std::find(exts.begin(), exts.end(), ext) != exts.end()) files.push_back(entry.path());
  }
  if (ec) docs_field.fail("cannot list '" + dir + "': " + ec.message());
  std::sort(files.begin(), files.end());
  std::vector<Passage> passages;
  for (const fs::path& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) docs_field.fail("cannot read '" + f.string() + "'");
    std::ostringstream ss;
    ss << in.rdbuf();
    for (Passage& p : split_passages(f.filename().string(), ss.str())) {
      passages.push_back(std::move(p));
    }
  }
  if (passages.empty()) {
    std::string list;
    for (const auto& e : exts) list += (list.empty() ? "." : ", .") + e;
    docs_field.fail("no passages: '" + dir + "' has no non-empty " + list + " files");
  }
  return std::make_unique<RetrieveRoute>(spec.name, std::move(passages), params,
                                         static_cast<size_t>(top_k), empty_answer);
}

void register_retrieve_kind() { RouteTable::register_kind("retrieve", build_retrieve_route); }

}  // namespace triage::routes
