#pragma once

// A background thread that calls `step` until stopped; `step` returns how long to wait
// before the next call. Stop() interrupts the wait and joins.
#include <functional>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace rostersync::scheduler {

class PeriodicThread {
 public:
  using Step = std::function<absl::Duration()>;
  explicit PeriodicThread(Step step) : step_(std::move(step)) {}
  ~PeriodicThread() { Stop(); }
  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;

  void Start() {
    absl::MutexLock lock(&mu_);
    if (thread_.joinable()) return;
    stop_ = false;
    thread_ = std::thread([this] { Loop(); });
  }

  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  }

 private:
  void Loop() {
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        if (stop_) return;
      }
      absl::Duration wait = step_();
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stop_), wait);
      if (stop_) return;
    }
  }

  Step step_;
  absl::Mutex mu_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace rostersync::scheduler
