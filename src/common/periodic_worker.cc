#include "common/periodic_worker.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <exception>

#include "common/background_thread.h"

namespace triage {

void PeriodicWorker::start(bool run_first) {
  std::lock_guard lk(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this, run_first] { loop(run_first); });
}

void PeriodicWorker::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PeriodicWorker::run_task() {
  try {
    task_();
  } catch (const std::exception& e) {
    spdlog::error("{}: evaluation failed with an exception: {}", name_, e.what());
  }
}

void PeriodicWorker::loop(bool run_first) {
  // An evaluation reads the store: never in a request's turn.
  make_current_thread_background(name_);
  if (run_first) run_task();
  std::unique_lock lk(mu_);
  while (!stopping_) {
    lk.unlock();
    const int64_t wait_ms = interval_ms_();
    lk.lock();
    cv_.wait_for(lk, std::chrono::milliseconds(wait_ms), [this] { return stopping_; });
    if (stopping_) break;
    lk.unlock();
    run_task();
    lk.lock();
  }
}

}  // namespace triage
