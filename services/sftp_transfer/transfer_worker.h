#pragma once

// Handles TransferJobs from the "rostersync:jobs:transfer" stream.
//  OP_FETCH:  list remote_folder, pick the newest regular file matching file_glob that is not a
//             dot-file or a partial upload (.part/.filepart/.tmp) and is not in the ledger by
//             (path, size, mtime); stream it into the archive (kind SOURCE); record it;
//             publish FETCHED{file_id, remote_path, bytes}, or NO_NEW_FILE.
//  OP_UPLOAD: stream an archived file to remote_folder/remote_name (temp name, rename, size
//             check); publish UPLOADED{remote_path, bytes}.
// Idempotent by job_id: a job already done re-publishes the stored event. Permanent failures
// (bad job, credentials, host key, auth, missing folder) publish FAILED and return OK;
// transient ones (network, archive or database down) return the error for redelivery.
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/archive_client.h"
#include "common/redis_queue.h"
#include "common/sealing.h"
#include "rostersync/v1/jobs.pb.h"
#include "services/sftp_transfer/sftp_client.h"
#include "services/sftp_transfer/transfer_ledger.h"

namespace rostersync::transfer {

// True for names the fetcher must never pick: dot-files and partial uploads.
bool IsIgnoredRemoteName(const std::string& name);

// Candidates for a fetch, newest first (ties: name descending): regular files matching
// `glob` (fnmatch) that are not ignored.
std::vector<RemoteEntry> FetchCandidates(const std::vector<RemoteEntry>& entries,
                                         const std::string& glob);

class TransferWorker {
 public:
  TransferWorker(SftpConnector* connector, Archive* archive, Publisher* publisher,
                 TransferLedger* ledger, const Sealer* sealer);

  // For StreamConsumer: decodes the payload and handles the job. A payload that cannot be
  // decoded returns INVALID_ARGUMENT (it ends in the dead-letter stream).
  absl::Status HandleDelivery(const Delivery& delivery);
  absl::Status Handle(const v1::TransferJob& job);

 private:
  // A finished job: record the event (with the processed file), then publish it.
  absl::Status Finish(const v1::TransferJob& job, v1::RunEvent event,
                      const std::optional<ProcessedFile>& file);
  absl::Status Failed(const v1::TransferJob& job, const absl::Status& cause);
  // Permanent -> FAILED event + OK; transient -> returned for redelivery.
  absl::Status Classify(const v1::TransferJob& job, const absl::Status& status);
  absl::Status Fetch(const v1::TransferJob& job, SftpSession& session);
  absl::Status Upload(const v1::TransferJob& job, SftpSession& session);

  SftpConnector* connector_;
  Archive* archive_;
  Publisher* publisher_;
  TransferLedger* ledger_;
  const Sealer* sealer_;
};

// "<job_id>:<TYPE_NAME>" and the common fields of an event for `job`.
v1::RunEvent NewEvent(const v1::TransferJob& job, v1::RunEvent::Type type);

}  // namespace rostersync::transfer
