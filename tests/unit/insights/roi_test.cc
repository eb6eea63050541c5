#include "insights/roi.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <boost/json.hpp>
#include <filesystem>
#include <memory>

#include "config/config.h"
#include "core/trace.h"
#include "telemetry/sqlite_store.h"

namespace triage::insights {
namespace {

namespace json = boost::json;

RoiResult worked_example() {
  RoiInput in;
  in.requests_per_month = 1'000'000;
  in.current_cpi_nusd = parse_decimal_e9("0.15", "cpi").value();
  in.mix = parse_mix("0.4@0.001,0.3@0.03,0.3@0.15").value();
  in.engineering_cost_usd_e9 = parse_decimal_e9("300000", "cost").value();
  auto r = compute_roi(in);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.value();
}

TEST(RoiTest, DecimalParsingIsExact) {
  EXPECT_EQ(parse_decimal_e9("0.15", "x").value(), 150'000'000);
  EXPECT_EQ(parse_decimal_e9("$300000", "x").value(), 300'000'000'000'000);
  EXPECT_EQ(parse_decimal_e9(".001", "x").value(), 1'000'000);
  EXPECT_EQ(parse_decimal_e9("0.0000000015", "x").value(), 2);  // rounded to 9 decimals
  EXPECT_EQ(parse_decimal_e9("-1", "--current-cpi").error().message,
            "--current-cpi: must be non-negative, got '-1'");
  EXPECT_FALSE(parse_decimal_e9("1e3", "x").ok());
  EXPECT_FALSE(parse_decimal_e9("", "x").ok());
  EXPECT_FALSE(parse_decimal_e9("1.2.3", "x").ok());
}

TEST(RoiTest, WorkedExampleNumbers) {
  RoiResult r = worked_example();
  EXPECT_EQ(to_cents(r.monthly_before), 15'000'000);
  EXPECT_EQ(to_cents(r.monthly_after), 5'440'000);
  EXPECT_EQ(to_cents(r.monthly_savings()), 9'560'000);
  EXPECT_EQ(to_cents(r.monthly_savings() * 12), 114'720'000);
  ASSERT_EQ(r.item_monthly.size(), 3u);
  EXPECT_EQ(to_cents(r.item_monthly[0]), 40'000);
  EXPECT_EQ(to_cents(r.item_monthly[1]), 900'000);
  EXPECT_EQ(to_cents(r.item_monthly[2]), 4'500'000);
  EXPECT_NEAR(r.savings_pct(), 63.7333, 1e-4);
  ASSERT_TRUE(r.payback_months().has_value());
  EXPECT_NEAR(*r.payback_months(), 300000.0 / 95600.0, 1e-12);
}

TEST(RoiTest, WorkedExampleText) {
  std::string text = roi_text(worked_example());
  EXPECT_NE(text.find("$54,400/month instead of $150,000: $95,600 (63.7%) saved a month, "
                      "$1,147,200 a year; payback 3.1 months."),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("1,000,000 requests/month, current CPI $0.15, engineering cost $300,000"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("$1,800,000"), std::string::npos) << text;  // annual before
  EXPECT_NE(text.find("$652,800"), std::string::npos) << text;    // annual after
}

TEST(RoiTest, WorkedExampleJson) {
  json::object o = roi_json(worked_example());
  EXPECT_EQ(o.at("monthly_cost_before_usd").as_double(), 150000.0);
  EXPECT_EQ(o.at("monthly_cost_after_usd").as_double(), 54400.0);
  EXPECT_EQ(o.at("monthly_savings_usd").as_double(), 95600.0);
  EXPECT_EQ(o.at("annual_savings_usd").as_double(), 1147200.0);
  EXPECT_EQ(o.at("annual_cost_after_usd").as_double(), 652800.0);
  EXPECT_EQ(o.at("savings_pct").as_double(), 63.73);
  EXPECT_NEAR(o.at("payback_months").as_double(), 3.138, 1e-3);
  EXPECT_EQ(o.at("requests_per_month").as_int64(), 1000000);
  EXPECT_EQ(o.at("mix").as_array().size(), 3u);
  EXPECT_EQ(o.at("mix").as_array()[1].at("monthly_cost_usd").as_double(), 9000.0);
}

TEST(RoiTest, BadMixesAreRejectedWithTheItem) {
  EXPECT_EQ(parse_mix("0.4@0.001,0.3-0.03").error().message,
            "--mix item 2 '0.3-0.03': expected SHARE@CPI, e.g. 0.4@0.001");
  EXPECT_EQ(parse_mix("0.4@0.001,abc@0.1").error().message,
            "--mix item 2 'abc@0.1': share: expected a decimal number such as 0.15, got 'abc'");
  EXPECT_EQ(parse_mix("0.5@-0.1,0.5@1").error().message,
            "--mix item 1 '0.5@-0.1': CPI: must be non-negative, got '-0.1'");
  EXPECT_EQ(parse_mix("1.5@0.1").error().message,
            "--mix item 1 '1.5@0.1': share must be between 0 and 1");
  EXPECT_EQ(parse_mix("0.5@0.1,,0.5@1").error().message,
            "--mix item 2 '': expected SHARE@CPI, e.g. 0.4@0.001");
  EXPECT_FALSE(parse_mix("").ok());

  RoiInput in;
  in.requests_per_month = 10;
  in.current_cpi_nusd = 1;
  in.mix = parse_mix("0.4@0.001,0.5@0.03").value();
  EXPECT_EQ(compute_roi(in).error().message, "--mix: shares sum to 0.9, expected 1 (within 1e-6)");
  in.mix = parse_mix("0.3333333@0.001,0.6666667@0.03").value();
  EXPECT_TRUE(compute_roi(in).ok());  // sums to 1 exactly
  in.mix = parse_mix("0.333333@0.001,0.666666@0.03").value();
  EXPECT_TRUE(compute_roi(in).ok());  // 0.999999: within 1e-6
  in.mix = parse_mix("0.33333@0.001,0.66666@0.03").value();
  EXPECT_FALSE(compute_roi(in).ok());  // 0.99999: off by 1e-5
  in.requests_per_month = -1;
  in.mix = parse_mix("1@0.1").value();
  EXPECT_EQ(compute_roi(in).error().message, "--requests-per-month: must be non-negative");
}

TEST(RoiTest, NoSavingsMeansNoPayback) {
  RoiInput in;
  in.requests_per_month = 100;
  in.current_cpi_nusd = parse_decimal_e9("0.01", "x").value();
  in.mix = parse_mix("1@0.02").value();
  in.engineering_cost_usd_e9 = parse_decimal_e9("10", "x").value();
  RoiResult r = compute_roi(in).value();
  EXPECT_EQ(to_cents(r.monthly_savings()), -100);
  EXPECT_FALSE(r.payback_months().has_value());
  EXPECT_NE(roi_text(r).find("never (no monthly savings)"), std::string::npos);
  EXPECT_NE(roi_text(r).find("-$1 (-100.0%)"), std::string::npos) << roi_text(r);
}

TEST(RoiTest, FromStoreTakesMixAndCounterfactual) {
  const std::string path = std::string(TRIAGE_BINARY_DIR) + "/roi_test_store.db";
  std::filesystem::remove(path);
  {
    telemetry::SqliteStore store({path, 1000, 64, 10});
    // 3 small rows at $0.001, 1 large row at $0.1; 1000 in + 1000 out tokens each; one day.
    for (int i = 0; i < 4; ++i) {
      auto t = std::make_shared<core::Trace>();
      t->request_id = "req-" + std::to_string(i);
      t->time_ms = 1'700'000'000'000 + i * 28'800'000LL;  // every 8 h: span 24 h
      t->tier = i < 3 ? "small" : "large";
      t->model = i < 3 ? "s" : "l";
      t->tokens_in = 1000;
      t->tokens_out = 1000;
      t->cost_usd = i < 3 ? 0.001 : 0.1;
      store.consume(t);
    }
    store.close();
  }
  config::Config cfg = config::parse_config(R"(
models:
  - {name: s, provider: openai, endpoint: http://127.0.0.1:1/v1, tier: small, prices: {input: 0.5, output: 0.5}}
  - {name: l, provider: openai, endpoint: http://127.0.0.1:1/v1, tier: large, prices: {input: 10, output: 90}}
reference_model: l
)", "test.yaml");
  auto in = roi_input_from_store(path, cfg, std::nullopt);
  ASSERT_TRUE(in.ok()) << in.error().message;
  ASSERT_EQ(in->mix.size(), 2u);
  EXPECT_EQ(in->mix[0].name, "small");
  EXPECT_EQ(in->mix[0].share_ppb, 750'000'000);
  EXPECT_EQ(in->mix[0].cpi_nusd, 1'000'000);
  EXPECT_EQ(in->mix[1].name, "large");
  EXPECT_EQ(in->mix[1].cpi_nusd, 100'000'000);
  // Counterfactual: 1000 * 10/1M + 1000 * 90/1M = $0.1 per request.
  EXPECT_EQ(in->current_cpi_nusd, 100'000'000);
  // 4 requests over 24 h -> 120 in 30 days.
  EXPECT_EQ(in->requests_per_month, 120);
  RoiResult r = compute_roi(*in).value();
  EXPECT_EQ(to_cents(r.monthly_before), 1200);
  // 90 small * 0.001 + 30 large * 0.1 = 0.09 + 3 = 3.09
  EXPECT_EQ(to_cents(r.monthly_after), 309);
  EXPECT_FALSE(roi_input_from_store(path + ".missing", cfg, 10).ok());
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace triage::insights
