#pragma once

// Calls RunOrchestrator::TickOnce() every `interval` on a background thread: scheduled
// integrations whose next_run_at has come get their run (once, even with two replicas).
#include <memory>

#include "absl/time/time.h"
#include "services/scheduler/periodic_thread.h"
#include "services/scheduler/run_orchestrator.h"

namespace rostersync::scheduler {

class ScheduleTicker {
 public:
  ScheduleTicker(RunOrchestrator* orchestrator, absl::Duration interval);
  ~ScheduleTicker();
  void Start();
  void Stop();

 private:
  absl::Duration Step();
  RunOrchestrator* orchestrator_;
  absl::Duration interval_;
  std::unique_ptr<PeriodicThread> thread_;
};

}  // namespace rostersync::scheduler
