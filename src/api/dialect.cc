#include "api/dialect.h"

#include <optional>

#include "api/chat_request.h"

namespace triage::api {
namespace {

// chat.completion.chunk events (ChunkSerializer), with the `triage` object on the last chunk.
class ChatStreamRenderer final : public StreamRenderer {
 public:
  explicit ChatStreamRenderer(bool include_usage) : include_usage_(include_usage) {}

  void begin(std::string_view request_id, int64_t created_s, std::string_view model,
             std::string& out) override {
    serializer_.emplace(response_id(request_id), created_s, model, include_usage_);
    out += serializer_->role_chunk();
  }
  void delta(const core::Delta& d, std::string& out) override {
    core::Delta without_role = d;
    without_role.role = {};  // the role chunk already said it
    out += serializer_->delta_chunk(without_role);
  }
  void end(const core::Completion& c, const TriageInfo& triage, std::string& out) override {
    if (include_usage_) {
      out += serializer_->finish_chunk(c.finish_reason);
      out += serializer_->usage_chunk(c.usage, &triage);
    } else {
      out += serializer_->finish_chunk(c.finish_reason, &triage);
    }
    out += kStreamDone;
  }
  void error(const Error& e, std::string& out) override { out += error_event(e); }

 private:
  bool include_usage_;
  std::optional<ChunkSerializer> serializer_;  // made in begin() (model known)
};

}  // namespace

std::unique_ptr<StreamRenderer> chat_stream_renderer(bool include_usage) {
  return std::make_unique<ChatStreamRenderer>(include_usage);
}

const Dialect& chat_dialect() {
  static const Dialect d{
      core::ClientApi::kChat, &parse_chat_request, &error_response,
      [](const core::ChatRequest&, const ResponseInfo& info, const core::Completion& c) {
        return serialize_completion(info, c);
      },
      [](const core::ChatRequest& req) -> std::unique_ptr<StreamRenderer> {
        return chat_stream_renderer(req.include_usage);
      }};
  return d;
}

}  // namespace triage::api
