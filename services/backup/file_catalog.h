#pragma once

// The archive's metadata in PostgreSQL schema "backup": one row per archived file, always
// looked up by (tenant_id, file_id), so that one tenant's files are invisible to another.
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pg.h"
#include "rostersync/v1/backup.pb.h"

namespace rostersync::backup {

// The migrations of schema "backup" (exposed for tests).
const std::vector<Migration>& CatalogMigrations();

struct FileListQuery {
  std::string tenant_id;
  v1::FileKind kind = v1::FILE_KIND_UNSPECIFIED;  // UNSPECIFIED: every kind
  std::string integration_id;                     // empty: every integration
  int page_size = 50;                             // already clamped by the caller
  std::string page_token;                         // opaque, from a previous page
};

struct FileListPage {
  std::vector<v1::FileInfo> files;  // newest first
  std::string next_page_token;      // empty on the last page
};

class FileCatalog {
 public:
  // Applies the migrations of schema "backup".
  static absl::StatusOr<std::unique_ptr<FileCatalog>> Create(PgPool* pool);

  // Records a file; `info` must carry tenant_id, file_id, kind, name, size_bytes and sha256.
  // created_at is set here (microsecond precision) when `info` has none.
  absl::StatusOr<v1::FileInfo> Insert(v1::FileInfo info);
  // NOT_FOUND naming the file when it does not exist for this tenant.
  absl::StatusOr<v1::FileInfo> Get(const std::string& tenant_id, const std::string& file_id);
  absl::StatusOr<FileListPage> List(const FileListQuery& query);

 private:
  explicit FileCatalog(PgPool* pool) : pool_(pool) {}
  PgPool* pool_;
};

// Keyset of a listing page, "<created_at unix micros>:<file_id>" (exposed for tests).
std::string FileListKey(int64_t created_at_micros, const std::string& file_id);

}  // namespace rostersync::backup
