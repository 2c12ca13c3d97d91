#pragma once

// Consumes RosterJob entries from kRosterJobsStream (consumer group "roster"):
//   OP_IMPORT -> RunEvent TYPE_IMPORTED (import summary) or TYPE_IMPORT_REJECTED
//   OP_EXPORT -> RunEvent TYPE_RENDERED (file_id)
// and publishes the event to kEventsStream with event_id "<job_id>:<type name>". Jobs are
// idempotent by job_id: a redelivered job re-publishes the same event. Permanent failures
// publish TYPE_FAILED and return OK (ack); transient ones (UNAVAILABLE, ABORTED) return the
// error so the entry is redelivered.
#include "absl/status/status.h"
#include "common/redis_queue.h"
#include "rostersync/v1/jobs.pb.h"
#include "services/roster/exporter.h"
#include "services/roster/importer.h"

namespace rostersync::roster {

class RosterWorker {
 public:
  RosterWorker(Importer& importer, Exporter& exporter, Publisher& publisher)
      : importer_(importer), exporter_(exporter), publisher_(publisher) {}

  absl::Status Handle(const Delivery& delivery);
  absl::Status HandleJob(const v1::RosterJob& job);

 private:
  absl::Status Publish(const v1::RosterJob& job, v1::RunEvent event);
  absl::Status Fail(const v1::RosterJob& job, const absl::Status& error);

  Importer& importer_;
  Exporter& exporter_;
  Publisher& publisher_;
};

}  // namespace rostersync::roster
