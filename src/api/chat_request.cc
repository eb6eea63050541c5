#include "api/chat_request.h"

#include <boost/json/parser.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include "api/json_read.h"

namespace triage::api {
namespace json = boost::json;

namespace {

constexpr std::string_view kRoles[] = {"system",    "developer", "user",
                                       "assistant", "tool",      "function"};

std::string number_text(const json::value& v) {
  char buf[32];
  std::to_chars_result r{};
  if (v.is_int64()) {
    r = std::to_chars(buf, buf + sizeof buf, v.get_int64());
  } else if (v.is_uint64()) {
    r = std::to_chars(buf, buf + sizeof buf, v.get_uint64());
  } else {
    r = std::to_chars(buf, buf + sizeof buf, v.get_double());
  }
  return std::string(buf, r.ptr);
}

Error missing(std::string param) {
  std::string msg = "Missing required parameter: '" + param + "'.";
  return invalid_field(std::move(msg), std::move(param));
}

Error wrong_type(std::string param, std::string_view expected, const json::value& got) {
  std::string msg = "Invalid type for '" + param + "': expected " + std::string(expected) +
                    ", but got " + std::string(json_kind_phrase(got)) + " instead.";
  return invalid_field(std::move(msg), std::move(param));
}

std::string index_path(std::string_view base, size_t i) {
  std::string p(base);
  p += '[';
  p += std::to_string(i);
  p += ']';
  return p;
}

// Null counts as absent: OpenAI accepts null for every optional parameter Triage reads.
const json::value* optional_field(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v == nullptr || v->is_null() ? nullptr : v;
}

// A positive integer (max_tokens, max_completion_tokens).
Result<std::optional<int64_t>> positive_int(const json::object& o, std::string_view key) {
  const json::value* v = optional_field(o, key);
  if (v == nullptr) return std::optional<int64_t>();
  if (v->is_uint64()) {  // only produced above INT64_MAX
    return invalid_field("Invalid '" + std::string(key) + "': integer above maximum value.",
                   std::string(key));
  }
  if (!v->is_int64()) return wrong_type(std::string(key), "an integer", *v);
  int64_t n = v->get_int64();
  if (n < 1) {
    return invalid_field("Invalid '" + std::string(key) +
                       "': integer below minimum value. Expected a value >= 1, but got " +
                       std::to_string(n) + " instead.",
                   std::string(key));
  }
  return std::optional<int64_t>(n);
}

// A number within [lo, hi] (temperature, top_p).
Result<std::optional<double>> bounded_number(const json::object& o, std::string_view key, double lo,
                                             double hi, std::string_view hi_text) {
  const json::value* v = optional_field(o, key);
  if (v == nullptr) return std::optional<double>();
  if (!v->is_number()) return wrong_type(std::string(key), "a number", *v);
  double d = v->to_number<double>();
  if (d < lo) {
    return invalid_field("Invalid '" + std::string(key) +
                       "': decimal below minimum value. Expected a value >= 0, but got " +
                       number_text(*v) + " instead.",
                   std::string(key));
  }
  if (d > hi) {
    return invalid_field("Invalid '" + std::string(key) +
                       "': decimal above maximum value. Expected a value <= " +
                       std::string(hi_text) + ", but got " + number_text(*v) + " instead.",
                   std::string(key));
  }
  return std::optional<double>(d);
}

// Text of an array content: text parts joined with "\n". Validates each part's shape.
std::optional<Error> parse_content_parts(const json::array& parts, size_t msg_index,
                                         std::string& text) {
  auto base = [&] { return index_path("messages", msg_index) + ".content"; };
  if (parts.empty()) {
    return invalid_field("Invalid '" + base() +
                       "': empty array. Expected an array with minimum length 1, but got an "
                       "empty array instead.",
                   base());
  }
  bool first = true;
  for (size_t j = 0; j < parts.size(); ++j) {
    const json::value& part = parts[j];
    if (!part.is_object()) return wrong_type(index_path(base(), j), "an object", part);
    const json::object& po = part.get_object();
    const json::value* type = po.if_contains("type");
    if (type == nullptr) return missing(index_path(base(), j) + ".type");
    if (!type->is_string()) return wrong_type(index_path(base(), j) + ".type", "a string", *type);
    if (type->get_string() != "text") continue;  // images, audio, files: passed through
    const json::value* t = po.if_contains("text");
    if (t == nullptr) return missing(index_path(base(), j) + ".text");
    if (!t->is_string()) return wrong_type(index_path(base(), j) + ".text", "a string", *t);
    if (!first) text += '\n';
    text.append(t->get_string().data(), t->get_string().size());
    first = false;
  }
  return std::nullopt;
}

std::optional<Error> parse_message(const json::value& v, size_t i, core::Message& msg) {
  if (!v.is_object()) return wrong_type(index_path("messages", i), "an object", v);
  const json::object& o = v.get_object();
  auto path = [&](std::string_view field) {
    std::string p = index_path("messages", i);
    p += '.';
    p += field;
    return p;
  };

  const json::value* role = o.if_contains("role");
  if (role == nullptr) return missing(path("role"));
  if (!role->is_string()) return wrong_type(path("role"), "a string", *role);
  std::string_view r = role->get_string();
  bool known = false;
  for (std::string_view k : kRoles) known = known || k == r;
  if (!known) {
    return invalid_field("Invalid value: '" + std::string(r) +
                       "'. Supported values are: 'system', 'developer', 'user', 'assistant', "
                       "'tool', and 'function'.",
                   path("role"));
  }
  msg.role.assign(r.data(), r.size());

  const json::value* content = o.if_contains("content");
  if (content != nullptr && content->is_string()) {
    msg.text.assign(content->get_string().data(), content->get_string().size());
  } else if (content != nullptr && content->is_array()) {
    if (auto err = parse_content_parts(content->get_array(), i, msg.text)) return err;
  } else if (content == nullptr || content->is_null()) {
    // Only an assistant turn that called tools may come without content.
    bool called =
        optional_field(o, "tool_calls") != nullptr || optional_field(o, "function_call") != nullptr;
    if (!(r == "assistant" && called)) {
      if (content == nullptr) return missing(path("content"));
      return wrong_type(path("content"), "one of a string or an array of objects", *content);
    }
  } else {
    return wrong_type(path("content"), "one of a string or an array of objects", *content);
  }

  if (const json::value* tc = optional_field(o, "tool_calls"); tc != nullptr && !tc->is_array()) {
    return wrong_type(path("tool_calls"), "an array", *tc);
  }
  if (r == "tool") {
    const json::value* id = o.if_contains("tool_call_id");
    if (id == nullptr) return missing(path("tool_call_id"));
    if (!id->is_string()) return wrong_type(path("tool_call_id"), "a string", *id);
  }
  if (const json::value* name = optional_field(o, "name"); name != nullptr && !name->is_string()) {
    return wrong_type(path("name"), "a string", *name);
  }
  msg.raw = v;
  return std::nullopt;
}

Error parse_error(std::string_view body, size_t offset, const boost::system::error_code& ec) {
  std::string msg = "We could not parse the JSON body of your request: ";
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    msg += "the body is empty. Send a JSON object.";
    return invalid_field(std::move(msg), {});
  }
  if (offset > body.size()) offset = body.size();
  size_t line = 1;
  size_t line_start = 0;
  for (size_t k = 0; k < offset; ++k) {
    if (body[k] == '\n') {
      ++line;
      line_start = k + 1;
    }
  }
  msg += ec.message();
  msg += " at line " + std::to_string(line) + ", column " +
         std::to_string(offset - line_start + 1) + " (offset " + std::to_string(offset) + ").";
  return invalid_field(std::move(msg), {});
}

// True when `v` holds a number beyond the double range (Boost.JSON reads 1e999 as infinity,
// and would serialize it as the non-JSON `Infinity` when the body is forwarded upstream; found
// by fuzz_chat_request). On true, `path` is where it is ("messages[0].x", "a.b[2]").
bool find_non_finite(const json::value& v, std::string& path) {
  auto prefix = [&path](std::string head) {
    if (!path.empty() && path.front() != '[') head += '.';
    path.insert(0, head);
  };
  switch (v.kind()) {
    case json::kind::double_:
      return !std::isfinite(v.get_double());
    case json::kind::array: {
      const json::array& a = v.get_array();
      for (size_t i = 0; i < a.size(); ++i) {
        if (find_non_finite(a[i], path)) {
          prefix("[" + std::to_string(i) + "]");
          return true;
        }
      }
      return false;
    }
    case json::kind::object:
      for (const auto& kv : v.get_object()) {
        if (find_non_finite(kv.value(), path)) {
          prefix(std::string(kv.key()));
          return true;
        }
      }
      return false;
    default:
      return false;
  }
}

}  // namespace

Result<core::ChatRequest> parse_chat_request(std::string_view body) {
  json::parse_options opts;
  opts.max_depth = 64;       // deep enough for nested tool JSON schemas
  unsigned char temp[4096];  // the parser's own stack; avoids heap use for the parse state
  json::parser parser(json::storage_ptr(), opts, temp);
  boost::system::error_code ec;
  size_t consumed = parser.write(body.data(), body.size(), ec);
  if (ec) return parse_error(body, consumed, ec);
  json::value root = parser.release();
  if (!root.is_object()) {
    return invalid_field("Invalid request body: expected a JSON object, but got " +
                       std::string(json_kind_phrase(root)) + " instead.",
                   {});
  }

  if (std::string where; find_non_finite(root, where)) {
    return invalid_field("Invalid number in '" + where +
                       "': it is too large to represent (beyond about 1.8e308).",
                   where);
  }

  core::ChatRequest req;
  req.body = std::move(root.get_object());
  const json::object& o = req.body;

  const json::value* model = o.if_contains("model");
  if (model == nullptr || model->is_null()) return missing("model");
  if (!model->is_string()) return wrong_type("model", "a string", *model);
  if (model->get_string().empty()) {
    return invalid_field("Invalid 'model': empty string. Expected a model or route name.", "model");
  }
  req.model.assign(model->get_string().data(), model->get_string().size());

  const json::value* messages = o.if_contains("messages");
  if (messages == nullptr || messages->is_null()) return missing("messages");
  if (!messages->is_array()) return wrong_type("messages", "an array", *messages);
  const json::array& arr = messages->get_array();
  if (arr.empty()) {
    return invalid_field(
        "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an "
        "empty array instead.",
        "messages");
  }
  req.messages.resize(arr.size());
  for (size_t i = 0; i < arr.size(); ++i) {
    if (auto err = parse_message(arr[i], i, req.messages[i])) return std::move(*err);
  }

  if (const json::value* s = optional_field(o, "stream")) {
    if (!s->is_bool()) return wrong_type("stream", "a boolean", *s);
    req.stream = s->get_bool();
  }
  if (const json::value* so = optional_field(o, "stream_options")) {
    if (!so->is_object()) return wrong_type("stream_options", "an object", *so);
    if (!req.stream) {
      return invalid_field("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                     "stream_options");
    }
    if (const json::value* iu = optional_field(so->get_object(), "include_usage")) {
      if (!iu->is_bool()) return wrong_type("stream_options.include_usage", "a boolean", *iu);
      req.include_usage = iu->get_bool();
    }
  }

  auto max_completion = positive_int(o, "max_completion_tokens");
  if (!max_completion) return std::move(max_completion).error();
  auto max_tokens = positive_int(o, "max_tokens");
  if (!max_tokens) return std::move(max_tokens).error();
  req.max_tokens = max_completion->has_value() ? *max_completion : *max_tokens;

  auto temperature = bounded_number(o, "temperature", 0.0, 2.0, "2");
  if (!temperature) return std::move(temperature).error();
  req.temperature = *temperature;
  auto top_p = bounded_number(o, "top_p", 0.0, 1.0, "1");
  if (!top_p) return std::move(top_p).error();
  req.top_p = *top_p;

  if (const json::value* n = optional_field(o, "n")) {
    if (!n->is_int64() && !n->is_uint64()) return wrong_type("n", "an integer", *n);
    if (n->is_int64() && n->get_int64() < 1) {
      return invalid_field("Invalid 'n': integer below minimum value. Expected a value >= 1, but got " +
                         number_text(*n) + " instead.",
                     "n");
    }
    if (n->is_uint64() || n->get_int64() > 1) {
      return invalid_field("n > 1 is not supported by Triage yet; send one request per choice.", "n");
    }
  }

  if (const json::value* stop = optional_field(o, "stop")) {
    if (stop->is_string()) {
      req.stop.emplace_back(stop->get_string());
    } else if (stop->is_array()) {
      const json::array& sa = stop->get_array();
      if (sa.size() > 4) {
        return invalid_field(
            "Invalid 'stop': array too long. Expected an array with maximum length 4, "
            "but got an array with length " +
                std::to_string(sa.size()) + " instead.",
            "stop");
      }
      for (size_t k = 0; k < sa.size(); ++k) {
        if (!sa[k].is_string()) return wrong_type(index_path("stop", k), "a string", sa[k]);
        req.stop.emplace_back(sa[k].get_string());
      }
    } else {
      return wrong_type("stop", "one of a string or an array of strings", *stop);
    }
  }

  if (const json::value* user = optional_field(o, "user")) {
    if (!user->is_string()) return wrong_type("user", "a string", *user);
    req.meta.user.assign(user->get_string().data(), user->get_string().size());
  }
  if (const json::value* md = optional_field(o, "metadata")) {
    if (!md->is_object()) return wrong_type("metadata", "an object", *md);
    if (const json::value* cat = md->get_object().if_contains("category");
        cat != nullptr && cat->is_string()) {
      req.meta.category.assign(cat->get_string().data(), cat->get_string().size());
    }
  }
  return req;
}

}  // namespace triage::api
