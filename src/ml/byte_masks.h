#pragma once
// Byte classes of a text as bit masks, 64 bytes at a time, and the runs of marked bytes they
// describe, for scans that must not branch on every byte (in ml::prompt_features a
// mispredicted branch at each change of class cost more than the rest of the work). ASCII
// rules: bytes >= 0x80 are in no class.
#include <bit>
#include <cstddef>
#include <cstdint>

namespace triage::ml {

enum ByteClass : unsigned {
  kSpaceClass = 1,       // Python's str.isspace() on ASCII: \t..\r, \x1c..\x1f and ' '
  kDigitClass = 2,       // 0-9
  kWordClass = 4,        // [A-Za-z0-9_]: \w, and what \b separates
  kMathClass = 8,        // one of =+^*/<>()[]{}
  kNewlineClass = 16,    // '\n'
  kUnderscoreClass = 32  // '_'
};
inline constexpr unsigned kEveryClass = 63;

struct ByteMasks {  // bit j describes byte j of the block; bits past its end are 0
  uint64_t space = 0, digit = 0, word = 0, math = 0, newline = 0, underscore = 0;
};

// The masks of the classes in `wanted` (the others stay 0) for text[0, n), n = min(size, 64).
// With `lower`, also writes those bytes to lower[0, n) with ASCII capitals lower-cased. SSE2
// where the compiler targets it.
ByteMasks byte_masks(const char* text, std::size_t size, unsigned wanted, char* lower = nullptr);

// The same a byte at a time: the definition byte_masks() is tested against.
ByteMasks byte_masks_scalar(const char* text, std::size_t size, unsigned wanted,
                            char* lower = nullptr);

// A bit for each of the first min(len, 64) bytes of a block.
inline uint64_t block_bits(std::size_t len) {
  return len >= 64 ? ~uint64_t{0} : (uint64_t{1} << len) - 1;
}

// The maximal runs of marked bytes of a text fed to it a block at a time, in order: a run
// starts or ends where a byte's mark differs from the one before, so the bytes cost no branch
// and each run one.
class MarkedRuns {
 public:
  // `marked`: bit j marks byte base + j, for the block's `valid` bits (block_bits). Calls
  // on_run(begin, end) for each run that ends inside the block.
  template <typename OnRun>
  void feed(std::size_t base, uint64_t marked, uint64_t valid, OnRun&& on_run) {
    marked &= valid;
    const uint64_t before = (marked << 1) | (inside_ ? 1 : 0);  // bit j: byte j - 1 marked
    for (uint64_t edges = (marked ^ before) & valid; edges != 0; edges &= edges - 1) {
      const std::size_t at = base + static_cast<std::size_t>(std::countr_zero(edges));
      if (inside_) on_run(start_, at);
      start_ = at;
      inside_ = !inside_;
    }
  }
  // The text ends at `end`: the run still open, if any.
  template <typename OnRun>
  void finish(std::size_t end, OnRun&& on_run) {
    if (inside_) on_run(start_, end);
    inside_ = false;
  }

 private:
  bool inside_ = false;    // the last byte fed is marked
  std::size_t start_ = 0;  // where the open run began
};

}  // namespace triage::ml
