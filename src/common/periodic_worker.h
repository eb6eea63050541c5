#pragma once
// A thread that runs a task, waits an interval, and runs it again until stop(): the SLO
// controller's and the rollouts' evaluation loops. The interval is asked again after every
// run, so a reload that changes it takes effect at the next wait. A task that throws is
// logged and the loop goes on (a bug must not stop the evaluations).
//
// Threading: start() and stop() from any thread; `task` and `interval_ms` run on the worker's
// own thread only. stop() is idempotent, wakes a waiting worker at once and joins it.
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace triage {

class PeriodicWorker {
 public:
  // `name` is for the log line of a throwing task.
  PeriodicWorker(std::string name, std::function<void()> task,
                 std::function<int64_t()> interval_ms)
      : name_(std::move(name)), task_(std::move(task)), interval_ms_(std::move(interval_ms)) {}
  ~PeriodicWorker() { stop(); }
  PeriodicWorker(const PeriodicWorker&) = delete;
  PeriodicWorker& operator=(const PeriodicWorker&) = delete;

  // Starts the thread (once; later calls, and calls after stop(), do nothing). With
  // `run_first`, the task runs at once, else after the first interval.
  void start(bool run_first);
  void stop();

 private:
  void loop(bool run_first);
  void run_task();

  const std::string name_;
  const std::function<void()> task_;
  const std::function<int64_t()> interval_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;     // started under mu_
};

}  // namespace triage
