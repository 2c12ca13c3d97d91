#include "services/backup/file_catalog.h"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/page_token.h"
#include "common/status_macros.h"
#include "common/time_util.h"

namespace rostersync::backup {
namespace {

// A timestamp literal PostgreSQL parses exactly (microseconds, UTC).
std::string PgTimestamp(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", t, absl::UTCTimeZone());
}

constexpr char kColumns[] =
    "tenant_id, file_id, kind, name, size_bytes, sha256, content_type, run_id, integration_id, "
    "labels::text, (extract(epoch from created_at) * 1000000)::bigint";

absl::StatusOr<v1::FileInfo> RowToInfo(const pqxx::row& row) {
  v1::FileInfo info;
  info.set_tenant_id(row[0].as<std::string>());
  info.set_file_id(row[1].as<std::string>());
  v1::FileKind kind = v1::FILE_KIND_UNSPECIFIED;
  const std::string kind_text = row[2].as<std::string>();
  if (!v1::FileKind_Parse(kind_text, &kind)) {
    return absl::InternalError(
        absl::StrCat("backup.files row ", info.file_id(), ": unknown kind '", kind_text, "'"));
  }
  info.set_kind(kind);
  info.set_name(row[3].as<std::string>());
  info.set_size_bytes(row[4].as<int64_t>());
  info.set_sha256(row[5].as<std::string>());
  info.set_content_type(row[6].as<std::string>());
  info.set_run_id(row[7].as<std::string>());
  info.set_integration_id(row[8].as<std::string>());
  const std::string labels_text = row[9].as<std::string>();
  nlohmann::json labels = nlohmann::json::parse(labels_text, nullptr, /*allow_exceptions=*/false);
  if (!labels.is_object()) {
    return absl::InternalError(
        absl::StrCat("backup.files row ", info.file_id(), ": labels are not a JSON object"));
  }
  for (auto it = labels.begin(); it != labels.end(); ++it) {
    if (it.value().is_string()) {
      (*info.mutable_labels())[it.key()] = it.value().get<std::string>();
    }
  }
  *info.mutable_created_at() = ToProtoTime(absl::FromUnixMicros(row[10].as<int64_t>()));
  return info;
}

}  // namespace

const std::vector<Migration>& CatalogMigrations() {
  static const auto* migrations = new std::vector<Migration>{
      {1, "files catalog", R"sql(
CREATE TABLE backup.files (
  tenant_id      text        NOT NULL,
  file_id        text        NOT NULL,
  kind           text        NOT NULL,
  name           text        NOT NULL,
  size_bytes     bigint      NOT NULL CHECK (size_bytes >= 0),
  sha256         text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  content_type   text        NOT NULL DEFAULT '',
  run_id         text        NOT NULL DEFAULT '',
  integration_id text        NOT NULL DEFAULT '',
  labels         jsonb       NOT NULL DEFAULT '{}'::jsonb,
  created_at     timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, file_id)
);
CREATE INDEX files_by_tenant_time ON backup.files (tenant_id, created_at DESC, file_id DESC);
CREATE INDEX files_by_tenant_kind_time
  ON backup.files (tenant_id, kind, created_at DESC, file_id DESC);
CREATE INDEX files_by_sha256 ON backup.files (sha256);
)sql"},
  };
  return *migrations;
}

std::string FileListKey(int64_t created_at_micros, const std::string& file_id) {
  return absl::StrCat(created_at_micros, ":", file_id);
}

absl::StatusOr<std::unique_ptr<FileCatalog>> FileCatalog::Create(PgPool* pool) {
  RETURN_IF_ERROR(ApplyMigrations(*pool, "backup", CatalogMigrations()));
  return std::unique_ptr<FileCatalog>(new FileCatalog(pool));
}

absl::StatusOr<v1::FileInfo> FileCatalog::Insert(v1::FileInfo info) {
  if (!info.has_created_at()) {
    *info.mutable_created_at() = ToProtoTime(absl::FromUnixMicros(absl::ToUnixMicros(absl::Now())));
  }
  nlohmann::json labels = nlohmann::json::object();
  for (const auto& [k, v] : info.labels()) labels[k] = v;
  const std::string created_at = PgTimestamp(FromProtoTime(info.created_at()));
  RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    txn.exec_params(
        "INSERT INTO backup.files (tenant_id, file_id, kind, name, size_bytes, sha256, "
        "content_type, run_id, integration_id, labels, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::timestamptz)",
        info.tenant_id(), info.file_id(), v1::FileKind_Name(info.kind()), info.name(),
        info.size_bytes(), info.sha256(), info.content_type(), info.run_id(), info.integration_id(),
        labels.dump(), created_at);
    return absl::OkStatus();
  }));
  return info;
}

absl::StatusOr<v1::FileInfo> FileCatalog::Get(const std::string& tenant_id,
                                              const std::string& file_id) {
  absl::StatusOr<v1::FileInfo> out =
      absl::NotFoundError(absl::StrCat("file ", file_id, " not found for tenant ", tenant_id));
  RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    pqxx::result r =
        txn.exec_params(absl::StrCat("SELECT ", kColumns,
                                     " FROM backup.files WHERE tenant_id = $1 AND file_id = $2"),
                        tenant_id, file_id);
    if (!r.empty()) out = RowToInfo(r[0]);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<FileListPage> FileCatalog::List(const FileListQuery& query) {
  bool after = false;
  int64_t after_micros = 0;
  std::string after_file_id;
  ASSIGN_OR_RETURN(std::string key, DecodePageToken(query.page_token));
  if (!key.empty()) {
    size_t colon = key.find(':');
    if (colon == std::string::npos || !absl::SimpleAtoi(key.substr(0, colon), &after_micros) ||
        colon + 1 == key.size()) {
      return absl::InvalidArgumentError("page_token: not a token of ListFiles");
    }
    after = true;
    after_file_id = key.substr(colon + 1);
  }
  const int limit = query.page_size > 0 ? query.page_size : 50;
  FileListPage page;
  absl::Status row_error;
  RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    pqxx::result r = txn.exec_params(
        absl::StrCat("SELECT ", kColumns,
                     " FROM backup.files WHERE tenant_id = $1"
                     " AND ($2::text = '' OR kind = $2::text)"
                     " AND ($3::text = '' OR integration_id = $3::text)"
                     " AND (NOT $4::boolean OR (created_at, file_id) < ($5::timestamptz, $6::text))"
                     " ORDER BY created_at DESC, file_id DESC LIMIT $7"),
        query.tenant_id,
        query.kind == v1::FILE_KIND_UNSPECIFIED ? std::string() : v1::FileKind_Name(query.kind),
        query.integration_id, after, PgTimestamp(absl::FromUnixMicros(after_micros)), after_file_id,
        limit + 1);
    for (int i = 0; i < static_cast<int>(r.size()) && i < limit; ++i) {
      absl::StatusOr<v1::FileInfo> info = RowToInfo(r[i]);
      if (!info.ok()) return info.status();
      page.files.push_back(*std::move(info));
    }
    if (static_cast<int>(r.size()) > limit) {
      const v1::FileInfo& last = page.files.back();
      page.next_page_token = EncodePageToken(
          FileListKey(absl::ToUnixMicros(FromProtoTime(last.created_at())), last.file_id()));
    }
    return absl::OkStatus();
  }));
  return page;
}

}  // namespace rostersync::backup
