#include "services/sftp_transfer/transfer_ledger.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"

namespace rostersync::transfer {
namespace {

const std::vector<Migration>& Migrations() {
  static const auto* migrations = new std::vector<Migration>{
      {1, "processed files and job results",
       R"sql(
CREATE TABLE transfer.processed_files (
  tenant_id      text        NOT NULL,
  integration_id text        NOT NULL,
  remote_path    text        NOT NULL,
  size_bytes     bigint      NOT NULL,
  mtime          bigint      NOT NULL,
  sha256         text        NOT NULL,
  file_id        text        NOT NULL,
  job_id         text        NOT NULL,
  processed_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, integration_id, remote_path, size_bytes, mtime, sha256)
);
CREATE TABLE transfer.job_results (
  job_id     text        PRIMARY KEY,
  tenant_id  text        NOT NULL,
  run_id     text        NOT NULL,
  event      bytea       NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
)sql"},
      {2, "processed files by content",
       R"sql(
CREATE INDEX processed_files_by_sha256
  ON transfer.processed_files (tenant_id, integration_id, sha256);
)sql"},
  };
  return *migrations;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PgTransferLedger>> PgTransferLedger::Open(PgPool* pool) {
  absl::Status st = ApplyMigrations(*pool, "transfer", Migrations());
  if (!st.ok()) return st;
  return std::unique_ptr<PgTransferLedger>(new PgTransferLedger(pool));
}

absl::StatusOr<std::optional<v1::RunEvent>> PgTransferLedger::FindJobResult(
    const std::string& job_id) {
  std::optional<v1::RunEvent> result;
  absl::Status st = pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    pqxx::result rows =
        txn.exec_params("SELECT event FROM transfer.job_results WHERE job_id = $1", job_id);
    if (rows.empty()) return absl::OkStatus();
    pqxx::binarystring bytes(rows[0][0]);
    v1::RunEvent event;
    if (!event.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      return absl::DataLossError(
          absl::StrCat("transfer.job_results: stored event of job ", job_id, " is corrupt"));
    }
    result = std::move(event);
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return result;
}

absl::StatusOr<bool> PgTransferLedger::IsProcessed(const RemoteFileKey& key) {
  bool found = false;
  absl::Status st = pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    pqxx::result rows = txn.exec_params(
        "SELECT 1 FROM transfer.processed_files WHERE tenant_id = $1 AND integration_id = $2 "
        "AND remote_path = $3 AND size_bytes = $4 AND mtime = $5 LIMIT 1",
        key.tenant_id, key.integration_id, key.remote_path, key.size, key.mtime);
    found = !rows.empty();
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return found;
}

absl::StatusOr<std::optional<ProcessedFile>> PgTransferLedger::FindBySha256(
    const std::string& tenant_id, const std::string& integration_id, const std::string& sha256) {
  std::optional<ProcessedFile> found;
  absl::Status st = pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    pqxx::result rows = txn.exec_params(
        "SELECT remote_path, size_bytes, mtime, file_id, job_id FROM transfer.processed_files "
        "WHERE tenant_id = $1 AND integration_id = $2 AND sha256 = $3 "
        "ORDER BY processed_at LIMIT 1",
        tenant_id, integration_id, sha256);
    if (rows.empty()) return absl::OkStatus();
    ProcessedFile file;
    file.key = RemoteFileKey{tenant_id, integration_id, rows[0][0].as<std::string>(),
                             rows[0][1].as<int64_t>(), rows[0][2].as<int64_t>()};
    file.sha256 = sha256;
    file.file_id = rows[0][3].as<std::string>();
    file.job_id = rows[0][4].as<std::string>();
    found = std::move(file);
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return found;
}

absl::Status PgTransferLedger::RecordDuplicate(const ProcessedFile& file) {
  return pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    txn.exec_params(
        "INSERT INTO transfer.processed_files (tenant_id, integration_id, remote_path, "
        "size_bytes, mtime, sha256, file_id, job_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
        "ON CONFLICT DO NOTHING",
        file.key.tenant_id, file.key.integration_id, file.key.remote_path, file.key.size,
        file.key.mtime, file.sha256, file.file_id, file.job_id);
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::RunEvent> PgTransferLedger::RecordJobResult(
    const v1::RunEvent& event, const std::optional<ProcessedFile>& file) {
  const std::string serialized = event.SerializeAsString();
  v1::RunEvent recorded;
  absl::Status st = pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    pqxx::binarystring bytes(serialized.data(), serialized.size());
    // Under READ COMMITTED a concurrent insert of the same job_id makes this wait for the other
    // transaction and then do nothing; the SELECT below then sees the other's row.
    pqxx::result inserted = txn.exec_params(
        "INSERT INTO transfer.job_results (job_id, tenant_id, run_id, event) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (job_id) DO NOTHING",
        event.job_id(), event.tenant_id(), event.run_id(), bytes);
    if (inserted.affected_rows() == 1) {
      // Only the delivery whose result is on record marks its file processed: a losing
      // delivery may have fetched another (newer) file, which must stay fetchable.
      if (file.has_value()) {
        txn.exec_params(
            "INSERT INTO transfer.processed_files (tenant_id, integration_id, remote_path, "
            "size_bytes, mtime, sha256, file_id, job_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
            "ON CONFLICT DO NOTHING",
            file->key.tenant_id, file->key.integration_id, file->key.remote_path, file->key.size,
            file->key.mtime, file->sha256, file->file_id, file->job_id);
      }
      recorded = event;
      return absl::OkStatus();
    }
    pqxx::result rows =
        txn.exec_params("SELECT event FROM transfer.job_results WHERE job_id = $1", event.job_id());
    if (rows.empty()) {
      return absl::AbortedError(absl::StrCat("transfer.job_results: result of job ", event.job_id(),
                                             " vanished while recording"));
    }
    pqxx::binarystring stored(rows[0][0]);
    if (!recorded.ParseFromArray(stored.data(), static_cast<int>(stored.size()))) {
      return absl::DataLossError(absl::StrCat("transfer.job_results: stored event of job ",
                                              event.job_id(), " is corrupt"));
    }
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return recorded;
}

absl::StatusOr<std::vector<ForgottenFile>> PgTransferLedger::Forget(
    const std::string& tenant_id, const std::string& integration_id, const std::string& remote_path,
    const std::string& sha256) {
  if (remote_path.empty() && sha256.empty()) {
    return absl::InvalidArgumentError("Forget: give a remote path, a SHA-256 or both");
  }
  std::vector<ForgottenFile> forgotten;
  absl::Status st = pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    forgotten.clear();  // Transact may retry the transaction
    // The matching entries' content, then every entry of the integration with that content.
    pqxx::result rows = txn.exec_params(
        "DELETE FROM transfer.processed_files WHERE tenant_id = $1 AND integration_id = $2 "
        "AND sha256 IN (SELECT sha256 FROM transfer.processed_files WHERE tenant_id = $1 "
        "AND integration_id = $2 AND ($3 = '' OR remote_path = $3) AND ($4 = '' OR sha256 = $4)) "
        "RETURNING remote_path, size_bytes, mtime, sha256, file_id, job_id, "
        "extract(epoch FROM processed_at)::float8",
        tenant_id, integration_id, remote_path, sha256);
    for (const auto& row : rows) {
      ForgottenFile f;
      f.file.key = RemoteFileKey{tenant_id, integration_id, row[0].as<std::string>(),
                                 row[1].as<int64_t>(), row[2].as<int64_t>()};
      f.file.sha256 = row[3].as<std::string>();
      f.file.file_id = row[4].as<std::string>();
      f.file.job_id = row[5].as<std::string>();
      f.processed_at = absl::FromUnixMicros(static_cast<int64_t>(row[6].as<double>() * 1e6));
      forgotten.push_back(std::move(f));
    }
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  std::sort(forgotten.begin(), forgotten.end(), [](const ForgottenFile& a, const ForgottenFile& b) {
    return a.processed_at < b.processed_at;
  });
  return forgotten;
}

}  // namespace rostersync::transfer
