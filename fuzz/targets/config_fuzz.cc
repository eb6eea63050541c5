// The config loader (config::parse_config) on arbitrary YAML. Its contract: a Config, or a
// ConfigError whose message starts with the file name ("file:line: path: what"). Any other
// exception (a yaml-cpp conversion, std::out_of_range...) escaping is a finding.
#include <cstdint>
#include <string>

#include "config/config.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const triage::config::Config cfg = triage::config::parse_config(text, "fuzz.yaml");
    FUZZ_CHECK(!cfg.models.empty());
    FUZZ_CHECK(cfg.find_model(cfg.reference_model) != nullptr);
    for (const auto& m : cfg.models) FUZZ_CHECK(cfg.tier_index(m.tier) >= 0);
  } catch (const triage::config::ConfigError& e) {
    const std::string msg = e.what();
    FUZZ_CHECK(msg.rfind("fuzz.yaml:", 0) == 0);
  }
  return 0;
}
