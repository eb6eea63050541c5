// The reusable reader: typed reads, paths, lines, unknown-field checks, suggestions.
#include "config/yaml_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

namespace triage::config {
namespace {

using ::testing::StrEq;

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(EditDistance, CountsTranspositionAsOne) {
  EXPECT_EQ(edit_distance("prics", "prices"), 1u);
  EXPECT_EQ(edit_distance("modles", "models"), 1u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("same", "same"), 0u);
}

TEST(Suggest, ClosestOrKnownList) {
  const std::vector<std::string> known = {"name", "type", "threshold"};
  EXPECT_EQ(suggest("treshold", known), " (did you mean 'threshold'?)");
  EXPECT_EQ(suggest("TYPE", known), " (did you mean 'type'?)");
  EXPECT_EQ(suggest("zzz", known), " (known: name, type, threshold)");
  EXPECT_EQ(suggest("x", {}), "");
  EXPECT_EQ(closest("weights", known), std::nullopt);
}

TEST(MapReader, TypedReadsWithDefaults) {
  MapReader r(YAML::Load("a: 3\nb: 0.5\nc: hello\nd: true\ne: [x, y]\nf: {k: v}\ng:\n"), "route",
              "f.yaml");
  EXPECT_EQ(r["a"].as<int64_t>(), 3);
  EXPECT_EQ(r["a"].as<int>(), 3);
  EXPECT_DOUBLE_EQ(r["b"].as<double>(), 0.5);
  EXPECT_DOUBLE_EQ(r["a"].as<double>(), 3.0);
  EXPECT_EQ(r["c"].as<std::string>(), "hello");
  EXPECT_TRUE(r["d"].as<bool>());
  EXPECT_EQ(r["e"].as<std::vector<std::string>>(), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ((r["f"].as<std::map<std::string, std::string>>().at("k")), "v");
  EXPECT_FALSE(r["g"].present());  // explicit null counts as absent
  EXPECT_EQ(r["g"].get<int64_t>(7), 7);
  EXPECT_EQ(r["missing"].get<std::string>("dflt"), "dflt");
  EXPECT_EQ(r["missing"].maybe<double>(), std::nullopt);
  EXPECT_EQ(r["a"].maybe<int64_t>(), 3);
  EXPECT_NO_THROW(r.finish());
}

TEST(MapReader, ErrorsCarryFileLineAndPath) {
  const YAML::Node n =
      YAML::Load("kind: threshold\nthreshold: high\nchildren:\n  - a\n  - {x: 1}\n");
  EXPECT_THAT(error_of([&] {
                MapReader r(n, "routes[2]", "t.yaml");
                r["threshold"].as<double>();
              }),
              StrEq("t.yaml:2: routes[2].threshold: expected a number, got 'high'"));
  EXPECT_THAT(error_of([&] {
                MapReader r(n, "routes[2]", "t.yaml");
                r["model"].as<std::string>();
              }),
              StrEq("t.yaml:1: routes[2].model: missing required field 'model'"));
  EXPECT_THAT(error_of([&] {
                MapReader r(n, "routes[2]", "t.yaml");
                auto items = r["children"].items();
                items.at(1).as<std::string>();
              }),
              StrEq("t.yaml:5: routes[2].children[1]: expected a string, got a mapping"));
  EXPECT_THAT(error_of([&] {
                MapReader r(n, "routes[2]", "t.yaml");
                r["children"].map();
              }),
              StrEq("t.yaml:3: routes[2].children: expected a mapping, got a list"));
  EXPECT_THAT(error_of([&] {
                MapReader r(n, "", "t.yaml");
                r["kind"].fail("custom problem");
              }),
              StrEq("t.yaml:1: kind: custom problem"));
}

TEST(MapReader, RangesAndChoices) {
  MapReader r(YAML::Load("p: 1.5\nn: -1\nz: 0\nmode: fsat\nbig: 99999999999\n"), "x", "t.yaml");
  EXPECT_EQ(error_of([&] { r["p"].as<double>(Range::between(0, 1)); }),
            "t.yaml:1: x.p: must be between 0 and 1, got 1.5");
  EXPECT_EQ(error_of([&] { r["n"].as<int64_t>(Range::at_least(0)); }),
            "t.yaml:2: x.n: must be >= 0, got -1");
  EXPECT_EQ(error_of([&] { r["z"].as<int64_t>(Range::above(0)); }),
            "t.yaml:3: x.z: must be > 0, got 0");
  EXPECT_EQ(error_of([&] { r["big"].as<int>(); }),
            "t.yaml:5: x.big: integer out of range, got '99999999999'");
  EXPECT_EQ(r["big"].as<int64_t>(), 99999999999);
  EXPECT_EQ(error_of([&] {
              r["mode"].one_of({"fast", "slow"});
            }),
            "t.yaml:4: x.mode: unknown mode 'fsat' (known: fast, slow)");
  EXPECT_EQ(r["absent"].one_of({"fast", "slow"}, "slow"), "slow");
  EXPECT_EQ(error_of([&] {
              r["absent"].one_of({"fast", "slow"});
            }),
            "t.yaml:1: x.absent: missing required field 'absent'");
}

TEST(MapReader, OnlyRejectsUnknownKeysWithSuggestion) {
  MapReader r(YAML::Load("name: a\ntreshold: 0.3\n"), "routes[0]", "t.yaml");
  EXPECT_EQ(error_of([&] {
              r.only({"name", "type", "threshold"});
            }),
            "t.yaml:2: routes[0].treshold: unknown field 'treshold' (did you mean 'threshold'?)");
}

TEST(MapReader, FinishRejectsKeysNotRead) {
  MapReader r(YAML::Load("name: a\ntype: model\nmodle: b\n"), "routes[0]", "t.yaml");
  r.allow({"name", "type"});
  (void)r["model"];
  EXPECT_EQ(error_of([&] { r.finish(); }),
            "t.yaml:3: routes[0].modle: unknown field 'modle' (did you mean 'model'?)");
}

TEST(MapReader, DuplicateKeysAndNonMappings) {
  EXPECT_EQ(error_of([] { MapReader(YAML::Load("a: 1\nb: 2\na: 3\n"), "m", "t.yaml"); }),
            "t.yaml:3: m.a: duplicate field 'a' (first at line 1)");
  EXPECT_EQ(error_of([] { MapReader(YAML::Load("[1, 2]"), "m", "t.yaml"); }),
            "t.yaml:1: m: expected a mapping, got a list");
  EXPECT_EQ(error_of([] { MapReader(YAML::Load("{[1]: 2}"), "m", "t.yaml"); }),
            "t.yaml:1: m: field names must be plain strings, got a list");
  MapReader empty(YAML::Node(), "absent", "t.yaml", 9);
  EXPECT_EQ(error_of([&] { empty["x"].as<int>(); }),
            "t.yaml:9: absent.x: missing required field 'x'");
}

TEST(MapReader, EntriesInFileOrder) {
  MapReader r(YAML::Load("z: 1\na: 2\n"), "m", "t.yaml");
  auto e = r.entries();
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].first, "z");
  EXPECT_EQ(e[1].second.path(), "m.a");
  EXPECT_EQ(e[1].second.line(), 2);
  EXPECT_NO_THROW(r.finish());
}

TEST(Field, TypeErrors) {
  MapReader r(YAML::Load("i: 1.5\nj: ten\nb: maybe\nl: [a, [b]]\ns: {a: 1}\n"), "", "t.yaml");
  EXPECT_EQ(error_of([&] { r["i"].as<int64_t>(); }),
            "t.yaml:1: i: expected a whole number, got '1.5'");
  EXPECT_EQ(error_of([&] { r["j"].as<int64_t>(); }), "t.yaml:2: j: expected an integer, got 'ten'");
  EXPECT_EQ(error_of([&] { r["j"].as<double>(); }), "t.yaml:2: j: expected a number, got 'ten'");
  EXPECT_EQ(error_of([&] { r["b"].as<bool>(); }),
            "t.yaml:3: b: expected true or false, got 'maybe'");
  EXPECT_EQ(error_of([&] { r["l"].as<std::vector<std::string>>(); }),
            "t.yaml:4: l[1]: expected a string, got a list");
  EXPECT_EQ(error_of([&] { r["s"].as<std::string>(); }),
            "t.yaml:5: s: expected a string, got a mapping");
}

}  // namespace
}  // namespace triage::config
