#include "server/admin_api.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <charconv>
#include <exception>
#include <stdexcept>
#include <thread>

#include "api/errors.h"
#include "common/clock.h"

namespace triage::server {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr size_t kMaxIdBytes = 200;
constexpr size_t kMaxTextBytes = 256 * 1024;  // corrected answers and comments
// Longest single back-off while waiting for a just-finished request's row: 2+4+...+256 ms.
constexpr std::chrono::milliseconds kRecentRequestBackoffMax(256);

AdminReply error_reply(const Error& e) {
  api::HttpError r = api::error_response(e);
  return AdminReply{r.status, std::move(r.body)};
}

AdminReply bad(std::string message, std::string param = {}) {
  return error_reply(make_error(ErrorCode::kInvalidRequest, std::move(message), {}, std::move(param)));
}

AdminReply ok_json(const json::value& v, int status = 200) {
  return AdminReply{status, json::serialize(v)};
}

bool is_json_media(std::string_view ct) {
  std::string media(ct.substr(0, ct.find(';')));
  while (!media.empty() && media.back() == ' ') media.pop_back();
  std::transform(media.begin(), media.end(), media.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return media == "application/json";
}

// The body as a JSON object, or the error to answer with.
std::optional<AdminReply> parse_object(const AdminJob& job, json::object& out) {
  if (job.body_too_large) {
    return error_reply(make_error(ErrorCode::kPayloadTooLarge,
                                  "request body is larger than server.max_body_bytes"));
  }
  if (!is_json_media(job.content_type)) {
    return error_reply(make_error(ErrorCode::kUnsupportedMedia,
                                  "send the body as JSON with 'Content-Type: application/json'"));
  }
  boost::system::error_code ec;
  json::value v = json::parse(job.body, ec);
  if (ec) return bad("the body is not valid JSON: " + ec.message());
  if (!v.is_object()) return bad("the body must be a JSON object");
  out = std::move(v.as_object());
  return std::nullopt;
}

// Fails on a field not in `known` (a typo would otherwise be ignored silently).
std::optional<AdminReply> only_fields(const json::object& o,
                                      std::initializer_list<std::string_view> known) {
  for (const auto& kv : o) {
    if (std::find(known.begin(), known.end(), kv.key()) == known.end()) {
      std::string list;
      for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      return bad("unknown field '" + std::string(kv.key()) + "' (known: " + list + ")",
                 std::string(kv.key()));
    }
  }
  return std::nullopt;
}

// Optional string field: absent or null -> empty. Wrong type or too long -> error.
std::optional<AdminReply> opt_string(const json::object& o, std::string_view key, std::string& out,
                                     size_t max_bytes = kMaxTextBytes) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_string()) return bad("'" + std::string(key) + "' must be a string", std::string(key));
  if (v->as_string().size() > max_bytes) {
    return bad("'" + std::string(key) + "' is longer than " + std::to_string(max_bytes) + " bytes",
               std::string(key));
  }
  out = std::string(v->as_string());
  return std::nullopt;
}

// Accepts the id from x-request-id ("req_...") or the completion id ("chatcmpl-...").
std::string normalize_request_id(std::string id) {
  constexpr std::string_view kCompletion = "chatcmpl-";
  if (id.compare(0, kCompletion.size(), kCompletion) == 0) id = "req_" + id.substr(kCompletion.size());
  return id;
}

bool valid_id(std::string_view id) {
  return !id.empty() && id.size() <= kMaxIdBytes &&
         std::all_of(id.begin(), id.end(), [](unsigned char c) {
           return std::isalnum(c) || c == '_' || c == '-' || c == '.';
         });
}

// A JSON column stored by the gateway, parsed for embedding; on the off chance it does not
// parse, the raw text is embedded as a string rather than failing the page.
json::value embed(const std::string& text) {
  if (text.empty()) return nullptr;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return json::value(text);
  return v;
}

json::object item_json(const telemetry::ReviewItem& it) {
  json::array reasons;
  for (const auto& r : it.reasons) reasons.emplace_back(r);
  json::object o;
  o["request_id"] = it.request_id;
  o["ts_ms"] = it.ts_ms;
  o["status"] = it.status.empty() ? json::value(nullptr) : json::value(it.status);
  o["reasons"] = std::move(reasons);
  o["route"] = it.route;
  o["model"] = it.model;
  o["tier"] = it.tier;
  o["category"] = it.category;
  o["cost_usd"] = it.cost_usd;
  o["http_status"] = it.http_status;
  o["label"] = it.label;
  o["confidence"] = it.confidence ? json::value(*it.confidence) : json::value(nullptr);
  return o;
}

asio::awaitable<AdminReply> run_on_worker(AdminApi* api, AdminJob job) {
  co_return api->dispatch(job);
}

}  // namespace

std::optional<std::string> admin_actor(std::string_view header) {
  if (header.empty()) return std::string("admin");
  if (header.size() > 64) return std::nullopt;
  for (char c : header) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '@' || c == '+' || c == '-';
    if (!ok) return std::nullopt;
  }
  return "admin:" + std::string(header);
}

AdminJob admin_job(net::IncomingRequest& in) {
  AdminJob job;
  job.method = std::string(in.method());
  job.target = std::string(in.target());
  job.content_type = std::string(in.header("content-type"));
  job.body = std::move(in.body());
  job.body_too_large = in.body_too_large();
  if (std::optional<std::string> actor = admin_actor(in.header(kActorHeader))) {
    job.actor = std::move(*actor);
  } else {
    job.actor_error = std::string(kActorHeader) +
                      ": name who acts with 1 to 64 letters, digits and . _ @ + - (or leave it out)";
  }
  return job;
}

asio::awaitable<void> send_admin_reply(net::ResponseWriter& out, AdminReply reply) {
  const net::HeaderList headers = {{"cache-control", "no-store"}};
  co_await out.send(reply.status, "application/json", headers, std::move(reply.body));
}

void capture_prompt(const config::Config& cfg, core::Trace& trace, const core::ChatRequest& req) {
  if (!cfg.store.keep_payloads) return;
  trace.keep_payloads = true;
  json::array messages;
  for (const core::Message& m : req.messages) messages.push_back(m.raw);
  trace.prompt_json = json::serialize(messages);
}

AdminApi::AdminApi(const config::Config& cfg, telemetry::RequestStore& store, int threads)
    : cfg_(cfg), store_(store), pool_(static_cast<size_t>(std::max(1, threads))) {
  telemetry::StoreReaderOptions options;
  options.review_writes = true;
  options.negative_feedback_enqueues = cfg.review.negative_feedback;
  auto reader = telemetry::open_store_reader(cfg, options, "the review API");
  if (reader) {
    reader_ = std::move(reader.value());
    db_ = reader_.get();
  } else if (reader.error().code == ErrorCode::kUnavailable) {
    unavailable_why_ = reader.error().message;
  } else {
    throw std::runtime_error(reader.error().message);
  }
}

AdminApi::~AdminApi() { close(); }

void AdminApi::close() { pool_.join(); }

bool AdminApi::handles(std::string_view path) {
  return path == "/v1/feedback" || path == "/v1/review" || path.rfind("/v1/review/", 0) == 0;
}

asio::awaitable<void> AdminApi::handle(net::IncomingRequest& in, net::ResponseWriter& out,
                                       std::string feedback_key_id) {
  AdminJob job = admin_job(in);
  job.api_key_id = std::move(feedback_key_id);
  // The worker runs dispatch(); this coroutine resumes on its own I/O thread afterwards.
  asio::awaitable<AdminReply> work = run_on_worker(this, std::move(job));
  AdminReply reply = co_await asio::co_spawn(pool_.get_executor(), std::move(work),
                                             asio::use_awaitable);
  co_await send_admin_reply(out, std::move(reply));
}

AdminReply AdminApi::dispatch(const AdminJob& job) {
  try {
    const std::string_view target = job.target;
    const std::string_view path = target.substr(0, target.find('?'));
    const std::string_view method = job.method;
    auto wrong_method = [&](const char* allowed) {
      return error_reply(make_error(ErrorCode::kMethodNotAllowed,
                                    "use " + std::string(allowed) + " for " + std::string(path)));
    };
    if (!db_) return error_reply(make_error(ErrorCode::kUnavailable, unavailable_why_));
    if (path == "/v1/feedback") {
      if (method != "POST") return wrong_method("POST");
      return feedback(job);
    }
    if (path == "/v1/review") {
      if (method != "GET") return wrong_method("GET");
      return list(target);
    }
    std::string_view rest = path.substr(std::string_view("/v1/review/").size());
    constexpr std::string_view kLabel = "/label";
    const bool is_label = rest.size() > kLabel.size() &&
                          rest.substr(rest.size() - kLabel.size()) == kLabel;
    if (is_label) rest.remove_suffix(kLabel.size());
    const std::string id = normalize_request_id(std::string(rest));
    if (!valid_id(id)) {
      return error_reply(make_error(ErrorCode::kNotFound,
                                    "no endpoint " + std::string(path) +
                                        " (expected /v1/review/{request_id}[/label])"));
    }
    if (is_label) {
      if (method != "POST") return wrong_method("POST");
      return label(id, job);
    }
    if (method != "GET") return wrong_method("GET");
    return detail(id);
  } catch (const std::exception& e) {
    spdlog::error("admin API {} {} failed with an exception: {}", job.method, job.target, e.what());
    return error_reply(make_error(ErrorCode::kInternal, "internal error in the review API"));
  }
}

Result<int64_t> AdminApi::with_recent_request(const std::function<Result<int64_t>()>& write) {
  Result<int64_t> r = write();
  // Not found: the request may have finished a moment ago. Its trace reaches the store just
  // after the last response byte (a client can be faster than that), then waits in the write
  // queue. Flush and look again, backing off, for about half a second in all; this blocks
  // only this worker thread.
  std::chrono::milliseconds backoff(0);
  while (!r && r.error().code == ErrorCode::kNotFound && backoff <= kRecentRequestBackoffMax) {
    if (backoff.count() > 0) std::this_thread::sleep_for(backoff);
    store_.flush(2000);
    r = write();
    backoff = backoff.count() == 0 ? std::chrono::milliseconds(2) : backoff * 2;
  }
  return r;
}

AdminReply AdminApi::feedback(const AdminJob& job) {
  json::object o;
  if (auto e = parse_object(job, o)) return *e;
  if (auto e = only_fields(o, {"request_id", "thumbs", "score", "corrected_answer", "comment"}))
    return *e;
  telemetry::FeedbackInput in;
  in.api_key_id = job.api_key_id;
  const json::value* id = o.if_contains("request_id");
  if (!id || !id->is_string() || id->as_string().empty()) {
    return bad("'request_id' is required: the id from the response's x-request-id header (or the "
               "completion id)", "request_id");
  }
  in.request_id = normalize_request_id(std::string(id->as_string()));
  if (!valid_id(in.request_id)) return bad("'request_id' is not a Triage request id", "request_id");
  const json::value* thumbs = o.if_contains("thumbs");
  const json::value* score = o.if_contains("score");
  const bool has_thumbs = thumbs && !thumbs->is_null();
  const bool has_score = score && !score->is_null();
  if (has_thumbs == has_score) {
    return bad("give exactly one of 'thumbs' (\"up\" or \"down\") or 'score' (a number from 0 "
               "to 1)", has_thumbs ? "score" : "thumbs");
  }
  if (has_thumbs) {
    if (!thumbs->is_string() || (thumbs->as_string() != "up" && thumbs->as_string() != "down"))
      return bad("'thumbs' must be \"up\" or \"down\"", "thumbs");
    in.thumbs = std::string(thumbs->as_string());
    in.score = in.thumbs == "up" ? 1.0 : 0.0;
  } else {
    if (!score->is_number()) return bad("'score' must be a number from 0 to 1", "score");
    in.score = score->to_number<double>();
    if (!(in.score >= 0.0 && in.score <= 1.0))
      return bad("'score' must be between 0 and 1", "score");
  }
  if (auto e = opt_string(o, "corrected_answer", in.corrected_answer)) return *e;
  if (auto e = opt_string(o, "comment", in.comment)) return *e;

  bool enqueued = false;
  Result<int64_t> r = with_recent_request(
      [&] { return db_->add_feedback(in, unix_time_ms(), &enqueued); });
  if (!r) return error_reply(r.error());
  if (late_news_.feedback) late_news_.feedback(in.request_id, in.score);
  json::object res;
  res["id"] = *r;
  res["request_id"] = in.request_id;
  res["score"] = in.score;
  res["queued_for_review"] = enqueued;
  return ok_json(res);
}

AdminReply AdminApi::list(std::string_view target) {
  auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) return bad("malformed query string");
  telemetry::ReviewQuery q;
  for (const auto& p : parsed->params()) {
    if (p.key == "status") {
      q.status = p.value;
    } else if (p.key == "reason") {
      q.reason = p.value;
    } else if (p.key == "cursor") {
      q.cursor = p.value;
    } else if (p.key == "limit") {
      int v = 0;
      auto [ptr, ec] = std::from_chars(p.value.data(), p.value.data() + p.value.size(), v);
      if (ec != std::errc() || ptr != p.value.data() + p.value.size() || v < 1 || v > 500)
        return bad("'limit' must be an integer from 1 to 500", "limit");
      q.limit = v;
    } else {
      return bad("unknown query parameter '" + p.key + "' (known: status, reason, limit, cursor)",
                 p.key);
    }
  }
  // Read-your-writes: requests finished before this call are committed first (a partial
  // batch is written early; bounded wait, on this worker only).
  store_.flush(1000);
  Result<telemetry::ReviewPage> page = db_->list(q);
  if (!page) return error_reply(page.error());
  json::array items;
  for (const auto& it : page->items) items.push_back(item_json(it));
  json::object res;
  res["items"] = std::move(items);
  res["next_cursor"] =
      page->next_cursor.empty() ? json::value(nullptr) : json::value(page->next_cursor);
  return ok_json(res);
}

AdminReply AdminApi::detail(const std::string& request_id) {
  store_.flush(1000);  // as in list()
  Result<telemetry::ReviewDetail> r = db_->detail(request_id);
  if (!r) return error_reply(r.error());
  const telemetry::ReviewDetail& d = *r;
  json::object o = item_json(d.item);
  o["requested_model"] = d.requested_model;
  o["provider"] = d.provider;
  o["tokens_in"] = d.tokens_in;
  o["tokens_out"] = d.tokens_out;
  o["total_us"] = d.total_us;
  o["finish_reason"] = d.finish_reason;
  o["error_code"] = d.error_code;
  o["error_message"] = d.error_message;
  o["flags"] = embed(d.flags_json);
  o["spans"] = embed(d.spans_json);
  if (d.has_payload) {
    json::object p;
    p["messages"] = embed(d.messages_json);
    p["response"] = d.response;
    p["attempts"] = embed(d.attempts_json);
    o["payload"] = std::move(p);
  } else {
    o["payload"] = nullptr;
  }
  json::array labels;
  for (const auto& l : d.labels) {
    labels.push_back({{"id", l.id}, {"ts_ms", l.ts_ms}, {"verdict", l.verdict},
                      {"sufficient_tier", l.sufficient_tier},
                      {"corrected_answer", l.corrected_answer}, {"reviewer", l.reviewer}});
  }
  o["labels"] = std::move(labels);
  json::array feedback;
  for (const auto& f : d.feedback) {
    feedback.push_back({{"id", f.id}, {"ts_ms", f.ts_ms}, {"score", f.score}, {"thumbs", f.thumbs},
                        {"corrected_answer", f.corrected_answer}, {"comment", f.comment}});
  }
  o["feedback"] = std::move(feedback);
  return ok_json(o);
}

AdminReply AdminApi::label(const std::string& request_id, const AdminJob& job) {
  json::object o;
  if (auto e = parse_object(job, o)) return *e;
  if (auto e = only_fields(o, {"verdict", "sufficient_tier", "corrected_answer", "reviewer"}))
    return *e;
  telemetry::LabelInput in;
  in.request_id = request_id;
  const json::value* verdict = o.if_contains("verdict");
  if (!verdict || !verdict->is_string() ||
      (verdict->as_string() != "correct" && verdict->as_string() != "incorrect")) {
    return bad("'verdict' is required: \"correct\" or \"incorrect\"", "verdict");
  }
  in.verdict = std::string(verdict->as_string());
  if (auto e = opt_string(o, "sufficient_tier", in.sufficient_tier, kMaxIdBytes)) return *e;
  if (!in.sufficient_tier.empty() && cfg_.tier_index(in.sufficient_tier) < 0) {
    std::string known;
    for (const auto& t : cfg_.tiers) known += (known.empty() ? "" : ", ") + t;
    return bad("unknown tier '" + in.sufficient_tier + "' (known: " + known + ")",
               "sufficient_tier");
  }
  if (auto e = opt_string(o, "corrected_answer", in.corrected_answer)) return *e;
  if (auto e = opt_string(o, "reviewer", in.reviewer, kMaxIdBytes)) return *e;
  Result<int64_t> r = with_recent_request([&] { return db_->add_label(in, unix_time_ms()); });
  if (!r) return error_reply(r.error());
  if (late_news_.label) late_news_.label(request_id, in.verdict == "correct", in.sufficient_tier);
  json::object res;
  res["id"] = *r;
  res["request_id"] = request_id;
  res["status"] = "labeled";
  return ok_json(res);
}

}  // namespace triage::server
