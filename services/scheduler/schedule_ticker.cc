#include "services/scheduler/schedule_ticker.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace rostersync::scheduler {

ScheduleTicker::ScheduleTicker(RunOrchestrator* orchestrator, absl::Duration interval)
    : orchestrator_(orchestrator), interval_(interval) {}

ScheduleTicker::~ScheduleTicker() { Stop(); }

void ScheduleTicker::Start() {
  if (thread_ == nullptr) thread_ = std::make_unique<PeriodicThread>([this] { return Step(); });
  thread_->Start();
}

void ScheduleTicker::Stop() {
  if (thread_ != nullptr) thread_->Stop();
}

absl::Duration ScheduleTicker::Step() {
  auto created = orchestrator_->TickOnce();
  if (!created.ok()) {
    log::Warn(absl::StrCat("schedule tick failed: ", created.status().message()));
  }
  return interval_;
}

}  // namespace rostersync::scheduler
