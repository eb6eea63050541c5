#include "api/errors.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

namespace triage::api {
namespace {

namespace json = boost::json;

struct Row {
  ErrorCode code;
  int status;
  const char* type;
  const char* code_str;  // nullptr: JSON null
  const char* name;
};

TEST(ErrorResponse, TableOfCodes) {
  const Row rows[] = {
      {ErrorCode::kInvalidRequest, 400, "invalid_request_error", nullptr, "invalid_request"},
      {ErrorCode::kUnauthorized, 401, "authentication_error", "invalid_api_key", "unauthorized"},
      {ErrorCode::kForbidden, 403, "permission_error", "permission_denied", "forbidden"},
      {ErrorCode::kNotFound, 404, "invalid_request_error", "not_found", "not_found"},
      {ErrorCode::kMethodNotAllowed, 405, "invalid_request_error", "method_not_allowed",
       "method_not_allowed"},
      {ErrorCode::kPayloadTooLarge, 413, "invalid_request_error", "request_too_large",
       "payload_too_large"},
      {ErrorCode::kUnsupportedMedia, 415, "invalid_request_error", "unsupported_media_type",
       "unsupported_media"},
      {ErrorCode::kRateLimited, 429, "rate_limit_error", "rate_limit_exceeded", "rate_limited"},
      {ErrorCode::kInternal, 500, "server_error", nullptr, "internal"},
      {ErrorCode::kUpstreamError, 502, "upstream_error", "bad_gateway", "upstream_error"},
      {ErrorCode::kUnavailable, 503, "server_error", "service_unavailable", "unavailable"},
      {ErrorCode::kUpstreamTimeout, 504, "timeout_error", "upstream_timeout", "upstream_timeout"},
      {ErrorCode::kCancelled, 499, "cancelled_error", "client_closed_request", "cancelled"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    HttpError h = error_response(make_error(row.code, "public text", "secret internal detail"));
    EXPECT_EQ(h.status, row.status);
    EXPECT_EQ(http_status(row.code), row.status);
    EXPECT_EQ(error_code_name(row.code), row.name);
    json::object o = json::parse(h.body).as_object();
    ASSERT_EQ(o.size(), 1u);
    const json::object& e = o.at("error").as_object();
    EXPECT_EQ(e.size(), 4u);
    EXPECT_EQ(e.at("message").as_string(), "public text");
    EXPECT_EQ(e.at("type").as_string(), row.type);
    EXPECT_TRUE(e.at("param").is_null());
    if (row.code_str == nullptr) {
      EXPECT_TRUE(e.at("code").is_null());
    } else {
      EXPECT_EQ(e.at("code").as_string(), row.code_str);
    }
    EXPECT_EQ(h.body.find("secret"), std::string::npos);
  }
}

// OpenAI's clients know "model_not_found"; a missing config version or rollout is no model.
TEST(ErrorResponse, NotFoundNamesAModelOnlyForAModel) {
  const json::value model = json::parse(
      error_body(make_error(ErrorCode::kNotFound, "The model 'x' does not exist", {}, "model")));
  EXPECT_EQ(model.at("error").at("code").as_string(), "model_not_found");
  const json::value route = json::parse(
      error_body(make_error(ErrorCode::kNotFound, "no rollout on route 'x'", {}, "route")));
  EXPECT_EQ(route.at("error").at("code").as_string(), "not_found");
}

TEST(ErrorResponse, ParamAndEscaping) {
  Error e = make_error(ErrorCode::kInvalidRequest, "Invalid value: 'x\"y'.\nFix it.", "",
                       "messages[2].content");
  HttpError h = error_response(e);
  json::value v = json::parse(h.body);
  const json::object& o = v.at("error").as_object();
  EXPECT_EQ(o.at("param").as_string(), "messages[2].content");
  EXPECT_EQ(o.at("message").as_string(), "Invalid value: 'x\"y'.\nFix it.");
}

TEST(ErrorResponse, EmptyMessageGetsAGenericOne) {
  HttpError h = error_response(make_error(ErrorCode::kInternal, "", "null deref in foo"));
  EXPECT_EQ(h.status, 500);
  EXPECT_EQ(json::parse(h.body).at("error").at("message").as_string(), "Internal error");
  EXPECT_EQ(h.body.find("null deref"), std::string::npos);
}

TEST(ErrorEvent, SseFraming) {
  std::string ev = error_event(make_error(ErrorCode::kUpstreamTimeout, "The upstream timed out."));
  ASSERT_EQ(ev.rfind("data: ", 0), 0u);
  ASSERT_EQ(ev.substr(ev.size() - 2), "\n\n");
  EXPECT_EQ(ev.find('\n'), ev.size() - 2);
  json::value v = json::parse(ev.substr(6, ev.size() - 8));
  EXPECT_EQ(v.at("error").at("code").as_string(), "upstream_timeout");
  EXPECT_EQ(v.at("error").at("type").as_string(), "timeout_error");
  EXPECT_EQ(error_body(make_error(ErrorCode::kUpstreamTimeout, "The upstream timed out.")),
            ev.substr(6, ev.size() - 8));
}

}  // namespace
}  // namespace triage::api
