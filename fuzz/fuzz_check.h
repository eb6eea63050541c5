#pragma once
// FUZZ_CHECK: an invariant of a fuzz target. A violation prints where and aborts, which
// libFuzzer reports as a crash (and the g++ replay test as a failure), like a sanitizer report.
#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                  \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)
