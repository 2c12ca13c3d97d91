#pragma once

// Client side of the backup service's archive, behind a seam so that unit tests can use an
// in-memory archive. Every call has a deadline.
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "rostersync/v1/backup.grpc.pb.h"

namespace rostersync {

// Streams one file into the archive. Write() as often as needed, then Finish(); destroying an
// unfinished writer abandons the upload (nothing is stored).
class ArchiveWriter {
 public:
  virtual ~ArchiveWriter() = default;
  virtual absl::Status Write(std::string_view bytes) = 0;
  virtual absl::StatusOr<v1::FileInfo> Finish() = 0;
};

class Archive {
 public:
  virtual ~Archive() = default;
  virtual absl::StatusOr<std::unique_ptr<ArchiveWriter>> OpenWriter(
      const v1::PutFileHeader& header) = 0;
  // Streams the file's bytes to `sink` chunk by chunk. A non-OK return (including DATA_LOSS on
  // a checksum mismatch at the end) means the bytes already passed to `sink` must be
  // discarded.
  virtual absl::StatusOr<v1::FileInfo> Read(
      const std::string& tenant_id, const std::string& file_id,
      const std::function<absl::Status(std::string_view)>& sink) = 0;
  virtual absl::StatusOr<v1::FileInfo> Stat(const std::string& tenant_id,
                                            const std::string& file_id) = 0;
};

// The real one, over gRPC. `deadline` bounds each call (a whole transfer for Read/Write).
class GrpcArchive : public Archive {
 public:
  GrpcArchive(std::shared_ptr<grpc::Channel> channel, absl::Duration deadline);
  absl::StatusOr<std::unique_ptr<ArchiveWriter>> OpenWriter(
      const v1::PutFileHeader& header) override;
  absl::StatusOr<v1::FileInfo> Read(
      const std::string& tenant_id, const std::string& file_id,
      const std::function<absl::Status(std::string_view)>& sink) override;
  absl::StatusOr<v1::FileInfo> Stat(const std::string& tenant_id,
                                    const std::string& file_id) override;

 private:
  std::unique_ptr<v1::BackupService::Stub> stub_;
  absl::Duration deadline_;
};

}  // namespace rostersync
