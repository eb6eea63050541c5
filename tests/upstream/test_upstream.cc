// triage-test-upstream: a real, fast, deliberately misbehaving OpenAI/Anthropic-compatible HTTP
// server used as the upstream of integration tests and of the load benchmark.
//
//   triage-test-upstream [--port N] [--host ADDR] [--threads N]
//
// Prints "listening on <port>\n" on stdout once it accepts connections; exits 0 on SIGTERM/SIGINT.
//
// Endpoints: POST /v1/chat/completions (OpenAI), POST /v1/messages (Anthropic, needs x-api-key),
// POST /v1/embeddings (OpenAI; see embeddings_answer), GET /v1/models, GET /_last_request (the last non-underscore request: method, target, headers
// with lower-cased names, raw body), GET /_stats ({"requests": N non-underscore requests}).
//
// Behaviour per request, from the `x-test-mode` header or else a model named "mode:<modes>";
// <modes> is a comma-separated list of: ok, error-<status>, slow-<ms>, reset, garbage, no-usage,
// cut, stall, tokens-<n>, delay-chunks-<ms>, logprob-<permille> (every token's probability when
// the request asks for `logprobs: true`; default 999), retry-after-<s> (error answers carry
// `Retry-After: <s>`), fail-first-<n> (the failure modes apply only to the first n requests
// with this exact mode string; later ones answer normally: an upstream that recovers),
// fail-share-<permille> (the failure modes apply to that share of the requests with this exact
// mode string, evenly spread: request k fails when floor(k * p / 1000) grows), fail-pct-<n>
// (fail-share-<10n>, answering 500 when no other failure mode is given), switch-<name>
// (the failure modes apply only while the switch <name> is on: GET /_switch/<name>/on and
// /_switch/<name>/off flip it at run time; every switch starts off), id-<text>
// (ignored: makes a mode string, and so its fail-first counter, unique), tool-call (when the
// request has `tools`, the answer calls the first one with arguments {"text": <last user
// text>}, finish "tool_calls" / stop_reason "tool_use"; streamed as an id+name chunk (a tool_use
// content_block_start), then the arguments in two halves (input_json_delta)), stop-<word> (the
// answer ends before the first occurrence of <word>, Anthropic stop_reason "stop_sequence"
// naming it). Unknown modes answer 400 so a typo cannot
// pass. Logprobs (non-streaming OpenAI only): choices[0].logprobs.content has one entry per
// answer word with logprob = ln(permille / 1000).
//
// Deterministic token accounting: prompt_tokens = whitespace-separated words in every message's
// text (and the Anthropic `system`), completion_tokens = words in the answer. The answer is
// "echo: " + the last user message's text, or "tok1 tok2 ... tokN" in tokens-N mode, cut to
// max_tokens words (finish "length" / stop_reason "max_tokens"). Streams send one word per chunk.
//
// Threading: one io_context run by --threads threads; each connection is one coroutine, so its
// socket is never used concurrently. Delays are asio timers; no thread ever sleeps.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <map>

#include <atomic>
#include <charconv>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace triage::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using asio::awaitable;
using asio::ip::tcp;
using Stream = beast::tcp_stream;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

// ---- request-independent state ---------------------------------------------------------------

struct LastRequest {
  std::string method, target, body;
  std::vector<std::pair<std::string, std::string>> headers;  // lower-cased names
};

struct State {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> ids{0};
  std::mutex mu;
  LastRequest last;  // guarded by mu
  std::map<std::string, int64_t, std::less<>> seen_specs;  // fail-first counters, guarded by mu
  std::map<std::string, int64_t, std::less<>> share_counts;  // fail-share counters, guarded by mu
  std::map<std::string, bool, std::less<>> switches;  // switch-<name> state, guarded by mu
};

// ---- small helpers ---------------------------------------------------------------------------

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (u < 0x20) {
          out += "\\u00";
          out.push_back(kHex[u >> 4]);
          out.push_back(kHex[u & 15]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

template <typename Int>
bool parse_int(std::string_view s, Int& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

int64_t count_words(std::string_view s) {
  int64_t n = 0;
  bool in_word = false;
  for (char c : s) {
    bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (!space && !in_word) ++n;
    in_word = !space;
  }
  return n;
}

// Splits text into chunks, one word each with its leading whitespace, so that concatenating the
// chunks gives the text back.
std::vector<std::string_view> split_words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0, i = 0;
  auto is_space = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; };
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    while (i < s.size() && !is_space(s[i])) ++i;
    out.push_back(s.substr(start, i - start));
    start = i;
  }
  return out;
}

// Text of an OpenAI or Anthropic `content`: a string or an array of {type:"text", text} parts.
std::string content_text(const json::value& content) {
  if (auto* s = content.if_string()) return std::string(*s);
  std::string out;
  if (auto* arr = content.if_array()) {
    for (const auto& part : *arr) {
      auto* obj = part.if_object();
      if (!obj) continue;
      auto it = obj->find("text");
      if (it == obj->end() || !it->value().is_string()) continue;
      if (!out.empty()) out.push_back(' ');
      out += it->value().get_string();
    }
  }
  return out;
}

// ---- embeddings ------------------------------------------------------------------------------

std::string base64(const unsigned char* data, std::size_t n) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < n; i += 3) {
    uint32_t v = uint32_t{data[i]} << 16;
    if (i + 1 < n) v |= uint32_t{data[i + 1]} << 8;
    if (i + 2 < n) v |= data[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < n ? kAlphabet[v & 63] : '=';
  }
  return out;
}

// A deterministic /v1/embeddings answer: per input (a string or each string of an array), a
// vector of `dimensions` (default 4) values ((chars + j) % 8) / 8, exact in float32, as JSON
// numbers or (encoding_format "base64") little-endian float32 in base64; usage.prompt_tokens =
// total_tokens = the inputs' words. Returns an error message instead for a body it refuses.
std::string embeddings_answer(std::string_view body, std::string& error) {
  json::error_code ec;
  json::value v = json::parse(body, ec);
  const json::object* o = ec ? nullptr : v.if_object();
  if (!o) return error = "body is not a JSON object", std::string();
  std::vector<std::string> inputs;
  const json::value* input = o->if_contains("input");
  if (input && input->is_string()) inputs.emplace_back(input->get_string());
  if (input && input->is_array())
    for (const auto& item : input->get_array())
      if (item.is_string()) inputs.emplace_back(item.get_string());
  if (inputs.empty()) return error = "input must be a string or an array of strings", std::string();
  int64_t dims = 4;
  if (const json::value* d = o->if_contains("dimensions"); d && d->is_int64()) dims = d->get_int64();
  bool b64 = false;
  if (const json::value* f = o->if_contains("encoding_format"); f && f->is_string())
    b64 = f->get_string() == "base64";
  std::string model;
  if (const json::value* m = o->if_contains("model"); m && m->is_string()) model = m->get_string();
  std::string out = R"({"object":"list","data":[)";
  int64_t words = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    words += count_words(inputs[i]);
    std::vector<float> vec;
    for (int64_t j = 0; j < dims; ++j)
      vec.push_back(static_cast<float>((static_cast<int64_t>(inputs[i].size()) + j) % 8) / 8.0f);
    if (i) out += ',';
    out += R"({"object":"embedding","index":)" + std::to_string(i) + R"(,"embedding":)";
    if (b64) {
      out += '"' + base64(reinterpret_cast<const unsigned char*>(vec.data()),
                          vec.size() * sizeof(float)) + '"';
    } else {
      out += '[';
      for (std::size_t j = 0; j < vec.size(); ++j) {
        if (j) out += ',';
        out += json::serialize(json::value(static_cast<double>(vec[j])));
      }
      out += ']';
    }
    out += '}';
  }
  out += R"(],"model":)";
  append_json_string(out, model);
  out += R"(,"usage":{"prompt_tokens":)" + std::to_string(words) + R"(,"total_tokens":)" +
         std::to_string(words) + "}}";
  return out;
}

// ---- per-request behaviour -------------------------------------------------------------------

struct Mode {
  int error_status = 0;
  int64_t slow_ms = 0;
  bool reset = false, garbage = false, no_usage = false, cut = false, stall = false;
  bool tool_call = false;
  std::string stop_word;  // stop-<word>
  int64_t tokens = -1;
  int64_t chunk_delay_ms = 0;
  int64_t logprob_permille = 999;
  int64_t retry_after_s = -1;  // error answers carry Retry-After when >= 0
  int64_t fail_first = -1;     // >= 0: only the first n requests with this spec fail
  int64_t fail_share = -1;     // >= 0: permille of the requests with this spec that fail
  int64_t fail_pct = -1;       // as given by fail-pct-<n> (parse_mode turns it into fail_share)
  std::string switch_name;     // non-empty: failures only while this switch is on
  std::string bad;  // first unknown mode, if any
};

Mode parse_mode(std::string_view spec) {
  Mode m;
  while (!spec.empty()) {
    size_t comma = spec.find(',');
    std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
    auto arg = [&](std::string_view prefix, auto& out) {
      return item.starts_with(prefix) && parse_int(item.substr(prefix.size()), out);
    };
    if (item.empty() || item == "ok") continue;
    if (arg("error-", m.error_status) && m.error_status >= 100 && m.error_status <= 599) continue;
    if (arg("retry-after-", m.retry_after_s) || arg("fail-first-", m.fail_first)) continue;
    if (arg("fail-share-", m.fail_share) && m.fail_share <= 1000) continue;
    if (arg("fail-pct-", m.fail_pct) && m.fail_pct >= 0 && m.fail_pct <= 100) {
      m.fail_share = m.fail_pct * 10;
      continue;
    }
    if (item.starts_with("switch-") && item.size() > 7) {
      m.switch_name = std::string(item.substr(7));
      continue;
    }
    if (arg("slow-", m.slow_ms) || arg("tokens-", m.tokens) || arg("delay-chunks-", m.chunk_delay_ms))
      continue;
    if (arg("logprob-", m.logprob_permille) && m.logprob_permille >= 1 && m.logprob_permille <= 1000)
      continue;
    if (item.starts_with("id-")) continue;
    if (item == "reset") m.reset = true;
    else if (item == "garbage") m.garbage = true;
    else if (item == "no-usage") m.no_usage = true;
    else if (item == "cut") m.cut = true;
    else if (item == "stall") m.stall = true;
    else if (item == "tool-call") m.tool_call = true;
    else if (item.rfind("stop-", 0) == 0 && item.size() > 5) m.stop_word = std::string(item.substr(5));
    else if (m.bad.empty()) m.bad = std::string(item);
  }
  const bool fails_somehow = m.error_status || m.reset || m.garbage || m.cut || m.stall;
  if (m.fail_pct >= 0 && !fails_somehow) m.error_status = 500;
  return m;
}

enum class Api { kOpenAI, kAnthropic };

// What a chat request asks for, extracted from its JSON body.
struct ChatCall {
  Api api = Api::kOpenAI;
  std::string model;
  bool stream = false;
  bool include_usage = false;
  bool logprobs = false;
  int64_t max_tokens = -1;
  int64_t prompt_tokens = 0;
  std::string answer;
  std::string finish = "stop";
  std::string id;
  std::string tool_name;  // the first tool's name, when the request has tools
  std::string arguments;  // tool-call mode: the call's arguments (JSON text); empty otherwise
  std::string stop_sequence;  // stop-<word> mode: the word that ended the answer
};

// Parses a chat body; returns an error message for bodies a real upstream would reject.
std::string parse_chat(std::string_view body, ChatCall& call) {
  unsigned char scratch[8192];
  json::monotonic_resource mr(scratch, sizeof scratch);
  boost::system::error_code ec;
  json::value v = json::parse(body, ec, &mr);
  if (ec) return "request body is not valid JSON: " + ec.message();
  auto* obj = v.if_object();
  if (!obj) return "request body must be a JSON object";
  if (auto* m = obj->if_contains("model"); m && m->is_string()) call.model = m->get_string();
  else return "model: expected a string";
  if (auto* s = obj->if_contains("stream"); s && s->is_bool()) call.stream = s->get_bool();
  if (auto* lp = obj->if_contains("logprobs"); lp && lp->is_bool()) call.logprobs = lp->get_bool();
  if (auto* so = obj->if_contains("stream_options"); so && so->is_object()) {
    if (auto* iu = so->get_object().if_contains("include_usage"); iu && iu->is_bool())
      call.include_usage = iu->get_bool();
  }
  for (const char* key : {"max_completion_tokens", "max_tokens"}) {
    if (auto* mt = obj->if_contains(key); mt && mt->is_int64() && call.max_tokens < 0)
      call.max_tokens = mt->get_int64();
  }
  auto* msgs = obj->if_contains("messages");
  if (!msgs || !msgs->is_array()) return "messages: expected an array";
  std::string last_user;
  for (const auto& m : msgs->get_array()) {
    auto* mo = m.if_object();
    if (!mo) return "messages: expected objects";
    const json::value* content = mo->if_contains("content");
    std::string text = content ? content_text(*content) : std::string();
    call.prompt_tokens += count_words(text);
    if (auto* role = mo->if_contains("role"); role && role->is_string() && role->get_string() == "user")
      last_user = std::move(text);
  }
  if (call.api == Api::kAnthropic) {
    if (auto* sys = obj->if_contains("system")) call.prompt_tokens += count_words(content_text(*sys));
  }
  call.answer = "echo: " + last_user;
  if (auto* tools = obj->if_contains("tools"); tools && tools->is_array() && !tools->get_array().empty()) {
    if (auto* t = tools->get_array()[0].if_object()) {
      if (auto* fn = t->if_contains("function"); fn && fn->is_object()) {
        if (auto* name = fn->get_object().if_contains("name"); name && name->is_string())
          call.tool_name = name->get_string();
      } else if (auto* name = t->if_contains("name"); name && name->is_string()) {
        call.tool_name = name->get_string();  // Anthropic's shape
      }
    }
  }
  call.arguments = R"({"text":)";
  append_json_string(call.arguments, last_user);
  call.arguments += "}";
  return {};
}

// Builds the answer text per mode and max_tokens.
void make_answer(const Mode& mode, ChatCall& call) {
  if (mode.tool_call && !call.tool_name.empty()) {
    call.answer.clear();
    call.finish = call.api == Api::kOpenAI ? "tool_calls" : "tool_use";
    return;
  }
  if (!mode.stop_word.empty()) {
    if (auto at = call.answer.find(mode.stop_word); at != std::string::npos) {
      call.answer.resize(at);
      call.stop_sequence = mode.stop_word;
    }
  }
  call.arguments.clear();
  if (mode.tokens >= 0) {
    call.answer.clear();
    for (int64_t i = 1; i <= mode.tokens; ++i) {
      if (i > 1) call.answer.push_back(' ');
      call.answer += "tok" + std::to_string(i);
    }
  }
  if (call.max_tokens >= 0 && count_words(call.answer) > call.max_tokens) {
    auto words = split_words(call.answer);
    size_t len = 0;
    for (int64_t i = 0; i < call.max_tokens; ++i) len += words[static_cast<size_t>(i)].size();
    call.answer.resize(len);
    call.finish = call.api == Api::kOpenAI ? "length" : "max_tokens";
  } else if (call.api == Api::kAnthropic) {
    call.finish = call.stop_sequence.empty() ? "end_turn" : "stop_sequence";
  }
}

// ---- responses -------------------------------------------------------------------------------

std::string_view reason(int status) {
  auto r = http::obsolete_reason(static_cast<http::status>(status));
  return r.empty() ? std::string_view("Status") : std::string_view(r.data(), r.size());
}

std::string response_head(int status, std::string_view content_type, bool keep_alive,
                          std::optional<size_t> content_length) {
  std::string h;
  h.reserve(160);
  h += "HTTP/1.1 ";
  h += std::to_string(status);
  h.push_back(' ');
  h += reason(status);
  h += "\r\nServer: triage-test-upstream\r\nContent-Type: ";
  h += content_type;
  if (content_length) {
    h += "\r\nContent-Length: ";
    h += std::to_string(*content_length);
  } else {
    h += "\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked";
  }
  if (!keep_alive) h += "\r\nConnection: close";
  h += "\r\n\r\n";
  return h;
}

std::string openai_error(int status, std::string_view message) {
  std::string_view type = status == 401 ? "authentication_error"
                          : status == 429 ? "rate_limit_exceeded"
                          : status >= 500 ? "server_error"
                                          : "invalid_request_error";
  std::string b = R"({"error":{"message":)";
  append_json_string(b, message);
  b += R"(,"type":")";
  b += type;
  b += R"(","param":null,"code":)";
  b += std::to_string(status);
  b += "}}";
  return b;
}

std::string anthropic_error(int status, std::string_view message) {
  std::string_view type = status == 401   ? "authentication_error"
                          : status == 404 ? "not_found_error"
                          : status == 429 ? "rate_limit_error"
                          : status == 529 ? "overloaded_error"
                          : status >= 500 ? "api_error"
                                          : "invalid_request_error";
  std::string b = R"({"type":"error","error":{"type":")";
  b += type;
  b += R"(","message":)";
  append_json_string(b, message);
  b += "}}";
  return b;
}

std::string usage_openai(const ChatCall& c, int64_t out_tokens) {
  return R"({"prompt_tokens":)" + std::to_string(c.prompt_tokens) + R"(,"completion_tokens":)" +
         std::to_string(out_tokens) + R"(,"total_tokens":)" +
         std::to_string(c.prompt_tokens + out_tokens) + "}";
}

std::string openai_completion(const ChatCall& c, const Mode& mode) {
  std::string b;
  b.reserve(256 + c.answer.size());
  b += R"({"id":")" + c.id + R"(","object":"chat.completion","created":)" +
       std::to_string(std::time(nullptr)) + R"(,"model":)";
  append_json_string(b, c.model);
  b += R"(,"choices":[{"index":0,"message":{"role":"assistant","content":)";
  if (c.arguments.empty()) {
    append_json_string(b, c.answer);
  } else {
    b += R"(null,"tool_calls":[{"id":"call_test","type":"function","function":{"name":)";
    append_json_string(b, c.tool_name);
    b += R"(,"arguments":)";
    append_json_string(b, c.arguments);
    b += "}}]";
  }
  b += "}";
  if (c.logprobs) {
    const double lp = std::log(static_cast<double>(mode.logprob_permille) / 1000.0);
    b += R"(,"logprobs":{"content":[)";
    bool first = true;
    for (std::string_view w : split_words(c.answer)) {
      if (!first) b.push_back(',');
      first = false;
      b += R"({"token":)";
      append_json_string(b, w);
      b += R"(,"logprob":)" + std::to_string(lp) + "}";
    }
    b += "]}";
  }
  b += R"(,"finish_reason":")" + c.finish + "\"}]";
  if (!mode.no_usage) b += R"(,"usage":)" + usage_openai(c, count_words(c.answer) + count_words(c.arguments));
  b += "}";
  return b;
}

std::string anthropic_message(const ChatCall& c, const Mode& mode) {
  std::string b = R"({"id":")" + c.id + R"(","type":"message","role":"assistant","model":)";
  append_json_string(b, c.model);
  b += R"(,"content":[)";
  if (c.arguments.empty()) {
    b += R"({"type":"text","text":)";
    append_json_string(b, c.answer);
    b += "}";
  } else {
    b += R"({"type":"tool_use","id":"toolu_test","name":)";
    append_json_string(b, c.tool_name);
    b += R"(,"input":)" + c.arguments + "}";
  }
  b += R"(],"stop_reason":")" + c.finish + R"(","stop_sequence":)";
  if (c.stop_sequence.empty()) {
    b += "null";
  } else {
    append_json_string(b, c.stop_sequence);
  }
  if (!mode.no_usage) {
    b += R"(,"usage":{"input_tokens":)" + std::to_string(c.prompt_tokens) +
         R"(,"output_tokens":)" + std::to_string(count_words(c.answer)) + "}";
  }
  b += "}";
  return b;
}

// Appends one HTTP chunk holding an SSE event ("event: E\n" when named, "data: D\n\n").
void append_sse_chunk(std::string& out, std::string_view event, std::string_view data) {
  size_t len = data.size() + 8 + (event.empty() ? 0 : event.size() + 8);
  char hex[20];
  auto [p, ec] = std::to_chars(hex, hex + sizeof hex, len, 16);
  out.append(hex, p);
  out += "\r\n";
  if (!event.empty()) {
    out += "event: ";
    out += event;
    out += "\n";
  }
  out += "data: ";
  out += data;
  out += "\n\n\r\n";
}

// ---- connection ------------------------------------------------------------------------------

class Connection {
 public:
  Connection(tcp::socket socket, State& state) : stream_(std::move(socket)), state_(state) {}

  awaitable<void> run() {
    boost::system::error_code ec;
    stream_.socket().set_option(tcp::no_delay(true), ec);
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(64u << 20);
      auto [rec, n] = co_await http::async_read(stream_, buffer_, parser, kUseTuple);
      if (rec) break;
      keep_alive_ = parser.get().keep_alive();
      if (!co_await handle(parser.get()) || !keep_alive_) break;
    }
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

 private:
  using Request = http::request<http::string_body>;

  // Returns false when the connection must not be reused.
  awaitable<bool> handle(const Request& req) {
    std::string_view target(req.target().data(), req.target().size());
    if (target.starts_with("/_")) co_return co_await handle_control(target);
    state_.requests.fetch_add(1, std::memory_order_relaxed);
    record(req);

    const bool is_chat = target == "/v1/chat/completions";
    const bool is_messages = target == "/v1/messages";
    const bool is_models = target == "/v1/models";
    if (target == "/v1/embeddings") co_return co_await handle_embeddings(req);
    if (!is_chat && !is_messages && !is_models)
      co_return co_await send(404, "application/json", openai_error(404, "no such endpoint"));
    if ((is_models && req.method() != http::verb::get) ||
        (!is_models && req.method() != http::verb::post))
      co_return co_await send(405, "application/json", openai_error(405, "method not allowed"));

    ChatCall call;
    call.api = is_messages ? Api::kAnthropic : Api::kOpenAI;
    auto error = [&](int status, std::string_view msg) {
      return send(status, "application/json",
                  call.api == Api::kAnthropic ? anthropic_error(status, msg) : openai_error(status, msg));
    };
    if (is_messages && req.find("x-api-key") == req.end())
      co_return co_await error(401, "x-api-key header is required");
    if (!is_models) {
      if (std::string err = parse_chat(req.body(), call); !err.empty())
        co_return co_await error(400, err);
    }

    std::string_view spec;
    if (auto it = req.find("x-test-mode"); it != req.end())
      spec = std::string_view(it->value().data(), it->value().size());
    else if (std::string_view(call.model).starts_with("mode:"))
      spec = std::string_view(call.model).substr(5);
    Mode mode = parse_mode(spec);
    if (!mode.bad.empty()) co_return co_await error(400, "unknown test mode: " + mode.bad);
    if (mode.fail_first >= 0 || mode.fail_share >= 0 || !mode.switch_name.empty()) {
      std::lock_guard lock(state_.mu);
      bool fails = true;
      if (mode.fail_first >= 0) {
        auto it = state_.seen_specs.try_emplace(std::string(spec), 0).first;
        fails = ++it->second <= mode.fail_first;  // past it: recovered, no more failures
      }
      if (!mode.switch_name.empty()) fails = fails && state_.switches[mode.switch_name];
      if (fails && mode.fail_share >= 0) {
        const int64_t k = ++state_.share_counts.try_emplace(std::string(spec), 0).first->second;
        fails = k * mode.fail_share / 1000 > (k - 1) * mode.fail_share / 1000;
      }
      if (!fails) {
        mode.error_status = 0;
        mode.reset = mode.garbage = mode.cut = mode.stall = false;
        mode.slow_ms = 0;
      }
    }
    retry_after_s_ = mode.retry_after_s;

    // GCC 12 miscompiles a co_await nested in a conditionally skipped block that co_returns
    // (ud2 on resume), so the awaited result is assigned first and tested afterwards.
    bool alive = true;
    if (mode.slow_ms > 0) alive = co_await wait_ms(mode.slow_ms);
    if (!alive) co_return false;
    if (mode.reset) {
      boost::system::error_code ec;
      stream_.socket().set_option(asio::socket_base::linger(true, 0), ec);  // RST, not FIN
      stream_.socket().close(ec);
      co_return false;
    }
    if (mode.error_status) co_return co_await error(mode.error_status, "test upstream: injected error " +
                                                                      std::to_string(mode.error_status));
    if (mode.garbage) co_return co_await send(200, "application/json", "<html>this is not json {{{");
    if (is_models) {
      co_return co_await send(200, "application/json",
                              R"({"object":"list","data":[{"id":"gpt-test","object":"model",)"
                              R"("created":1700000000,"owned_by":"triage-test"}]})");
    }
    if (mode.stall && !call.stream) {
      co_await wait_for_peer_close();
      co_return false;
    }

    call.id = (is_messages ? "msg_test" : "chatcmpl-test") +
              std::to_string(state_.ids.fetch_add(1, std::memory_order_relaxed) + 1);
    make_answer(mode, call);
    if (call.stream) {
      // (no co_await inside ?: -- GCC 12 miscompiles it)
      if (is_messages) co_return co_await stream_anthropic(call, mode);
      co_return co_await stream_openai(call, mode);
    }
    std::string body = is_messages ? anthropic_message(call, mode) : openai_completion(call, mode);
    if (mode.cut) {  // announce the whole body, send half of it, hang up
      out_ = response_head(200, "application/json", keep_alive_, body.size());
      out_.append(body, 0, body.size() / 2);
      co_await write_out();
      co_return false;
    }
    co_return co_await send(200, "application/json", body);
  }

  // POST /v1/embeddings: embeddings_answer, or the error-<status> of a model "mode:error-N".
  awaitable<bool> handle_embeddings(const Request& req) {
    if (req.method() != http::verb::post)
      co_return co_await send(405, "application/json", openai_error(405, "method not allowed"));
    retry_after_s_ = -1;
    std::string error;
    std::string body = embeddings_answer(req.body(), error);
    if (!error.empty()) co_return co_await send(400, "application/json", openai_error(400, error));
    json::value v = json::parse(req.body());
    const json::value* model = v.as_object().if_contains("model");
    if (model && model->is_string() && model->get_string().starts_with("mode:")) {
      Mode mode = parse_mode(std::string_view(model->get_string()).substr(5));
      if (!mode.bad.empty())
        co_return co_await send(400, "application/json", openai_error(400, "unknown test mode"));
      if (mode.error_status)
        co_return co_await send(mode.error_status, "application/json",
                                openai_error(mode.error_status, "test upstream: injected error"));
    }
    co_return co_await send(200, "application/json", body);
  }

  awaitable<bool> handle_control(std::string_view target) {
    if (target == "/_stats") {
      co_return co_await send(200, "application/json",
                              R"({"requests":)" + std::to_string(state_.requests.load()) + "}");
    }
    if (target == "/_last_request") {
      json::object o;
      {
        std::lock_guard lock(state_.mu);
        o["method"] = state_.last.method;
        o["target"] = state_.last.target;
        json::object& h = o["headers"].emplace_object();
        for (const auto& [k, v] : state_.last.headers) h[k] = v;
        o["body"] = state_.last.body;
      }
      co_return co_await send(200, "application/json", json::serialize(o));
    }
    if (target.starts_with("/_switch/")) {
      const std::string_view rest = target.substr(9);
      const size_t slash = rest.rfind('/');
      const std::string_view state = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
      if (slash != std::string_view::npos && slash > 0 && (state == "on" || state == "off")) {
        std::lock_guard lock(state_.mu);
        state_.switches[std::string(rest.substr(0, slash))] = state == "on";
        co_return co_await send(200, "application/json", R"({"ok":true})");
      }
    }
    co_return co_await send(404, "application/json", openai_error(404, "no such control endpoint"));
  }

  void record(const Request& req) {
    LastRequest last;
    last.method = std::string(req.method_string());
    last.target = std::string(req.target());
    last.body = req.body();
    for (const auto& f : req) {
      std::string name(f.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      last.headers.emplace_back(std::move(name), std::string(f.value()));
    }
    std::lock_guard lock(state_.mu);
    state_.last = std::move(last);
  }

  awaitable<bool> stream_openai(const ChatCall& c, const Mode& mode) {
    const bool usage = c.include_usage && !mode.no_usage;
    std::string prefix = R"({"id":")" + c.id + R"(","object":"chat.completion.chunk","created":)" +
                         std::to_string(std::time(nullptr)) + R"(,"model":)";
    append_json_string(prefix, c.model);
    prefix += R"(,"choices":[{"index":0,"delta":)";
    const std::string suffix_tail = usage ? R"(}],"usage":null})" : "}]}";
    auto chunk = [&](std::string_view delta, std::string_view finish) {
      std::string d = prefix;
      d += delta;
      d += R"(,"finish_reason":)";
      d += finish;
      d += suffix_tail;
      return d;
    };
    out_ = response_head(200, "text/event-stream", keep_alive_, std::nullopt);
    append_sse_chunk(out_, {}, chunk(R"({"role":"assistant","content":""})", "null"));
    if (!co_await write_out()) co_return false;
    if (mode.stall) {
      co_await wait_for_peer_close();
      co_return false;
    }
    if (!c.arguments.empty()) {
      std::string head = R"({"tool_calls":[{"index":0,"id":"call_test","type":"function","function":{"name":)";
      append_json_string(head, c.tool_name);
      head += R"(,"arguments":""}}]})";
      if (!co_await next_chunk(mode, "", chunk(head, "null"))) co_return false;
      const size_t half = c.arguments.size() / 2;
      const std::vector<std::string> pieces = {c.arguments.substr(0, half), c.arguments.substr(half)};
      for (const std::string& piece : pieces) {
        std::string d = R"({"tool_calls":[{"index":0,"function":{"arguments":)";
        append_json_string(d, piece);
        d += "}}]}";
        if (!co_await next_chunk(mode, "", chunk(d, "null"))) co_return false;
      }
    }
    auto words = split_words(c.answer);
    for (size_t i = 0; i < words.size(); ++i) {
      std::string delta = R"({"content":)";
      append_json_string(delta, words[i]);
      delta += "}";
      std::string data = chunk(delta, "null");
      if (!co_await next_chunk(mode, "", std::move(data))) co_return false;
      if (mode.cut) co_return false;  // role chunk + one content chunk, then hang up
    }
    if (mode.cut) co_return false;
    std::string finish = chunk("{}", "\"" + c.finish + "\"");
    if (!co_await next_chunk(mode, "", std::move(finish))) co_return false;
    if (usage) {
      std::string u = R"({"id":")" + c.id + R"(","object":"chat.completion.chunk","created":)" +
                      std::to_string(std::time(nullptr)) + R"(,"model":)";
      append_json_string(u, c.model);
      u += R"(,"choices":[],"usage":)" +
           usage_openai(c, static_cast<int64_t>(words.size()) + count_words(c.arguments)) + "}";
      if (!co_await next_chunk(mode, "", std::move(u))) co_return false;
    }
    append_sse_chunk(out_, {}, "[DONE]");
    out_ += "0\r\n\r\n";
    co_return co_await write_out();
  }

  awaitable<bool> stream_anthropic(const ChatCall& c, const Mode& mode) {
    std::string start = R"({"type":"message_start","message":{"id":")" + c.id +
                        R"(","type":"message","role":"assistant","content":[],"model":)";
    append_json_string(start, c.model);
    start += R"(,"stop_reason":null,"stop_sequence":null)";
    if (!mode.no_usage)
      start += R"(,"usage":{"input_tokens":)" + std::to_string(c.prompt_tokens) + R"(,"output_tokens":1})";
    start += "}}";
    out_ = response_head(200, "text/event-stream", keep_alive_, std::nullopt);
    append_sse_chunk(out_, "message_start", start);
    if (!co_await write_out()) co_return false;
    if (mode.stall) {
      co_await wait_for_peer_close();
      co_return false;
    }
    if (!c.arguments.empty()) {  // tool-call mode: one tool_use block, arguments in two halves
      std::string head = R"({"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_test","name":)";
      append_json_string(head, c.tool_name);
      head += R"(,"input":{}}})";
      if (!co_await next_chunk(mode, "content_block_start", std::move(head))) co_return false;
      const std::size_t half = c.arguments.size() / 2;
      const std::string parts[2] = {c.arguments.substr(0, half), c.arguments.substr(half)};
      for (const std::string& part : parts) {
        std::string d = R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":)";
        append_json_string(d, part);
        d += "}}";
        if (!co_await next_chunk(mode, "content_block_delta", std::move(d))) co_return false;
      }
      if (!co_await next_chunk(mode, "content_block_stop", R"({"type":"content_block_stop","index":0})"))
        co_return false;
      std::string delta = R"({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":1}})";
      if (!co_await next_chunk(mode, "message_delta", std::move(delta))) co_return false;
      append_sse_chunk(out_, "message_stop", R"({"type":"message_stop"})");
      out_ += "0\r\n\r\n";
      co_return co_await write_out();
    }
    if (!co_await next_chunk(mode, "content_block_start",
                             R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"))
      co_return false;
    if (!co_await next_chunk(mode, "ping", R"({"type":"ping"})")) co_return false;
    auto words = split_words(c.answer);
    for (auto w : words) {
      std::string d = R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":)";
      append_json_string(d, w);
      d += "}}";
      if (!co_await next_chunk(mode, "content_block_delta", d)) co_return false;
      if (mode.cut) co_return false;
    }
    if (mode.cut) co_return false;
    if (!co_await next_chunk(mode, "content_block_stop", R"({"type":"content_block_stop","index":0})"))
      co_return false;
    std::string delta = R"({"type":"message_delta","delta":{"stop_reason":")" + c.finish +
                        R"(","stop_sequence":)";
    if (c.stop_sequence.empty()) {
      delta += "null}";
    } else {
      append_json_string(delta, c.stop_sequence);
      delta += "}";
    }
    if (!mode.no_usage) delta += R"(,"usage":{"output_tokens":)" + std::to_string(words.size()) + "}";
    delta += "}";
    if (!co_await next_chunk(mode, "message_delta", delta)) co_return false;
    append_sse_chunk(out_, "message_stop", R"({"type":"message_stop"})");
    out_ += "0\r\n\r\n";
    co_return co_await write_out();
  }

  // Sends one SSE chunk, after the per-chunk delay if any.
  // `data` is taken by value: a lazily started coroutine must not hold views of temporaries.
  awaitable<bool> next_chunk(const Mode& mode, std::string_view event, std::string data) {
    bool ok = true;
    if (mode.chunk_delay_ms > 0) ok = co_await wait_ms(mode.chunk_delay_ms);
    if (ok) {
      out_.clear();
      append_sse_chunk(out_, event, data);
      ok = co_await write_out();
    }
    co_return ok;
  }

  awaitable<bool> send(int status, std::string_view content_type, std::string body) {
    out_ = response_head(status, content_type, keep_alive_, body.size());
    if (status >= 400 && retry_after_s_ >= 0) {  // before the blank line ending the head
      out_.insert(out_.size() - 2, "Retry-After: " + std::to_string(retry_after_s_) + "\r\n");
    }
    out_ += body;
    co_return co_await write_out();
  }

  awaitable<bool> write_out() {
    auto [ec, n] = co_await asio::async_write(stream_.socket(), asio::buffer(out_), kUseTuple);
    out_.clear();
    co_return !ec;
  }

  awaitable<bool> wait_ms(int64_t ms) {
    asio::steady_timer timer(stream_.get_executor(), std::chrono::milliseconds(ms));
    auto [ec] = co_await timer.async_wait(kUseTuple);
    co_return !ec;
  }

  // Stalls until the client closes the connection (reads and discards anything it sends).
  awaitable<void> wait_for_peer_close() {
    char sink[1024];
    for (;;) {
      auto [ec, n] = co_await stream_.socket().async_read_some(asio::buffer(sink), kUseTuple);
      if (ec) co_return;
    }
  }

  Stream stream_;
  State& state_;
  beast::flat_buffer buffer_;
  std::string out_;  // reused output buffer
  bool keep_alive_ = true;
  int64_t retry_after_s_ = -1;  // the current request's retry-after-<s> mode
};

awaitable<void> accept_loop(tcp::acceptor& acceptor, State& state) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kUseTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      continue;  // e.g. EMFILE: keep serving the connections we have
    }
    auto executor = socket.get_executor();
    asio::co_spawn(
        executor,
        [conn = std::make_shared<Connection>(std::move(socket), state)]() { return conn->run(); },
        asio::detached);
  }
}

int run(int argc, char** argv) {
  std::string host = "127.0.0.1";
  unsigned port = 0;
  int threads = 1;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) throw std::invalid_argument(std::string(a) + " needs a value");
      return argv[++i];
    };
    if (a == "--port") {
      if (!parse_int(value(), port) || port > 65535) throw std::invalid_argument("bad --port");
    } else if (a == "--host") {
      host = value();
    } else if (a == "--threads") {
      if (!parse_int(value(), threads) || threads < 1) throw std::invalid_argument("bad --threads");
    } else if (a == "--help" || a == "-h") {
      std::cout << "usage: triage-test-upstream [--port N] [--host ADDR] [--threads N]\n";
      return 0;
    } else {
      throw std::invalid_argument("unknown argument: " + std::string(a));
    }
  }

  State state;  // outlives the io_context, whose destructor destroys pending coroutines
  asio::io_context ioc(threads);
  tcp::endpoint ep(asio::ip::make_address(host), static_cast<unsigned short>(port));
  tcp::acceptor acceptor(ioc);
  acceptor.open(ep.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(ep);
  acceptor.listen(asio::socket_base::max_listen_connections);
  asio::co_spawn(ioc, accept_loop(acceptor, state), asio::detached);

  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) { ioc.stop(); });

  std::cout << "listening on " << acceptor.local_endpoint().port() << std::endl;

  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  return 0;
}

}  // namespace
}  // namespace triage::testing

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return triage::testing::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "triage-test-upstream: " << e.what() << "\n";
    return 2;
  }
}
