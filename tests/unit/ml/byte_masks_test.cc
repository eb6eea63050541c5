#include "ml/byte_masks.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <utility>
#include <vector>

namespace triage::ml {
namespace {

void expect_same(const std::string& text, unsigned wanted) {
  std::string simd_lower(text.size(), '?'), scalar_lower(text.size(), '?');
  const ByteMasks a = byte_masks(text.data(), text.size(), wanted, simd_lower.data());
  const ByteMasks b = byte_masks_scalar(text.data(), text.size(), wanted, scalar_lower.data());
  EXPECT_EQ(a.space, b.space) << text.size();
  EXPECT_EQ(a.digit, b.digit);
  EXPECT_EQ(a.word, b.word);
  EXPECT_EQ(a.math, b.math);
  EXPECT_EQ(a.newline, b.newline);
  EXPECT_EQ(a.underscore, b.underscore);
  const std::size_t n = std::min<std::size_t>(text.size(), 64);
  EXPECT_EQ(simd_lower.substr(0, n), scalar_lower.substr(0, n));
}

TEST(ByteMasks, ScalarDefinitionOfEachClass) {
  const std::string text = "aZ_9 \t\x1c\x1f\x1b\n+{}=|\x80\xff@[`{";
  const ByteMasks m = byte_masks_scalar(text.data(), text.size(), kEveryClass);
  auto bit = [](std::size_t j) { return uint64_t{1} << j; };
  EXPECT_EQ(m.word, bit(0) | bit(1) | bit(2) | bit(3));
  EXPECT_EQ(m.digit, bit(3));
  EXPECT_EQ(m.underscore, bit(2));
  EXPECT_EQ(m.space, bit(4) | bit(5) | bit(6) | bit(7) | bit(9));  // not \x1b
  EXPECT_EQ(m.newline, bit(9));
  EXPECT_EQ(m.math, bit(10) | bit(11) | bit(12) | bit(13) | bit(18) | bit(20));  // not '|'
  char lower[64];
  byte_masks_scalar("AbZ[@", 5, 0, lower);
  EXPECT_EQ(std::string(lower, 5), "abz[@");
}

TEST(ByteMasks, SimdAgreesWithTheScalarDefinitionOnEveryByteAndLength) {
  std::string every;
  for (int c = 0; c < 256; ++c) every.push_back(static_cast<char>(c));
  for (std::size_t start = 0; start < 256; start += 64) {
    expect_same(every.substr(start, 64), kEveryClass);
  }
  std::mt19937 rng(5);
  for (int round = 0; round < 2000; ++round) {
    std::string text(static_cast<std::size_t>(rng() % 80), '\0');
    for (char& c : text) c = static_cast<char>(rng() & 0xff);
    expect_same(text, kEveryClass);
    expect_same(text, static_cast<unsigned>(rng() % (kEveryClass + 1)));
  }
}

// Runs of set bits of a text's mask, by looking at each bit.
std::vector<std::pair<std::size_t, std::size_t>> naive_runs(const std::vector<bool>& marked) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (std::size_t i = 0; i < marked.size();) {
    if (!marked[i]) {
      ++i;
      continue;
    }
    const std::size_t begin = i;
    while (i < marked.size() && marked[i]) ++i;
    out.emplace_back(begin, i);
  }
  return out;
}

TEST(MarkedRuns, FindsEveryMaximalRunAcrossBlocks) {
  std::mt19937 rng(9);
  for (int round = 0; round < 3000; ++round) {
    const std::size_t n = rng() % 300;
    std::vector<bool> marked(n);
    const unsigned density = rng() % 8;  // long runs, short ones, none, all
    for (std::size_t i = 0; i < n; ++i) marked[i] = (rng() % 8) < density;
    std::vector<std::pair<std::size_t, std::size_t>> runs;
    auto on_run = [&](std::size_t b, std::size_t e) { runs.emplace_back(b, e); };
    MarkedRuns scanner;
    for (std::size_t base = 0; base < n; base += 64) {
      const std::size_t len = std::min<std::size_t>(64, n - base);
      uint64_t mask = rng() & ~block_bits(len);  // bits past the block must not count
      mask = len == 64 ? 0 : mask;
      for (std::size_t j = 0; j < len; ++j) mask |= uint64_t{marked[base + j]} << j;
      scanner.feed(base, mask, block_bits(len), on_run);
    }
    scanner.finish(n, on_run);
    ASSERT_EQ(runs, naive_runs(marked)) << "round " << round << ", " << n << " bytes";
  }
}

}  // namespace
}  // namespace triage::ml
