#include "providers/openai.h"

#include "providers/openai_fast_parse.h"

#include <boost/json/parse.hpp>

#include "net/http_client.h"
#include "providers/provider_config.h"

namespace triage::providers {

namespace json = boost::json;

namespace openai {
namespace {

// OpenAI usage -> core::Usage. cached_tokens are already part of prompt_tokens.
void read_usage(const json::object& u, core::Usage& usage) {
  usage.prompt_tokens = json_token_field(u, "prompt_tokens");
  usage.completion_tokens = json_token_field(u, "completion_tokens");
  if (const json::object* d = json_object_field(u, "prompt_tokens_details")) {
    usage.cached_prompt_tokens = json_token_field(*d, "cached_tokens");
  }
  usage.estimated = false;
}

}  // namespace

std::string build_request_body(const core::ChatRequest& req, std::string_view upstream_model,
                               bool stream) {
  std::string out;
  out.reserve(512);
  out.push_back('{');
  bool first = true;
  auto key = [&](std::string_view k) {
    if (!first) out.push_back(',');
    first = false;
    append_json_string(out, k);
    out.push_back(':');
  };
  for (const auto& kv : req.body) {
    std::string_view k = kv.key();
    if (k == "model" || k == "stream" || k == "stream_options") continue;
    key(k);
    append_json(out, kv.value());
  }
  key("model");
  append_json_string(out, upstream_model);
  if (!req.body.contains("messages")) {
    key("messages");
    out.push_back('[');
    for (std::size_t i = 0; i < req.messages.size(); ++i) {
      const core::Message& m = req.messages[i];
      if (i) out.push_back(',');
      if (m.raw.is_object()) {
        append_json(out, m.raw);
      } else {
        out.append("{\"role\":");
        append_json_string(out, m.role);
        out.append(",\"content\":");
        append_json_string(out, m.text);
        out.push_back('}');
      }
    }
    out.push_back(']');
    if (req.max_tokens && !req.body.contains("max_tokens") &&
        !req.body.contains("max_completion_tokens")) {
      key("max_tokens");
      out.append(std::to_string(*req.max_tokens));
    }
    if (req.temperature && !req.body.contains("temperature")) {
      key("temperature");
      append_json(out, json::value(*req.temperature));
    }
    if (req.top_p && !req.body.contains("top_p")) {
      key("top_p");
      append_json(out, json::value(*req.top_p));
    }
    if (!req.stop.empty() && !req.body.contains("stop")) {
      key("stop");
      out.push_back('[');
      for (std::size_t i = 0; i < req.stop.size(); ++i) {
        if (i) out.push_back(',');
        append_json_string(out, req.stop[i]);
      }
      out.push_back(']');
    }
  }
  if (stream) {
    key("stream");
    out.append("true");
    key("stream_options");
    out.append("{\"include_usage\":true}");
  }
  out.push_back('}');
  return out;
}

Result<core::Completion> parse_response(std::string_view body, std::string_view model,
                                        bool& reported_usage) {
  if (auto fast = parse_response_fast(body, model, reported_usage)) return std::move(*fast);
  return parse_response_dom(body, model, reported_usage);
}

Result<core::Completion> parse_response_dom(std::string_view body, std::string_view model,
                                            bool& reported_usage) {
  reported_usage = false;
  unsigned char buf[8192];
  json::monotonic_resource mr(buf, sizeof buf);
  json::error_code ec;
  json::value v = json::parse(body, ec, &mr);
  if (ec) return invalid_response("the body is not JSON (" + ec.message() + ")");
  const json::object* o = v.if_object();
  if (!o) return invalid_response("the body is not a JSON object");
  auto choices_it = o->find("choices");
  const json::array* choices = choices_it == o->end() ? nullptr : choices_it->value().if_array();
  if (!choices || choices->empty() || !choices->front().is_object()) {
    return invalid_response("it has no choices");
  }
  const json::object& c0 = choices->front().get_object();
  const json::object* msg = json_object_field(c0, "message");
  if (!msg) return invalid_response("choices[0] has no message");

  core::Completion c;
  c.model = std::string(model);
  c.upstream_model = std::string(json_string_field(*o, "model"));
  c.content = std::string(json_string_field(*msg, "content"));
  if (auto tc = msg->find("tool_calls");
      tc != msg->end() && tc->value().is_array() && !tc->value().get_array().empty()) {
    c.tool_calls = json::value(tc->value(), json::storage_ptr());  // out of the local arena
  }
  std::string_view finish = json_string_field(c0, "finish_reason");
  if (!finish.empty()) {
    c.finish_reason = std::string(finish);
  } else if (!c.tool_calls.is_null()) {
    c.finish_reason = "tool_calls";
  }
  if (const json::object* u = json_object_field(*o, "usage")) {
    read_usage(*u, c.usage);
    reported_usage = true;
  }
  // Token logprobs, when the request asked for them (logprobs: true).
  if (const json::object* lp = json_object_field(c0, "logprobs")) {
    if (auto it = lp->find("content"); it != lp->end() && it->value().is_array()) {
      for (const json::value& tok : it->value().get_array()) {
        const json::object* t = tok.if_object();
        const json::value* l = t ? t->if_contains("logprob") : nullptr;
        if (l && l->is_number()) c.token_logprobs.push_back(l->to_number<double>());
      }
    }
  }
  return c;
}

ChunkAssembler::ChunkAssembler(std::string_view model)
    : JsonStreamAssembler(model, "stream chunk") {}

void ChunkAssembler::merge_tool_calls(const json::array& calls) {
  if (!out_.tool_calls.is_array()) out_.tool_calls = json::array();
  json::array& merged = out_.tool_calls.get_array();
  for (const json::value& item : calls) {
    const json::object* call = item.if_object();
    if (!call) continue;
    int64_t index =
        call->contains("index") ? json_int_field(*call, "index") : static_cast<int64_t>(merged.size());
    if (index < 0 || index > 1024) continue;  // nonsense from the upstream; ignore the fragment
    while (merged.size() <= static_cast<std::size_t>(index)) {
      merged.push_back(json::object{{"id", ""},
                                    {"type", "function"},
                                    {"function", json::object{{"name", ""}, {"arguments", ""}}}});
    }
    json::object& dst = merged[static_cast<std::size_t>(index)].get_object();
    if (auto id = json_string_field(*call, "id"); !id.empty()) dst["id"] = id;
    if (auto type = json_string_field(*call, "type"); !type.empty()) dst["type"] = type;
    if (const json::object* fn = json_object_field(*call, "function")) {
      json::object& dfn = dst["function"].get_object();
      if (auto name = json_string_field(*fn, "name"); !name.empty()) {
        dfn["name"].get_string().append(name);
      }
      if (auto args = json_string_field(*fn, "arguments"); !args.empty()) {
        dfn["arguments"].get_string().append(args);
      }
    }
  }
}

Result<StreamAssembler::Step> ChunkAssembler::on_event(std::string_view /*event*/,
                                                       std::string_view data) {
  Step step;
  if (data == "[DONE]") {
    if (out_.finish_reason.empty()) out_.finish_reason = "stop";
    step.done = true;
    return step;
  }
  auto parsed = parse_event(data);
  if (!parsed) return std::move(parsed).error();
  const json::object* o = *parsed;
  if (o->contains("error")) {
    return make_error(ErrorCode::kUpstreamError,
                      "upstream failed mid-stream: " + upstream_error_text(data));
  }
  if (out_.upstream_model.empty()) out_.upstream_model = std::string(json_string_field(*o, "model"));
  if (const json::object* u = json_object_field(*o, "usage")) {
    read_usage(*u, out_.usage);
    reported_usage_ = true;
  }
  auto choices_it = o->find("choices");
  const json::array* choices = choices_it == o->end() ? nullptr : choices_it->value().if_array();
  if (!choices || choices->empty()) return step;  // e.g. the final usage-only chunk
  const json::object* c0 = choices->front().if_object();
  if (!c0) return invalid_response("a stream chunk's choices[0] is not an object");
  if (auto finish = json_string_field(*c0, "finish_reason"); !finish.empty()) {
    out_.finish_reason = std::string(finish);
    saw_finish_ = true;
  }
  const json::object* delta = json_object_field(*c0, "delta");
  if (!delta) return step;
  step.delta.role = json_string_field(*delta, "role");
  step.delta.content = json_string_field(*delta, "content");
  out_.content.append(step.delta.content);
  if (auto tc = delta->find("tool_calls"); tc != delta->end() && tc->value().is_array()) {
    step.delta.tool_calls = &tc->value();
    merge_tool_calls(tc->value().get_array());
  }
  step.has_delta = !step.delta.role.empty() || !step.delta.content.empty() || step.delta.tool_calls;
  return step;
}

}  // namespace openai

namespace {

class OpenAIClient final : public ModelClient {
 public:
  OpenAIClient(const config::Model& model, const OpenAIOptions& options, UpstreamSetup setup)
      : model_(model.name),
        upstream_model_(model.upstream_model.empty() ? model.name : model.upstream_model),
        api_key_env_(model.api_key_env),
        timeout_ms_(model.timeout_ms),
        key_missing_(setup.key_missing),
        http_(std::move(setup.endpoint)),
        path_(http_.endpoint().target("/chat/completions")),
        embeddings_path_(http_.endpoint().target("/embeddings")) {
    if (!setup.api_key.empty()) {
      auth_ = "Bearer " + setup.api_key;
      headers_[n_headers_++] = {"Authorization", auth_};
    }
    if (!options.organization.empty()) {
      org_ = options.organization;
      headers_[n_headers_++] = {"OpenAI-Organization", org_};
    }
  }

  std::string_view name() const override { return "openai/1"; }

  boost::asio::awaitable<Result<core::Completion>> complete(const core::ChatRequest& req,
                                                            SteadyTime deadline,
                                                            CallStats& stats) override {
    if (key_missing_) co_return missing_key_error(model_, api_key_env_);
    std::string body = openai::build_request_body(req, upstream_model_, false);
    const UpstreamTarget t = target();
    const SteadyTime until = clamp_deadline(deadline, timeout_ms_);
    co_return co_await call_whole(t, req, std::move(body), until, stats, &openai::parse_response);
  }

  boost::asio::awaitable<Result<core::Completion>> stream(const core::ChatRequest& req,
                                                          SteadyTime deadline, CallStats& stats,
                                                          core::StreamSink& sink) override {
    if (key_missing_) co_return missing_key_error(model_, api_key_env_);
    std::string body = openai::build_request_body(req, upstream_model_, true);
    auto assembler = std::make_unique<openai::ChunkAssembler>(model_);
    const UpstreamTarget t = target();
    const SteadyTime until = clamp_deadline(deadline, timeout_ms_);
    co_return co_await call_stream(t, req, std::move(body), until, stats, *assembler, sink);
  }

  boost::asio::awaitable<Result<EmbeddingAnswer>> embed(const json::object& body,
                                                        SteadyTime deadline, CallStats& stats,
                                                        Cancellation* cancellation) override {
    if (key_missing_) co_return missing_key_error(model_, api_key_env_);
    std::string text;
    text.reserve(64);
    text += R"({"model":)";
    append_json_string(text, upstream_model_);
    for (const auto& kv : body) {
      if (kv.key() == "model") continue;
      text += ',';
      append_json_string(text, kv.key());
      text += ':';
      append_json(text, kv.value());
    }
    text += '}';
    const UpstreamTarget t{&http_, embeddings_path_, {headers_, n_headers_}, model_, api_key_env_};
    const SteadyTime until = clamp_deadline(deadline, timeout_ms_);
    Result<std::string> answer = co_await post_whole(t, text, until, stats, cancellation);
    if (!answer) co_return std::move(answer).error();
    Result<EmbeddingAnswer> parsed = openai::parse_embeddings(*answer);
    if (!parsed) {
      control::UpstreamFailure malformed;
      malformed.kind = control::FailureKind::kMalformed;
      stats.failure = malformed;
    }
    co_return parsed;
  }

 private:
  UpstreamTarget target() const {
    return UpstreamTarget{&http_, path_, {headers_, n_headers_}, model_, api_key_env_};
  }

  const std::string model_;
  const std::string upstream_model_;
  const std::string api_key_env_;
  const int64_t timeout_ms_;
  const bool key_missing_;
  const net::HttpClient http_;
  const std::string path_;
  const std::string embeddings_path_;
  std::string auth_;  // "Bearer <key>"; never logged
  std::string org_;
  net::HttpHeader headers_[2];
  std::size_t n_headers_ = 0;
};

}  // namespace

OpenAIOptions parse_openai_options(const config::Config& cfg, const config::Model& model) {
  config::MapReader o = options_field(cfg, model).map();
  o.only({"organization"});
  OpenAIOptions options;
  options.organization = o["organization"].get<std::string>(options.organization);
  return options;
}

std::unique_ptr<ModelClient> make_openai_client(const config::Config& cfg,
                                                const config::Model& model, const EnvLookup& env) {
  return std::make_unique<OpenAIClient>(
      model, parse_openai_options(cfg, model),
      prepare_upstream(cfg, model, env, "https://api.openai.com/v1"));
}

ProviderType openai_provider() {
  return ProviderType{
      [](const config::Config& cfg, const config::Model& model) {
        require_endpoint(cfg, model, "https://api.openai.com/v1");
        (void)parse_openai_options(cfg, model);
      },
      make_openai_client};
}

}  // namespace triage::providers
