#include "services/scheduler/metrics_sampler.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "services/scheduler/run_store.h"

namespace rostersync::scheduler {

MetricsSampler::MetricsSampler(PgPool* pool, RedisOptions redis, SchedulerMetrics* metrics,
                               absl::Duration interval)
    : pool_(pool), redis_(std::move(redis)), metrics_(metrics), interval_(interval) {}

MetricsSampler::~MetricsSampler() { Stop(); }

void MetricsSampler::Start() {
  if (thread_ == nullptr) {
    thread_ = std::make_unique<PeriodicThread>([this] {
      SampleOnce();
      return interval_;
    });
  }
  thread_->Start();
}

void MetricsSampler::Stop() {
  if (thread_ != nullptr) thread_->Stop();
}

void MetricsSampler::SampleOnce() {
  bool redis_ok = true;
  for (const char* stream : {kTransferJobsStream, kRosterJobsStream, kEventsStream}) {
    auto len = StreamLength(redis_, stream);
    if (!len.ok()) {
      if (!redis_failing_) {
        log::Warn(absl::StrCat("queue length sampling failed: ", len.status().message()));
      }
      redis_ok = false;
      break;
    }
    metrics_->SetQueueLength(stream, *len);
  }
  redis_failing_ = !redis_ok;
  int64_t pending = 0;
  int64_t in_progress = 0;
  absl::Status status = pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    ASSIGN_OR_RETURN(pending, Outbox::CountPending(txn));
    ASSIGN_OR_RETURN(in_progress, RunStore::CountInProgress(txn));
    return absl::OkStatus();
  });
  if (!status.ok()) {
    log::Warn(absl::StrCat("run metrics sampling failed: ", status.message()));
    return;
  }
  metrics_->SetOutboxPending(pending);
  metrics_->SetRunsInProgress(in_progress);
}

}  // namespace rostersync::scheduler
