// Linked into every unit test binary. Tests that train fastText models run on glibc malloc,
// which maps fastText's 120 MB vocabulary table afresh for every model it trains (a block over
// its 32 MB mmap ceiling) and unmaps it after: faulting 30,000 pages in per model was most of
// a training test's time on this VM. Taken from the heap and never trimmed instead, the pages
// stay mapped between models, as `triage train` keeps them on mimalloc (cli/train_cmd.cc).
#include <malloc.h>

namespace {

const bool kLargeBlocksStayMapped = [] {
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  return true;
}();

}  // namespace
