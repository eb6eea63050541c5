#include "api/models.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace triage::api {
namespace {

namespace json = boost::json;

config::Config sample_config() {
  config::Config cfg;
  config::Model small;
  small.name = "small-model";
  small.provider = "openai";
  small.tier = "small";
  small.prices.input_per_mtok = 0.15;
  small.prices.output_per_mtok = 0.6;
  small.prices.cached_input_per_mtok = 0.075;
  small.context_window = 128000;
  config::Model big;
  big.name = "big\"model";
  big.provider = "anthropic";
  big.tier = "large";
  big.prices.input_per_mtok = 3;
  big.prices.output_per_mtok = 15;
  big.prices.per_call = 0.001;
  cfg.models = {small, big};
  config::RouteSpec route;
  route.name = "support";
  route.type = "cascade";
  cfg.routes = {route};
  return cfg;
}

TEST(ModelList, ModelsThenRoutes) {
  json::object o = json::parse(serialize_model_list(sample_config(), 1700000000)).as_object();
  EXPECT_EQ(o.at("object").as_string(), "list");
  const json::array& data = o.at("data").as_array();
  ASSERT_EQ(data.size(), 3u);

  const json::object& m0 = data[0].as_object();
  EXPECT_EQ(m0.at("id").as_string(), "small-model");
  EXPECT_EQ(m0.at("object").as_string(), "model");
  EXPECT_EQ(m0.at("created").as_int64(), 1700000000);
  EXPECT_EQ(m0.at("owned_by").as_string(), "openai");
  const json::object& t0 = m0.at("triage").as_object();
  EXPECT_EQ(t0.at("kind").as_string(), "model");
  EXPECT_EQ(t0.at("tier").as_string(), "small");
  EXPECT_EQ(t0.at("provider").as_string(), "openai");
  EXPECT_DOUBLE_EQ(t0.at("prices").at("input_per_mtok").to_number<double>(), 0.15);
  EXPECT_DOUBLE_EQ(t0.at("prices").at("output_per_mtok").to_number<double>(), 0.6);
  EXPECT_DOUBLE_EQ(t0.at("prices").at("cached_input_per_mtok").to_number<double>(), 0.075);
  EXPECT_EQ(t0.at("context_window").as_int64(), 128000);

  const json::object& m1 = data[1].as_object();
  EXPECT_EQ(m1.at("id").as_string(), "big\"model");
  EXPECT_TRUE(m1.at("triage").at("prices").at("cached_input_per_mtok").is_null());
  EXPECT_DOUBLE_EQ(m1.at("triage").at("prices").at("per_call").to_number<double>(), 0.001);
  EXPECT_TRUE(m1.at("triage").at("context_window").is_null());

  const json::object& r = data[2].as_object();
  EXPECT_EQ(r.at("id").as_string(), "support");
  EXPECT_EQ(r.at("owned_by").as_string(), "triage");
  EXPECT_EQ(r.at("triage").at("kind").as_string(), "route");
  EXPECT_EQ(r.at("triage").at("type").as_string(), "cascade");
}

TEST(ModelList, Empty) {
  EXPECT_EQ(serialize_model_list(config::Config{}, 1), R"({"object":"list","data":[]})");
}

TEST(ModelRetrieve, FoundAndNotFound) {
  config::Config cfg = sample_config();
  auto m = serialize_model(cfg, "support", 5);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(json::parse(*m).at("triage").at("kind").as_string(), "route");
  auto missing = serialize_model(cfg, "nope", 5);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(missing.error().param, "model");
  EXPECT_NE(missing.error().message.find("'nope'"), std::string::npos);
}

}  // namespace
}  // namespace triage::api
