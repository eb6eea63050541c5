#pragma once
// A SQLite VFS that lets the store's writer thread end its turn on the CPU in the middle of a
// COMMIT or a checkpoint. It forwards every call to the default VFS and, after each page the
// connection writes (xWrite: a WAL frame, or a page a checkpoint copies back), calls the pause
// hook the calling thread installed (PacedWritesScope); a thread without a hook writes as
// with the default VFS.
//
// Why: a commit of a store batch writes its pages in one SQLite call that lasts 0.3-3 ms (a
// checkpoint tens of ms), and on a core shared with a saturated I/O thread the scheduler takes
// the core back only at a tick, so every request in flight waited for the whole commit
// (docs/performance.md, "Where the c=8 tail comes from"). Pausing between page writes cuts
// that wait to one writer turn, as the rows between commits already are (TurnPacer).
//
// Pausing inside a transaction holds its write lock longer. In WAL mode readers never wait
// for it; the only other writers of a store file (the review API's durable writes, `triage`
// maintenance) wait under their busy timeout, as they do for any batch.
//
// Threading: the hook is thread-local; the VFS itself is registered once and is safe from any
// thread.
#include <functional>

namespace triage::telemetry::sqlite {

// Registers the VFS (once, without making it the default) and returns its name, for
// sqlite3_open_v2. Throws std::runtime_error when SQLite refuses it.
const char* paced_vfs_name();

// While alive, the calling thread's page writes through the paced VFS call `pause` after
// each write. Scopes do not nest (the hook of an outer scope is restored on exit).
class PacedWritesScope {
 public:
  explicit PacedWritesScope(std::function<void()> pause);
  ~PacedWritesScope();
  PacedWritesScope(const PacedWritesScope&) = delete;
  PacedWritesScope& operator=(const PacedWritesScope&) = delete;

 private:
  std::function<void()> pause_;
  const std::function<void()>* outer_;
};

}  // namespace triage::telemetry::sqlite
