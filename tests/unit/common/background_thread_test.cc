#include "common/background_thread.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

namespace triage {
namespace {

bool kernel_at_least(int major, int minor) {
  utsname u{};
  if (uname(&u) != 0) return false;
  int ma = 0, mi = 0;
  if (std::sscanf(u.release, "%d.%d", &ma, &mi) != 2) return false;
  return ma > major || (ma == major && mi >= minor);
}

TEST(BackgroundThread, LowersNiceAndShortensTheSliceOfItsOwnThreadOnly) {
  const int nice_before = getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)));
  BackgroundSchedule applied;
  int nice_seen = 0;
  unsigned long long slice_seen = 0;
  char name_seen[32] = {};
  std::thread t([&] {
    applied = make_current_thread_background("a-name-longer-than-15-bytes");
    nice_seen = getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)));
    slice_seen = current_thread_slice_ns();
    pthread_getname_np(pthread_self(), name_seen, sizeof name_seen);
  });
  t.join();
  EXPECT_STREQ(name_seen, "a-name-longer-t");  // the kernel keeps 15 bytes
  EXPECT_TRUE(applied.nice_applied);
  EXPECT_EQ(nice_seen, nice_before > kBackgroundNice ? nice_before : kBackgroundNice);
  // Custom slices for SCHED_OTHER exist from Linux 6.12 (the benchmark machines run 6.18).
  if (kernel_at_least(6, 12)) {
    EXPECT_TRUE(applied.slice_applied);
    EXPECT_EQ(slice_seen, kBackgroundSliceNs);
  }
  // The calling thread is untouched.
  EXPECT_EQ(getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid))), nice_before);
}

TEST(BackgroundThread, APacerSleepsOnlyOnceATurnIsOver) {
  // What the pacer decides is checked against the time that had passed, so a preemption of
  // this thread (a loaded CI machine) changes the expected answer instead of failing the test.
  using Clock = std::chrono::steady_clock;
  const auto turn = std::chrono::nanoseconds(TurnPacer::kTurnNs);
  TurnPacer pacer;
  const auto t0 = Clock::now();  // before the turn starts: a bound of its length
  pacer.start_turn();
  // Within a turn: no pause. (1,000 calls took over a turn under TSan, whose clock reads cost
  // ~0.7 us, and then paused as they should.)
  for (int i = 0; i < 10; ++i) {
    if (pacer.between_units()) {
      EXPECT_GE(Clock::now() - t0, turn) << "paused within a turn, call " << i;
      break;
    }
  }
  // Past the turn: the next call pauses (at least kPauseNs) and starts a new turn.
  pacer.start_turn();
  std::this_thread::sleep_for(turn);
  const auto t1 = Clock::now();
  EXPECT_EQ(pacer.between_units(), TurnPacer::kPauseNs);
  EXPECT_GE(Clock::now() - t1, std::chrono::nanoseconds(TurnPacer::kPauseNs));
  // The new turn began after t1: no pause, unless this thread lost the CPU for a whole turn.
  if (pacer.between_units()) {
    EXPECT_GE(Clock::now() - t1, turn) << "paused again at the start of a new turn";
  }
}

// The pause that ends a turn is four turns long, so that the turns of a thread sharing a busy
// core do not run back to back; a thread that is behind on its work pauses briefly instead.
TEST(BackgroundThread, APacerPausesLongUnlessBehind) {
  static_assert(TurnPacer::kPauseNs >= 4 * TurnPacer::kTurnNs);
  static_assert(TurnPacer::kCatchUpPauseNs < TurnPacer::kTurnNs);
  const auto turn = std::chrono::nanoseconds(TurnPacer::kTurnNs);
  TurnPacer pacer;
  pacer.start_turn();
  std::this_thread::sleep_for(turn);
  EXPECT_EQ(pacer.between_units(/*behind=*/true), TurnPacer::kCatchUpPauseNs);
  std::this_thread::sleep_for(turn);
  EXPECT_EQ(pacer.between_units(/*behind=*/false), TurnPacer::kPauseNs);
}

// The CPU the test started on, kept busy by a thread that never sleeps (an I/O thread at
// saturation); the test's own threads join it with pin(). Stops and joins its spinner when
// destroyed.
class BusyCpu {
 public:
  BusyCpu() {
    CPU_ZERO(&cpu_);
    CPU_SET(sched_getcpu(), &cpu_);
    spinner_ = std::thread([this] {
      pin();
      while (!stop_.load(std::memory_order_relaxed)) {
      }
    });
  }
  ~BusyCpu() { stop(); }
  BusyCpu(const BusyCpu&) = delete;
  BusyCpu& operator=(const BusyCpu&) = delete;

  // Moves the calling thread onto the busy CPU.
  void pin() {
    if (pthread_setaffinity_np(pthread_self(), sizeof cpu_, &cpu_) != 0) pinned_ = false;
  }
  // False when a thread could not be pinned (the test should skip).
  bool pinned() const { return pinned_; }
  // CPU seconds the spinner has used so far.
  double spinner_cpu_seconds() { return thread_cpu_seconds(spinner_.native_handle()); }
  void stop() {
    stop_ = true;
    if (spinner_.joinable()) spinner_.join();
  }

  // CPU time of a thread, in seconds.
  static double thread_cpu_seconds(pthread_t thread) {
    clockid_t clock;
    timespec ts{};
    if (pthread_getcpuclockid(thread, &clock) != 0 || clock_gettime(clock, &ts) != 0) return 0;
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  }

 private:
  cpu_set_t cpu_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> pinned_{true};
  std::thread spinner_;
};

// Sharing one CPU with a thread that never sleeps, a background thread is owed less than it
// asks for, so its pauses end late; from then on it pauses long even when behind, since short
// pauses would only chain its turns into longer stalls of the other thread, unless it is far
// behind.
TEST(BackgroundThread, APacerThatWakesLateKeepsLongPausesWhenBehind) {
  BusyCpu cpu;
  int pauses = 0;
  int long_while_behind = 0;
  long long far_behind_pause = 0;
  std::thread background([&] {
    cpu.pin();
    make_current_thread_background("pacer-test");
    TurnPacer pacer;
    pacer.start_turn();
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (long_while_behind == 0 && std::chrono::steady_clock::now() < end) {
      const long long pause = pacer.between_units(/*behind=*/true);  // busy between pauses
      if (pause != 0) ++pauses;
      if (pause == TurnPacer::kPauseNs) ++long_while_behind;
    }
    // Contended, but far behind (work about to be dropped): brief pauses all the same.
    while (far_behind_pause == 0 && std::chrono::steady_clock::now() < end) {
      far_behind_pause = pacer.between_units(/*behind=*/true, /*far_behind=*/true);
    }
  });
  background.join();
  cpu.stop();
  if (!cpu.pinned()) GTEST_SKIP() << "cannot pin two threads to one CPU here";
  EXPECT_GT(pauses, 0);
  EXPECT_GT(long_while_behind, 0) << pauses << " pauses while behind, every one short";
  EXPECT_EQ(far_behind_pause, TurnPacer::kCatchUpPauseNs);
}

// The store writer needs ~14% of a core its I/O thread saturates, or its queue fills and rows
// are dropped: a background thread sharing one CPU with a thread that never sleeps must get
// more than that (about 25% at nice 5; nice 10 gave it 9.7%).
TEST(BackgroundThread, GetsTheShareOfABusyCoreThatTheStoreWriterNeeds) {
  BusyCpu cpu;
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    cpu.pin();
    make_current_thread_background("share-test");
    while (!stop.load(std::memory_order_relaxed)) {
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const double io_s = cpu.spinner_cpu_seconds();
  const double writer_s = BusyCpu::thread_cpu_seconds(writer.native_handle());
  stop = true;
  writer.join();
  cpu.stop();
  if (!cpu.pinned()) GTEST_SKIP() << "cannot pin two threads to one CPU here";
  ASSERT_GT(io_s + writer_s, 0.3) << "the two threads hardly ran";
  EXPECT_GT(writer_s / (io_s + writer_s), 0.14)
      << "background " << writer_s << " s of CPU against " << io_s << " s";
}

}  // namespace
}  // namespace triage
