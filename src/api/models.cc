#include "api/models.h"

#include "api/json_write.h"

namespace triage::api {
namespace {

using detail::append_double;
using detail::append_int;
using detail::append_string;

void append_head(std::string& out, std::string_view id, int64_t created,
                 std::string_view owned_by) {
  out += R"({"id":)";
  append_string(out, id);
  out += R"(,"object":"model","created":)";
  append_int(out, created);
  out += R"(,"owned_by":)";
  append_string(out, owned_by);
}

void append_model(std::string& out, const config::Model& m, int64_t created) {
  append_head(out, m.name, created, m.provider);
  out += R"(,"triage":{"kind":"model","tier":)";
  append_string(out, m.tier);
  out += R"(,"provider":)";
  append_string(out, m.provider);
  out += R"(,"prices":{"input_per_mtok":)";
  append_double(out, m.prices.input_per_mtok);
  out += R"(,"output_per_mtok":)";
  append_double(out, m.prices.output_per_mtok);
  out += R"(,"cached_input_per_mtok":)";
  if (m.prices.cached_input_per_mtok < 0) {
    out += "null";
  } else {
    append_double(out, m.prices.cached_input_per_mtok);
  }
  out += R"(,"per_call":)";
  append_double(out, m.prices.per_call);
  out += R"(},"context_window":)";
  if (m.context_window > 0) {
    append_int(out, m.context_window);
  } else {
    out += "null";
  }
  out += "}}";
}

void append_route(std::string& out, const config::RouteSpec& r, int64_t created) {
  append_head(out, r.name, created, "triage");
  out += R"(,"triage":{"kind":"route","type":)";
  append_string(out, r.type);
  out += "}}";
}

}  // namespace

std::string serialize_model_list(const config::Config& cfg, int64_t created,
                                 const std::function<bool(std::string_view)>& visible) {
  std::string out = R"({"object":"list","data":[)";
  bool first = true;
  for (const config::Model& m : cfg.models) {
    if (visible && !visible(m.name)) continue;
    if (!first) out += ',';
    append_model(out, m, created);
    first = false;
  }
  for (const config::RouteSpec& r : cfg.routes) {
    if (visible && !visible(r.name)) continue;
    if (!first) out += ',';
    append_route(out, r, created);
    first = false;
  }
  out += "]}";
  return out;
}

Result<std::string> serialize_model(const config::Config& cfg, std::string_view id,
                                    int64_t created) {
  std::string out;
  // Linear scans: not a hot path, and Config::find_* live in another library.
  for (const config::Model& m : cfg.models) {
    if (m.name == id) {
      append_model(out, m, created);
      return out;
    }
  }
  for (const config::RouteSpec& r : cfg.routes) {
    if (r.name == id) {
      append_route(out, r, created);
      return out;
    }
  }
  return make_error(ErrorCode::kNotFound,
                    "The model '" + std::string(id) + "' does not exist or is not served here.", {},
                    "model");
}

}  // namespace triage::api
