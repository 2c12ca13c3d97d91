#pragma once

// What sftp-transfer remembers (PostgreSQL schema "transfer"):
//  - processed_files: remote files already fetched, keyed by tenant, integration, remote path,
//    size, mtime and SHA-256 (looked up before downloading by path, size and mtime, and after
//    downloading by SHA-256, so the same content under a new name is never imported twice);
//  - job_results: the RunEvent each finished job published, keyed by job_id, so a redelivered
//    job re-publishes the same event and changes nothing twice.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pg.h"
#include "rostersync/v1/jobs.pb.h"

namespace rostersync::transfer {

struct RemoteFileKey {
  std::string tenant_id;
  std::string integration_id;
  std::string remote_path;
  int64_t size = 0;
  int64_t mtime = 0;
};

struct ProcessedFile {
  RemoteFileKey key;
  std::string sha256;  // lowercase hex
  std::string file_id;
  std::string job_id;
};

// A ledger entry removed by Forget, with when it had been recorded.
struct ForgottenFile {
  ProcessedFile file;
  absl::Time processed_at;
};

class TransferLedger {
 public:
  virtual ~TransferLedger() = default;
  virtual absl::StatusOr<std::optional<v1::RunEvent>> FindJobResult(const std::string& job_id) = 0;
  virtual absl::StatusOr<bool> IsProcessed(const RemoteFileKey& key) = 0;
  // A file of this tenant and integration already processed with this content (lowercase hex
  // SHA-256), whatever its name; nullopt when none.
  virtual absl::StatusOr<std::optional<ProcessedFile>> FindBySha256(
      const std::string& tenant_id, const std::string& integration_id,
      const std::string& sha256) = 0;
  // Marks a file processed outside any job result: a duplicate (same content as one already
  // processed) that is skipped and must not be downloaded again.
  virtual absl::Status RecordDuplicate(const ProcessedFile& file) = 0;
  // Records the job's event and, when `file` is given, the processed file, in one transaction,
  // and returns the event that is now on record for the job. The first result recorded wins:
  // when another delivery of the same job recorded one first, that one is returned and `file`
  // is NOT marked processed (this delivery's work is discarded). Callers publish the returned
  // event, so every delivery of a job publishes the same event.
  virtual absl::StatusOr<v1::RunEvent> RecordJobResult(
      const v1::RunEvent& event, const std::optional<ProcessedFile>& file) = 0;
  // Reprocess: forgets, in one transaction, the entries of this tenant and integration that
  // match `remote_path` and/or `sha256` (an empty one matches anything; not both empty), and
  // with them every entry of the integration holding the same content (else the content check
  // would still skip the file). Returns what was forgotten (empty when nothing matched); job
  // results are kept.
  virtual absl::StatusOr<std::vector<ForgottenFile>> Forget(const std::string& tenant_id,
                                                            const std::string& integration_id,
                                                            const std::string& remote_path,
                                                            const std::string& sha256) = 0;
};

class PgTransferLedger : public TransferLedger {
 public:
  // Applies the "transfer" schema migrations.
  static absl::StatusOr<std::unique_ptr<PgTransferLedger>> Open(PgPool* pool);

  absl::StatusOr<std::optional<v1::RunEvent>> FindJobResult(const std::string& job_id) override;
  absl::StatusOr<bool> IsProcessed(const RemoteFileKey& key) override;
  absl::StatusOr<std::optional<ProcessedFile>> FindBySha256(const std::string& tenant_id,
                                                            const std::string& integration_id,
                                                            const std::string& sha256) override;
  absl::Status RecordDuplicate(const ProcessedFile& file) override;
  absl::StatusOr<v1::RunEvent> RecordJobResult(const v1::RunEvent& event,
                                               const std::optional<ProcessedFile>& file) override;
  absl::StatusOr<std::vector<ForgottenFile>> Forget(const std::string& tenant_id,
                                                    const std::string& integration_id,
                                                    const std::string& remote_path,
                                                    const std::string& sha256) override;

 private:
  explicit PgTransferLedger(PgPool* pool) : pool_(pool) {}
  PgPool* pool_;
};

}  // namespace rostersync::transfer
