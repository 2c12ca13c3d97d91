#include "services/scheduler/outbox_relay.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "services/scheduler/run_store.h"

namespace rostersync::scheduler {

OutboxRelay::OutboxRelay(PgPool* pool, Publisher* publisher, Clock* clock,
                         OutboxRelayOptions options)
    : pool_(pool),
      publisher_(publisher),
      clock_(clock),
      options_(options),
      backoff_(options.backoff_initial) {}

OutboxRelay::~OutboxRelay() { Stop(); }

void OutboxRelay::Start() {
  if (thread_ == nullptr) thread_ = std::make_unique<PeriodicThread>([this] { return Step(); });
  thread_->Start();
}

void OutboxRelay::Stop() {
  if (thread_ != nullptr) thread_->Stop();
}

absl::StatusOr<int> OutboxRelay::RelayOnce() {
  int published = 0;
  absl::Status publish_error;
  RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    published = 0;
    publish_error = absl::OkStatus();
    ASSIGN_OR_RETURN(std::vector<Outbox::Entry> entries,
                     Outbox::LockUnsent(txn, options_.batch_size, clock_->Now()));
    std::vector<int64_t> sent;
    for (const Outbox::Entry& e : entries) {
      auto id = publisher_->Publish(e.stream, e.payload);
      if (!id.ok()) {
        publish_error = absl::UnavailableError(absl::StrCat(
            "outbox: publishing entry ", e.id, " to ", e.stream, ": ", id.status().message()));
        break;  // keep id order: later rows wait for this one
      }
      sent.push_back(e.id);
    }
    RETURN_IF_ERROR(Outbox::MarkSent(txn, sent, clock_->Now()));
    published = static_cast<int>(sent.size());
    return absl::OkStatus();
  }));
  if (!publish_error.ok()) return publish_error;
  return published;
}

absl::Duration OutboxRelay::Step() {
  auto published = RelayOnce();
  if (!published.ok()) {
    log::Warn(absl::StrCat("outbox relay: ", published.status().message(), "; retrying in ",
                           absl::FormatDuration(backoff_)));
    failing_ = true;
    absl::Duration wait = backoff_;
    backoff_ = std::min(backoff_ * 2, options_.backoff_max);
    return wait;
  }
  if (failing_) {
    log::Info("outbox relay: publishing again");
    failing_ = false;
  }
  backoff_ = options_.backoff_initial;
  if (*published > 0) {
    log::Debug("outbox relay: published", {{"count", absl::StrCat(*published)}});
  }
  return *published >= options_.batch_size ? absl::ZeroDuration() : options_.poll_interval;
}

}  // namespace rostersync::scheduler
