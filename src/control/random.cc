#include "control/random.h"

#include <random>

namespace triage::control {

namespace {
uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
}  // namespace

uint64_t uniform_below(RandomSource& rng, uint64_t n) {
  // Reject the top partial block so that every residue is equally likely.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x = rng.next_u64();
  while (x >= limit) x = rng.next_u64();
  return x % n;
}

double uniform_unit(RandomSource& rng) {
  return static_cast<double>(rng.next_u64() >> 11) * 0x1.0p-53;
}

uint64_t ThreadLocalRandom::next_u64() {
  thread_local std::mt19937_64 gen{(static_cast<uint64_t>(std::random_device{}()) << 32) ^
                                   std::random_device{}()};
  return gen();
}

uint64_t SeededRandom::next_u64() {
  return splitmix64(state_.fetch_add(0x9e3779b97f4a7c15ULL, std::memory_order_relaxed));
}

}  // namespace triage::control
