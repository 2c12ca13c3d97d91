#pragma once

// BackupService over the gRPC callback API: the file archive. Bytes go to the BlobStore
// (content-addressed, fsynced), metadata to the FileCatalog (PostgreSQL, scoped by tenant).
#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "rostersync/v1/backup.grpc.pb.h"
#include "services/backup/blob_store.h"
#include "services/backup/file_catalog.h"

namespace rostersync::backup {

struct BackupServiceOptions {
  // Uploads larger than this are refused with INVALID_ARGUMENT (0: no limit).
  int64_t max_file_bytes = int64_t{16} << 30;
  size_t chunk_bytes = BlobStore::kDefaultChunkBytes;
};

class BackupService final : public v1::BackupService::CallbackService {
 public:
  BackupService(BlobStore* blobs, FileCatalog* catalog, BackupServiceOptions options = {});

  grpc::ServerReadReactor<v1::PutFileRequest>* PutFile(grpc::CallbackServerContext* context,
                                                       v1::PutFileResponse* response) override;
  grpc::ServerWriteReactor<v1::GetFileResponse>* GetFile(
      grpc::CallbackServerContext* context, const v1::GetFileRequest* request) override;
  grpc::ServerUnaryReactor* StatFile(grpc::CallbackServerContext* context,
                                     const v1::StatFileRequest* request,
                                     v1::StatFileResponse* response) override;
  grpc::ServerUnaryReactor* ListFiles(grpc::CallbackServerContext* context,
                                      const v1::ListFilesRequest* request,
                                      v1::ListFilesResponse* response) override;

 private:
  friend class PutFileReactor;
  friend class GetFileReactor;

  BlobStore* blobs_;
  FileCatalog* catalog_;
  BackupServiceOptions options_;
};

// Checks a PutFile header: tenant_id, a known kind other than UNSPECIFIED, a name, and
// expected_sha256 (when set) being 64 hex digits. INVALID_ARGUMENT naming the field.
absl::Status ValidatePutFileHeader(const v1::PutFileHeader& header);

}  // namespace rostersync::backup
