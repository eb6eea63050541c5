#pragma once
// Injected randomness for the control primitives (retry jitter, power-of-two-choices), so that
// tests can replay a decision exactly. Not for secrets: keys use OpenSSL RAND_bytes.
#include <atomic>
#include <cstdint>

namespace triage::control {

// A source of uniformly distributed 64-bit values. Implementations say whether they are
// thread-safe; the two below are.
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual uint64_t next_u64() = 0;
};

// Uniform integer in [0, n); n must be > 0. Unbiased (rejection sampling).
uint64_t uniform_below(RandomSource& rng, uint64_t n);
// Uniform double in [0, 1), 53 random bits.
double uniform_unit(RandomSource& rng);

// Production source: one generator per thread, seeded from std::random_device. Thread-safe,
// no shared state.
class ThreadLocalRandom final : public RandomSource {
 public:
  uint64_t next_u64() override;
};

// Deterministic source for tests and replays: splitmix64 over an atomic counter, so that it is
// thread-safe and lock-free; a single thread sees the same sequence for the same seed.
class SeededRandom final : public RandomSource {
 public:
  explicit SeededRandom(uint64_t seed) : state_(seed) {}
  uint64_t next_u64() override;

 private:
  std::atomic<uint64_t> state_;
};

}  // namespace triage::control
