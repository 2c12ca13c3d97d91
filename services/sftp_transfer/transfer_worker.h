#pragma once

// Handles TransferJobs from the "rostersync:jobs:transfer" stream.
//  OP_FETCH:  list remote_folder, pick the newest (or, with ORDER_OLDEST_FIRST, the oldest)
//             regular file matching file_glob that is not a dot-file or a partial upload
//             (.part/.filepart/.tmp), is old enough (min_age_s), has its .done marker (when
//             configured), kept its size and mtime across two listings stability_interval_ms
//             apart, and is not in the ledger by (path, size, mtime); stream it into the
//             archive (kind SOURCE) while hashing it; if its SHA-256 is already in the ledger
//             for the integration the archive upload is abandoned, the file is recorded as a
//             duplicate and left in place, and the next candidate is tried; otherwise record
//             it, move/delete it (and its marker) as after_fetch says, and publish
//             FETCHED{file_id, remote_path, bytes}, or NO_NEW_FILE (with a note).
//  OP_UPLOAD: stream an archived file to remote_folder/remote_name (date placeholders such as
//             {yyyyMMdd} rendered in the job's time zone; temp name, rename, size check);
//             publish UPLOADED{remote_path, bytes}.
// Transient failures (network, a dropped connection) are retried within the job with
// exponential backoff and jitter, on a fresh connection, up to RetryPolicy::max_attempts; a
// partial download is never handed over (the archive upload is abandoned) and a partial
// upload only ever sits under the temp name.
// Every event of a job that connected (FETCHED, NO_NEW_FILE, UPLOADED) carries the host key
// the server presented (host_key_type, host_key_sha256): with trust on first use and no pin,
// the key to pin.
// Idempotent by job_id: a job already done re-publishes the stored event. Permanent failures
// (bad job, credentials, host key, auth, missing folder) publish FAILED and return OK;
// transient ones (network, archive or database down) return the error for redelivery.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
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

// Candidates ordered by `order` (newest first by default; ORDER_OLDEST_FIRST: oldest first,
// ties by name ascending), without names ending in the .done marker suffix, without files
// younger than min_age_s at `now` and, when a marker suffix is set, without files whose marker
// is not listed. Stability (two listings) is checked by the worker.
std::vector<RemoteEntry> SelectFetchCandidates(const std::vector<RemoteEntry>& entries,
                                               const std::string& glob,
                                               const v1::FetchOptions& options, absl::Time now);

// Renders the date placeholders of a remote file name: every "{...}" group is a date pattern
// of yyyy, yy, MM, dd, HH, mm, ss and literal separators (-_.), e.g. "roster_{yyyyMMdd}.csv"
// -> "roster_20261121.csv", at `now` in the IANA `time_zone` ("" = UTC).
absl::StatusOr<std::string> RenderDatedName(const std::string& name, const std::string& time_zone,
                                            absl::Time now);

struct RetryPolicy {
  int max_attempts = 4;  // in all, the first one included
  absl::Duration initial_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Seconds(30);
};

// The wait before retry number `retry` (1 for the first retry): min(max, initial * 2^(retry-1))
// scaled by `jitter` in [0, 1] to between half and all of it.
absl::Duration RetryBackoff(const RetryPolicy& policy, int retry, double jitter);

struct WorkerOptions {
  RetryPolicy retry;
  std::function<void(absl::Duration)> sleep = [](absl::Duration d) { absl::SleepFor(d); };
  std::function<absl::Time()> now = [] { return absl::Now(); };
};

class TransferWorker {
 public:
  TransferWorker(SftpConnector* connector, Archive* archive, Publisher* publisher,
                 TransferLedger* ledger, const Sealer* sealer,
                 WorkerOptions options = WorkerOptions());

  // For StreamConsumer: decodes the payload and handles the job. A payload that cannot be
  // decoded returns INVALID_ARGUMENT (it ends in the dead-letter stream).
  absl::Status HandleDelivery(const Delivery& delivery);
  absl::Status Handle(const v1::TransferJob& job);

 private:
  struct Outcome {
    v1::RunEvent event;
    std::optional<ProcessedFile> file;
    std::string fetched_name;  // OP_FETCH with a file: its name in remote_folder
  };
  // A finished job: record the event (with the processed file), run `after_record` (only when
  // this delivery's result is the one on record), then publish the event.
  absl::Status Finish(const v1::TransferJob& job, v1::RunEvent event,
                      const std::optional<ProcessedFile>& file,
                      const std::function<void()>& after_record = nullptr);
  // A FAILED event; `retryable` asks the scheduler to run the step again after its backoff.
  absl::Status Failed(const v1::TransferJob& job, const absl::Status& cause,
                      bool retryable = false);
  // After the in-job attempts: permanent -> FAILED; transient (the server unreachable, the
  // connection dropped, a file still changing) -> FAILED with `retryable`, so the scheduler
  // retries the step with its backoff and records each attempt in the run. Both return OK
  // once the event is recorded and published; when that is impossible (ledger or Redis down)
  // the error is returned and the queue redelivers the job.
  absl::Status Classify(const v1::TransferJob& job, const absl::Status& status);
  // One attempt; errors are returned unclassified.
  absl::StatusOr<Outcome> Fetch(const v1::TransferJob& job, SftpSession& session);
  absl::StatusOr<Outcome> Upload(const v1::TransferJob& job, SftpSession& session);
  // Moves or deletes the fetched file and its marker (best effort: failures are logged).
  void AfterFetch(const v1::TransferJob& job, SftpSession& session, const std::string& name);

  SftpConnector* connector_;
  Archive* archive_;
  Publisher* publisher_;
  TransferLedger* ledger_;
  const Sealer* sealer_;
  WorkerOptions options_;
};

// "<job_id>:<TYPE_NAME>" and the common fields of an event for `job`.
v1::RunEvent NewEvent(const v1::TransferJob& job, v1::RunEvent::Type type);

}  // namespace rostersync::transfer
