#include "providers/anthropic.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "api/messages.h"
#include "net/http_client.h"
#include "providers/provider_config.h"

namespace triage::providers {

namespace json = boost::json;

namespace anthropic {
namespace {

// Anthropic reports cache reads and writes apart from input_tokens; all are prompt tokens,
// and cache reads are the ones billed at the cached price.
void read_usage(const json::object& u, core::Usage& usage, bool has_input) {
  if (has_input) {
    int64_t cache_read = json_token_field(u, "cache_read_input_tokens");
    usage.prompt_tokens =
        json_token_field(u, "input_tokens") + cache_read + json_token_field(u, "cache_creation_input_tokens");
    usage.cached_prompt_tokens = cache_read;
  }
  if (u.contains("output_tokens")) usage.completion_tokens = json_token_field(u, "output_tokens");
  usage.estimated = false;
}

}  // namespace

std::string_view finish_reason(std::string_view stop_reason) {
  return api::messages::finish_reason(stop_reason);
}

Result<core::Completion> parse_response(std::string_view body, std::string_view model,
                                        bool& reported_usage) {
  reported_usage = false;
  unsigned char buf[8192];
  json::monotonic_resource mr(buf, sizeof buf);
  json::error_code ec;
  json::value v = json::parse(body, ec, &mr);
  if (ec) return invalid_response("the body is not JSON (" + ec.message() + ")");
  const json::object* o = v.if_object();
  if (!o) return invalid_response("the body is not a JSON object");
  if (json_string_field(*o, "type") == "error") {
    return make_error(ErrorCode::kUpstreamError, "upstream failed: " + upstream_error_text(body));
  }
  auto content_it = o->find("content");
  const json::array* content = content_it == o->end() ? nullptr : content_it->value().if_array();
  if (!content) return invalid_response("it has no content");

  core::Completion c;
  c.model = std::string(model);
  c.upstream_model = std::string(json_string_field(*o, "model"));
  json::array tool_calls;
  for (const json::value& item : *content) {
    const json::object* block = item.if_object();
    if (!block) continue;
    std::string_view type = json_string_field(*block, "type");
    if (type == "text") {
      c.content.append(json_string_field(*block, "text"));
    } else if (type == "tool_use") {
      std::string args = "{}";
      if (auto in = block->find("input"); in != block->end()) args = json::serialize(in->value());
      tool_calls.push_back(json::object{
          {"id", json_string_field(*block, "id")},
          {"type", "function"},
          {"function", json::object{{"name", json_string_field(*block, "name")}, {"arguments", args}}}});
    }
  }
  if (!tool_calls.empty()) c.tool_calls = std::move(tool_calls);
  c.finish_reason = std::string(finish_reason(json_string_field(*o, "stop_reason")));
  c.stop_sequence = std::string(json_string_field(*o, "stop_sequence"));
  if (const json::object* u = json_object_field(*o, "usage")) {
    read_usage(*u, c.usage, true);
    reported_usage = true;
  }
  return c;
}

EventAssembler::EventAssembler(std::string_view model)
    : JsonStreamAssembler(model, "stream event") {}

Result<StreamAssembler::Step> EventAssembler::on_event(std::string_view event,
                                                       std::string_view data) {
  Step step;
  if (event == "ping") return step;
  auto parsed = parse_event(data);
  if (!parsed) return std::move(parsed).error();
  const json::object* o = *parsed;
  std::string_view type = json_string_field(*o, "type");
  if (type.empty()) type = event;

  if (type == "content_block_delta") {
    const json::object* delta = json_object_field(*o, "delta");
    const std::string_view delta_type = delta ? json_string_field(*delta, "type") : "";
    if (delta_type == "text_delta") {
      step.delta.content = json_string_field(*delta, "text");
      if (!step.delta.content.empty()) {
        out_.content.append(step.delta.content);
        step.has_delta = true;
      }
    } else if (delta_type == "input_json_delta") {
      const std::string_view part = json_string_field(*delta, "partial_json");
      const int64_t index = json_token_field(*o, "index");
      if (!part.empty() && tool_calls_.count(index) != 0) {
        tool_call_delta(tool_calls_[index], json::object{{"arguments", part}}, step);
      }
    }
  } else if (type == "content_block_start") {
    const json::object* block = json_object_field(*o, "content_block");
    if (block && json_string_field(*block, "type") == "tool_use") {
      const std::size_t call = tool_calls_.size();
      tool_calls_[json_token_field(*o, "index")] = call;
      json::object start{{"index", call},
                         {"id", json_string_field(*block, "id")},
                         {"type", "function"},
                         {"function", json::object{{"name", json_string_field(*block, "name")},
                                                   {"arguments", ""}}}};
      if (!out_.tool_calls.is_array()) out_.tool_calls = json::array();
      out_.tool_calls.get_array().push_back(start);
      tool_delta_ = json::array{std::move(start)};
      step.delta.tool_calls = &tool_delta_;
      step.has_delta = true;
    }
  } else if (type == "message_start") {
    if (const json::object* msg = json_object_field(*o, "message")) {
      out_.upstream_model = std::string(json_string_field(*msg, "model"));
      if (const json::object* u = json_object_field(*msg, "usage")) {
        read_usage(*u, out_.usage, true);
        reported_usage_ = true;
      }
    }
  } else if (type == "message_delta") {
    if (const json::object* delta = json_object_field(*o, "delta")) {
      if (auto reason = json_string_field(*delta, "stop_reason"); !reason.empty()) {
        out_.finish_reason = std::string(finish_reason(reason));
      }
      out_.stop_sequence = std::string(json_string_field(*delta, "stop_sequence"));
    }
    if (const json::object* u = json_object_field(*o, "usage")) {
      // output_tokens here is cumulative; newer API versions may restate input counts too.
      read_usage(*u, out_.usage, u->contains("input_tokens"));
      reported_usage_ = true;
    }
  } else if (type == "message_stop") {
    step.done = true;
  } else if (type == "error") {
    return make_error(ErrorCode::kUpstreamError,
                      "upstream failed mid-stream: " + upstream_error_text(data));
  }
  if (step.has_delta && !sent_role_) {
    step.delta.role = "assistant";
    sent_role_ = true;
  }
  return step;
}

void EventAssembler::tool_call_delta(std::size_t call, json::object function, Step& step) {
  json::object& merged = out_.tool_calls.get_array()[call].get_object();
  std::string args(merged["function"].get_object()["arguments"].get_string());
  args.append(function["arguments"].get_string());
  merged["function"].get_object()["arguments"] = args;
  tool_delta_ = json::array{json::object{{"index", call}, {"function", std::move(function)}}};
  step.delta.tool_calls = &tool_delta_;
  step.has_delta = true;
}

}  // namespace anthropic

namespace {

class AnthropicClient final : public ModelClient {
 public:
  AnthropicClient(const config::Model& model, AnthropicOptions options, UpstreamSetup setup)
      : model_(model),
        options_(std::move(options)),
        key_missing_(setup.key_missing),
        api_key_(std::move(setup.api_key)),
        http_(std::move(setup.endpoint)),
        path_(http_.endpoint().target("/messages")) {
    headers_[n_headers_++] = {"anthropic-version", options_.version};
    if (!api_key_.empty()) headers_[n_headers_++] = {"x-api-key", api_key_};
  }

  std::string_view name() const override { return "anthropic/1"; }

  boost::asio::awaitable<Result<core::Completion>> complete(const core::ChatRequest& req,
                                                            SteadyTime deadline,
                                                            CallStats& stats) override {
    if (key_missing_) co_return missing_key_error(model_.name, model_.api_key_env);
    Result<std::string> built = anthropic::build_request_body(req, model_, options_, false);
    if (!built) co_return std::move(built).error();
    std::string body = std::move(built).value();
    const UpstreamTarget t = target();
    const SteadyTime until = clamp_deadline(deadline, model_.timeout_ms);
    co_return co_await call_whole(t, req, std::move(body), until, stats,
                                  &anthropic::parse_response);
  }

  boost::asio::awaitable<Result<core::Completion>> stream(const core::ChatRequest& req,
                                                          SteadyTime deadline, CallStats& stats,
                                                          core::StreamSink& sink) override {
    if (key_missing_) co_return missing_key_error(model_.name, model_.api_key_env);
    Result<std::string> built = anthropic::build_request_body(req, model_, options_, true);
    if (!built) co_return std::move(built).error();
    std::string body = std::move(built).value();
    auto assembler = std::make_unique<anthropic::EventAssembler>(model_.name);
    const UpstreamTarget t = target();
    const SteadyTime until = clamp_deadline(deadline, model_.timeout_ms);
    co_return co_await call_stream(t, req, std::move(body), until, stats, *assembler, sink);
  }

 private:
  UpstreamTarget target() const {
    return UpstreamTarget{&http_, path_, {headers_, n_headers_}, model_.name, model_.api_key_env};
  }

  const config::Model model_;  // a copy: the client may outlive the Config it came from
  const AnthropicOptions options_;
  const bool key_missing_;
  const std::string api_key_;  // never logged
  const net::HttpClient http_;
  const std::string path_;
  net::HttpHeader headers_[2];
  std::size_t n_headers_ = 0;
};

}  // namespace

AnthropicOptions parse_anthropic_options(const config::Config& cfg, const config::Model& model) {
  config::MapReader o = options_field(cfg, model).map();
  o.only({"version", "default_max_tokens"});
  AnthropicOptions options;
  options.version = o["version"].get<std::string>(options.version);
  if (options.version.empty()) o["version"].fail("must not be empty");
  options.default_max_tokens =
      o["default_max_tokens"].get<int64_t>(options.default_max_tokens, config::Range::above(0));
  return options;
}

std::unique_ptr<ModelClient> make_anthropic_client(const config::Config& cfg,
                                                   const config::Model& model,
                                                   const EnvLookup& env) {
  return std::make_unique<AnthropicClient>(
      model, parse_anthropic_options(cfg, model),
      prepare_upstream(cfg, model, env, "https://api.anthropic.com/v1"));
}

ProviderType anthropic_provider() {
  return ProviderType{
      [](const config::Config& cfg, const config::Model& model) {
        require_endpoint(cfg, model, "https://api.anthropic.com/v1");
        (void)parse_anthropic_options(cfg, model);
      },
      make_anthropic_client};
}

}  // namespace triage::providers
