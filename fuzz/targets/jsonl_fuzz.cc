// The JSON-lines dataset reader (ml::parse_clinc150_jsonl): a list of examples, or a ModelError
// naming source:line.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "ml/datasets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto examples = triage::ml::parse_clinc150_jsonl(text, "fuzz.jsonl");
    FUZZ_CHECK(examples.size() <= size);
  } catch (const triage::ml::ModelError& e) {
    FUZZ_CHECK(std::string_view(e.what()).substr(0, 11) == "fuzz.jsonl:");
  }
  return 0;
}
