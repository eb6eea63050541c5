#include "common/background_thread.h"

#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <ctime>

namespace triage {

namespace {

// The kernel's struct sched_attr (SCHED_ATTR_SIZE_VER1, 56 bytes), declared here because
// <linux/sched/types.h> clashes with glibc's <sched.h>, which spdlog pulls in; glibc 2.36 has no
// sched_setattr wrapper.
struct KernelSchedAttr {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime;  // SCHED_OTHER: the custom slice (Linux 6.12+)
  uint64_t sched_deadline;
  uint64_t sched_period;
  uint32_t sched_util_min;
  uint32_t sched_util_max;
};
static_assert(sizeof(KernelSchedAttr) == 56);

BackgroundSchedule apply_background_schedule() {
  BackgroundSchedule applied;
  prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
  // glibc 2.36 has no sched_setattr wrapper. For SCHED_OTHER, sched_runtime is the custom
  // slice (Linux 6.12+, clamped to 0.1..100 ms); earlier kernels accept and ignore it.
  KernelSchedAttr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.sched_policy = SCHED_OTHER;
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

}  // namespace

BackgroundSchedule make_current_thread_background(std::string_view name) {
  const std::string thread_name(name.substr(0, 15));
  prctl(PR_SET_NAME, thread_name.c_str(), 0UL, 0UL, 0UL);  // the calling thread's name
  const BackgroundSchedule applied = apply_background_schedule();
  spdlog::debug("background thread {}: nice {}, scheduler slice {}", thread_name,
                applied.nice_applied ? "lowered (" + std::to_string(kBackgroundNice) + " or more)"
                                     : std::string("unchanged (refused)"),
                applied.slice_applied ? "100 us"
                                      : "the kernel's default (custom slices need Linux 6.12)");
  return applied;
}

unsigned long long current_thread_slice_ns() {
  KernelSchedAttr now;
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

long long TurnPacer::between_units(bool behind, bool far_behind) {
  const long long now = monotonic_ns();
  if (now - turn_start_ns_ < kTurnNs) return 0;
  const bool catch_up = far_behind || (behind && now >= contended_until_);
  const long long pause_ns = catch_up ? kCatchUpPauseNs : kPauseNs;
  const timespec pause{0, pause_ns};
  nanosleep(&pause, nullptr);
  const long long woke = monotonic_ns();
  if (woke - now - pause_ns > kLateWakeNs) contended_until_ = woke + kContendedNs;
  turn_start_ns_ = woke;
  return pause_ns;
}

}  // namespace triage
