#pragma once
// A SQLite VFS that lets the store's writer thread end its turn on the CPU in the middle of a
// COMMIT or a checkpoint. It forwards every call to the default VFS and, after each xWrite
// (a WAL frame is two: its 24-byte header, then its page; a checkpoint writes each page it
// copies back once), calls the pause hook the calling thread installed (PacedWritesScope); a
// thread without a hook writes as with the default VFS. The hook decides whether to pause
// (TurnPacer: only once a turn is over).
//
// Why: a commit of a store batch writes its pages in one SQLite call that lasts 0.3-3 ms (a
// checkpoint tens of ms), and on a core shared with a saturated I/O thread the scheduler takes
// the core back only at a tick, so every request in flight waited for the whole commit
// (docs/performance.md, "Where the c=8 tail comes from"). Pausing between page writes cuts
// that wait to one writer turn, as the rows between commits already are (TurnPacer).
//
// Pausing inside a transaction holds its write lock longer (on a saturated core, a commit of a
// batch can take tens of ms instead of a few). In WAL mode readers never wait for it; the
// other writers of a store file (the reader's read-write connection: review labels, leader
// lease renewals, API keys, config versions, SLO and knob events; `triage` maintenance) and an
// outside checkpoint wait under their busy timeout (5 s), as they do for any batch.
//
// Threading: the hook is thread-local; the VFS itself is registered once and is safe from any
// thread.
#include <functional>

namespace triage::telemetry::sqlite {

// Registers the VFS (once, without making it the default) and returns its name, for
// sqlite3_open_v2. Throws std::runtime_error when SQLite refuses it.
const char* paced_vfs_name();

// While alive, the calling thread's writes through the paced VFS call `pause` after each
// xWrite. Scopes nest: an inner scope's hook replaces the outer one's until it ends. `pause`
// must not throw (it runs inside SQLite's C frames).
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
