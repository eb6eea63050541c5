#include "providers/openai_fast_parse.h"

#include "providers/upstream_errors.h"

#include <boost/json/basic_parser_impl.hpp>
#include <cstdint>
#include <string>

namespace triage::providers::openai {

namespace {

namespace json = boost::json;
using json::error_code;
using json::string_view;

// Where a value sits, as far as this reader cares.
enum class Slot : uint8_t {
  kOther,          // anything not read (skipped whatever its type)
  kModel,          // $.model
  kChoices,        // $.choices
  kChoice0,        // $.choices[0]
  kMessage,        // $.choices[0].message
  kContent,        // $.choices[0].message.content
  kToolCalls,      // $.choices[0].message.tool_calls
  kFinish,         // $.choices[0].finish_reason
  kLogprobs,       // $.choices[0].logprobs
  kUsage,          // $.usage
  kPromptTokens,   // $.usage.prompt_tokens
  kOutputTokens,   // $.usage.completion_tokens
  kDetails,        // $.usage.prompt_tokens_details
  kCachedTokens,   // $.usage.prompt_tokens_details.cached_tokens
};

constexpr int kMaxDepth = 64;

struct Handler {
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  core::Completion out;
  bool reported_usage = false;
  bool unsupported = false;  // a shape this reader leaves to the DOM parser
  bool have_message = false;

  // One frame per open container: what it is, and the slot of its current member (objects: set
  // by its key; arrays: from the element index).
  struct Frame {
    Slot slot = Slot::kOther;    // the container's own slot
    Slot member = Slot::kOther;  // objects: the slot of the member whose key came last
    bool array = false;
    int64_t index = 0;  // arrays: index of the next element
  };
  Frame stack[kMaxDepth];
  int depth = 0;      // open containers
  uint32_t seen = 0;  // bit per Slot read, to refuse repeats (the DOM keeps only one)
  std::string key;    // a key arriving in parts
  std::string text;   // a string value of interest arriving in parts

  // The slot of a member `k` of an object whose own slot is `parent`, at depth `d` (1 = top).
  static Slot member_slot(Slot parent, int d, std::string_view k) {
    switch (parent) {
      case Slot::kOther:
        if (d != 1) return Slot::kOther;
        if (k == "model") return Slot::kModel;
        if (k == "choices") return Slot::kChoices;
        if (k == "usage") return Slot::kUsage;
        return Slot::kOther;
      case Slot::kChoice0:
        if (k == "message") return Slot::kMessage;
        if (k == "finish_reason") return Slot::kFinish;
        if (k == "logprobs") return Slot::kLogprobs;
        return Slot::kOther;
      case Slot::kMessage:
        if (k == "content") return Slot::kContent;
        if (k == "tool_calls") return Slot::kToolCalls;
        return Slot::kOther;
      case Slot::kUsage:
        if (k == "prompt_tokens") return Slot::kPromptTokens;
        if (k == "completion_tokens") return Slot::kOutputTokens;
        if (k == "prompt_tokens_details") return Slot::kDetails;
        return Slot::kOther;
      case Slot::kDetails:
        return k == "cached_tokens" ? Slot::kCachedTokens : Slot::kOther;
      default:
        return Slot::kOther;
    }
  }

  // The slot of the value that starts now.
  Slot child_slot() const {
    if (depth == 0) return Slot::kOther;
    const Frame& f = stack[depth - 1];
    if (f.array) return f.slot == Slot::kChoices && f.index == 0 ? Slot::kChoice0 : Slot::kOther;
    return f.member;
  }
  static bool wants_text(Slot s) {
    return s == Slot::kModel || s == Slot::kContent || s == Slot::kFinish;
  }

  // Called at the start of every value; false (stop parsing) once the shape is unsupported.
  bool begin_value(Slot s) {
    if (s == Slot::kOther) return true;
    const uint32_t bit = 1u << static_cast<unsigned>(s);
    if (seen & bit) unsupported = true;  // a repeated field
    seen |= bit;
    return !unsupported;
  }
  // Called after every complete value: advances the enclosing array.
  void end_value() {
    if (depth > 0 && stack[depth - 1].array) ++stack[depth - 1].index;
  }
  bool scalar(Slot s, bool acceptable) {
    if (!begin_value(s)) return false;
    if (!acceptable) {
      unsupported = true;
      return false;
    }
    end_value();
    return true;
  }
  bool open(bool array, error_code& ec) {
    const Slot s = child_slot();
    if (!begin_value(s)) return false;
    const bool expected = s == Slot::kOther || (array ? s == Slot::kChoices
                                                      : (s == Slot::kChoice0 || s == Slot::kMessage ||
                                                         s == Slot::kUsage || s == Slot::kDetails));
    if (!expected || depth == kMaxDepth) {
      unsupported = true;
      return false;
    }
    if (s == Slot::kMessage) have_message = true;
    if (s == Slot::kUsage) reported_usage = true;
    Frame& f = stack[depth++];
    f.slot = s;
    f.member = Slot::kOther;
    f.array = array;
    f.index = 0;
    (void)ec;
    return true;
  }
  bool close() {
    --depth;
    end_value();
    return true;
  }
  int64_t* token_field(Slot s) {
    switch (s) {
      case Slot::kPromptTokens:
        return &out.usage.prompt_tokens;
      case Slot::kOutputTokens:
        return &out.usage.completion_tokens;
      case Slot::kCachedTokens:
        return &out.usage.cached_prompt_tokens;
      default:
        return nullptr;
    }
  }
  bool number(int64_t v) {
    const Slot s = child_slot();
    int64_t* field = token_field(s);
    const bool ok = s == Slot::kOther || field != nullptr;
    if (field) *field = clamp_token_count(v);  // as json_token_field in the DOM reader
    return scalar(s, ok);
  }

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code& ec) { return open(false, ec); }
  bool on_object_end(std::size_t, error_code&) { return close(); }
  bool on_array_begin(error_code& ec) { return open(true, ec); }
  bool on_array_end(std::size_t, error_code&) { return close(); }
  bool on_key_part(string_view s, std::size_t n, error_code&) {
    if (n == s.size()) key.clear();  // first part
    key.append(s.data(), s.size());
    return true;
  }
  bool on_key(string_view s, std::size_t n, error_code&) {
    Frame& f = stack[depth - 1];
    if (n == s.size()) {  // the whole key in one piece (always, for a body parsed in one write)
      f.member = member_slot(f.slot, depth, std::string_view(s.data(), s.size()));
    } else {
      key.append(s.data(), s.size());
      f.member = member_slot(f.slot, depth, key);
    }
    return true;
  }
  bool on_string_part(string_view s, std::size_t n, error_code&) {
    if (!wants_text(child_slot())) return true;
    if (n == s.size()) text.clear();
    text.append(s.data(), s.size());
    return true;
  }
  bool on_string(string_view s, std::size_t n, error_code&) {
    const Slot slot = child_slot();
    if (wants_text(slot)) {
      std::string* dst = slot == Slot::kModel     ? &out.upstream_model
                         : slot == Slot::kContent ? &out.content
                                                  : &text;
      if (n == s.size()) {
        dst->assign(s.data(), s.size());
      } else {
        text.append(s.data(), s.size());
        if (dst != &text) *dst = text;
      }
      if (slot == Slot::kFinish && !text.empty()) out.finish_reason = text;
    }
    // Strings where the DOM reader expects something else are its business (it ignores some,
    // rejects others); so are tool calls and logprobs.
    return scalar(slot, slot == Slot::kOther || wants_text(slot));
  }
  bool on_number_part(string_view, error_code&) { return true; }
  bool on_int64(int64_t v, string_view, error_code&) { return number(v); }
  bool on_uint64(uint64_t v, string_view, error_code&) { return number(json_number_to_int64(v)); }
  bool on_double(double v, string_view, error_code&) { return number(json_number_to_int64(v)); }
  bool on_bool(bool, error_code&) {
    const Slot s = child_slot();
    return scalar(s, s == Slot::kOther);
  }
  bool on_null(error_code&) {
    const Slot s = child_slot();
    // null reads as absent for the fields below, as in the DOM reader; a null message, choice
    // or usage is left to it.
    const bool ok = s == Slot::kOther || s == Slot::kModel || s == Slot::kContent ||
                    s == Slot::kFinish || s == Slot::kLogprobs || s == Slot::kToolCalls ||
                    s == Slot::kPromptTokens || s == Slot::kOutputTokens ||
                    s == Slot::kCachedTokens;
    return scalar(s, ok);
  }
  bool on_comment_part(string_view, error_code&) { return true; }
  bool on_comment(string_view, error_code&) { return true; }
};

}  // namespace

std::optional<core::Completion> parse_response_fast(std::string_view body, std::string_view model,
                                                    bool& reported_usage) {
  json::parse_options opts;
  opts.max_depth = kMaxDepth;
  json::basic_parser<Handler> p(opts);
  error_code ec;
  const std::size_t used = p.write_some(false, body.data(), body.size(), ec);
  Handler& h = p.handler();
  if (ec || used != body.size() || h.unsupported || !h.have_message) return std::nullopt;
  if (h.reported_usage) h.out.usage.estimated = false;
  reported_usage = h.reported_usage;
  h.out.model = std::string(model);
  return std::move(h.out);
}

}  // namespace triage::providers::openai
