#include "common/background_thread.h"

#include <linux/sched.h>
#include <linux/sched/types.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace triage {

namespace {
constexpr int kBackgroundNice = 10;
}

BackgroundSchedule make_current_thread_background() {
  BackgroundSchedule applied;
  prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
  // glibc 2.36 has no sched_setattr wrapper. For SCHED_OTHER, sched_runtime is the custom
  // slice (Linux 6.12+, clamped to 0.1..100 ms); earlier kernels accept and ignore it.
  sched_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.sched_policy = SCHED_NORMAL;
  // Never above the thread's current nice (a process started under `nice 15` stays there).
  errno = 0;
  const int current = getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)));
  const int target = errno == 0 && current > kBackgroundNice ? current : kBackgroundNice;
  attr.sched_nice = target;
  attr.sched_runtime = kBackgroundSliceNs;
  if (syscall(SYS_sched_setattr, 0, &attr, 0u) == 0) {
    applied.nice_applied = true;
    applied.slice_applied = current_thread_slice_ns() == kBackgroundSliceNs;
    return applied;
  }
  applied.nice_applied =
      setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), target) == 0;
  return applied;
}

unsigned long long current_thread_slice_ns() {
  sched_attr now;
  std::memset(&now, 0, sizeof now);
  if (syscall(SYS_sched_getattr, 0, &now, static_cast<unsigned>(sizeof now), 0u) != 0) return 0;
  return now.sched_runtime;
}

namespace {
long long monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<long long>(ts.tv_sec) * 1'000'000'000LL + ts.tv_nsec;
}
}  // namespace

void TurnPacer::start_turn() { turn_start_ns_ = monotonic_ns(); }

void TurnPacer::between_units() {
  if (monotonic_ns() - turn_start_ns_ < kTurnNs) return;
  const timespec pause{0, kPauseNs};
  nanosleep(&pause, nullptr);
  turn_start_ns_ = monotonic_ns();
}

}  // namespace triage
