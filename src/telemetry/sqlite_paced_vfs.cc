#include "telemetry/sqlite_paced_vfs.h"

#include <sqlite3.h>

#include <mutex>
#include <stdexcept>
#include <string>

namespace triage::telemetry::sqlite {

namespace {

constexpr char kVfsName[] = "triage-paced";

thread_local const std::function<void()>* t_pause = nullptr;

// A file of the paced VFS: the default VFS's file follows it in the same allocation
// (szOsFile covers both).
struct PacedFile {
  sqlite3_file base;
  sqlite3_file* real;
};

sqlite3_vfs* root_vfs = nullptr;  // the default VFS when this one was registered
sqlite3_vfs paced_vfs{};

sqlite3_file* real_of(sqlite3_file* f) { return reinterpret_cast<PacedFile*>(f)->real; }

int paced_close(sqlite3_file* f) { return real_of(f)->pMethods->xClose(real_of(f)); }
int paced_read(sqlite3_file* f, void* out, int n, sqlite3_int64 offset) {
  return real_of(f)->pMethods->xRead(real_of(f), out, n, offset);
}
int paced_write(sqlite3_file* f, const void* in, int n, sqlite3_int64 offset) {
  const int rc = real_of(f)->pMethods->xWrite(real_of(f), in, n, offset);
  if (t_pause != nullptr && *t_pause) (*t_pause)();
  return rc;
}
int paced_truncate(sqlite3_file* f, sqlite3_int64 size) {
  return real_of(f)->pMethods->xTruncate(real_of(f), size);
}
int paced_sync(sqlite3_file* f, int flags) { return real_of(f)->pMethods->xSync(real_of(f), flags); }
int paced_file_size(sqlite3_file* f, sqlite3_int64* size) {
  return real_of(f)->pMethods->xFileSize(real_of(f), size);
}
int paced_lock(sqlite3_file* f, int level) { return real_of(f)->pMethods->xLock(real_of(f), level); }
int paced_unlock(sqlite3_file* f, int level) {
  return real_of(f)->pMethods->xUnlock(real_of(f), level);
}
int paced_check_reserved(sqlite3_file* f, int* out) {
  return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}
int paced_file_control(sqlite3_file* f, int op, void* arg) {
  return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}
int paced_sector_size(sqlite3_file* f) { return real_of(f)->pMethods->xSectorSize(real_of(f)); }
int paced_device(sqlite3_file* f) {
  return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}
// Version 2 and 3 methods: the WAL index (shared memory) and memory-mapped reads. Only called
// when the default VFS's file offers them (paced_open copies its version).
int paced_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return real_of(f)->pMethods->xShmMap(real_of(f), region, size, extend, out);
}
int paced_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}
void paced_shm_barrier(sqlite3_file* f) { real_of(f)->pMethods->xShmBarrier(real_of(f)); }
int paced_shm_unmap(sqlite3_file* f, int delete_flag) {
  return real_of(f)->pMethods->xShmUnmap(real_of(f), delete_flag);
}
int paced_fetch(sqlite3_file* f, sqlite3_int64 offset, int n, void** out) {
  return real_of(f)->pMethods->xFetch(real_of(f), offset, n, out);
}
int paced_unfetch(sqlite3_file* f, sqlite3_int64 offset, void* p) {
  return real_of(f)->pMethods->xUnfetch(real_of(f), offset, p);
}

// One table per version the default VFS may hand out, so that SQLite never calls a method
// the file under it lacks.
sqlite3_io_methods io_methods(int version) {
  sqlite3_io_methods m{};
  m.iVersion = version;
  m.xClose = paced_close;
  m.xRead = paced_read;
  m.xWrite = paced_write;
  m.xTruncate = paced_truncate;
  m.xSync = paced_sync;
  m.xFileSize = paced_file_size;
  m.xLock = paced_lock;
  m.xUnlock = paced_unlock;
  m.xCheckReservedLock = paced_check_reserved;
  m.xFileControl = paced_file_control;
  m.xSectorSize = paced_sector_size;
  m.xDeviceCharacteristics = paced_device;
  if (version >= 2) {
    m.xShmMap = paced_shm_map;
    m.xShmLock = paced_shm_lock;
    m.xShmBarrier = paced_shm_barrier;
    m.xShmUnmap = paced_shm_unmap;
  }
  if (version >= 3) {
    m.xFetch = paced_fetch;
    m.xUnfetch = paced_unfetch;
  }
  return m;
}
const sqlite3_io_methods kMethods[] = {io_methods(1), io_methods(2), io_methods(3)};

int paced_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  auto* p = reinterpret_cast<PacedFile*>(f);
  p->real = reinterpret_cast<sqlite3_file*>(p + 1);
  const int rc = root_vfs->xOpen(root_vfs, name, p->real, flags, out_flags);
  // SQLite calls xClose exactly when pMethods is set, so it mirrors the file under it.
  const sqlite3_io_methods* real = p->real->pMethods;
  if (real == nullptr) {
    p->base.pMethods = nullptr;
  } else {
    const int version = real->iVersion < 1 ? 1 : (real->iVersion > 3 ? 3 : real->iVersion);
    p->base.pMethods = &kMethods[version - 1];
  }
  return rc;
}

// The VFS-level calls are the default VFS's own.
int paced_delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return root_vfs->xDelete(root_vfs, name, sync_dir);
}
int paced_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return root_vfs->xAccess(root_vfs, name, flags, out);
}
int paced_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return root_vfs->xFullPathname(root_vfs, name, n, out);
}
void* paced_dl_open(sqlite3_vfs*, const char* name) { return root_vfs->xDlOpen(root_vfs, name); }
void paced_dl_error(sqlite3_vfs*, int n, char* out) { root_vfs->xDlError(root_vfs, n, out); }
void (*paced_dl_sym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
  return root_vfs->xDlSym(root_vfs, handle, symbol);
}
void paced_dl_close(sqlite3_vfs*, void* handle) { root_vfs->xDlClose(root_vfs, handle); }
int paced_randomness(sqlite3_vfs*, int n, char* out) {
  return root_vfs->xRandomness(root_vfs, n, out);
}
int paced_sleep(sqlite3_vfs*, int us) { return root_vfs->xSleep(root_vfs, us); }
int paced_current_time(sqlite3_vfs*, double* out) { return root_vfs->xCurrentTime(root_vfs, out); }
int paced_last_error(sqlite3_vfs*, int n, char* out) {
  return root_vfs->xGetLastError(root_vfs, n, out);
}
int paced_current_time64(sqlite3_vfs*, sqlite3_int64* out) {
  return root_vfs->xCurrentTimeInt64(root_vfs, out);
}
int paced_set_syscall(sqlite3_vfs*, const char* name, sqlite3_syscall_ptr p) {
  return root_vfs->xSetSystemCall(root_vfs, name, p);
}
sqlite3_syscall_ptr paced_get_syscall(sqlite3_vfs*, const char* name) {
  return root_vfs->xGetSystemCall(root_vfs, name);
}
const char* paced_next_syscall(sqlite3_vfs*, const char* name) {
  return root_vfs->xNextSystemCall(root_vfs, name);
}

void register_paced_vfs() {
  root_vfs = sqlite3_vfs_find(nullptr);
  if (root_vfs == nullptr) throw std::runtime_error("SQLite has no default VFS");
  sqlite3_vfs& v = paced_vfs;
  // The default VFS's version: only the calls it has are offered.
  v.iVersion = root_vfs->iVersion < 3 ? root_vfs->iVersion : 3;
  v.szOsFile = static_cast<int>(sizeof(PacedFile)) + root_vfs->szOsFile;
  v.mxPathname = root_vfs->mxPathname;
  v.zName = kVfsName;
  v.xOpen = paced_open;
  v.xDelete = paced_delete;
  v.xAccess = paced_access;
  v.xFullPathname = paced_full_pathname;
  v.xDlOpen = paced_dl_open;
  v.xDlError = paced_dl_error;
  v.xDlSym = paced_dl_sym;
  v.xDlClose = paced_dl_close;
  v.xRandomness = paced_randomness;
  v.xSleep = paced_sleep;
  v.xCurrentTime = paced_current_time;
  v.xGetLastError = paced_last_error;
  if (v.iVersion >= 2) v.xCurrentTimeInt64 = paced_current_time64;
  if (v.iVersion >= 3) {
    v.xSetSystemCall = paced_set_syscall;
    v.xGetSystemCall = paced_get_syscall;
    v.xNextSystemCall = paced_next_syscall;
  }
  if (const int rc = sqlite3_vfs_register(&v, /*makeDflt=*/0); rc != SQLITE_OK) {
    throw std::runtime_error(std::string("cannot register the SQLite VFS ") + kVfsName + ": " +
                             sqlite3_errstr(rc));
  }
}

}  // namespace

const char* paced_vfs_name() {
  static std::once_flag once;
  std::call_once(once, register_paced_vfs);
  return kVfsName;
}

PacedWritesScope::PacedWritesScope(std::function<void()> pause)
    : pause_(std::move(pause)), outer_(t_pause) {
  t_pause = &pause_;
}

PacedWritesScope::~PacedWritesScope() { t_pause = outer_; }

}  // namespace triage::telemetry::sqlite
