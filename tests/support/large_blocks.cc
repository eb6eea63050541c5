// Linked into every unit test binary. Tests that train fastText models run on glibc malloc,
// which maps fastText's 120 MB vocabulary table afresh for every model (a block above its
// mmap ceiling) and unmaps it after, so every model faulted its pages in again. Taken from
// the heap and never trimmed instead, they stay mapped between models, as `triage train`
// keeps them on mimalloc (cli/train_cmd.cc; docs/performance.md, "Training time").
#include <malloc.h>

namespace {

const bool kLargeBlocksStayMapped = [] {
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  return true;
}();

}  // namespace
