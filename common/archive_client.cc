#include "common/archive_client.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"

namespace rostersync {
namespace {

constexpr size_t kChunkBytes = 256 * 1024;

std::chrono::system_clock::time_point DeadlineFromNow(absl::Duration d) {
  return absl::ToChronoTime(absl::Now() + d);
}

absl::Status Annotate(const absl::Status& status, const std::string& what) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(what, ": ", status.message()));
}

class GrpcArchiveWriter final : public ArchiveWriter {
 public:
  GrpcArchiveWriter(v1::BackupService::Stub* stub, absl::Duration deadline, std::string name)
      : name_(std::move(name)) {
    context_.set_deadline(DeadlineFromNow(deadline));
    writer_ = stub->PutFile(&context_, &response_);
  }

  ~GrpcArchiveWriter() override {
    if (!finished_) {
      // Abandon: the server sees a cancelled stream and stores nothing.
      context_.TryCancel();
      writer_->Finish();
    }
  }

  absl::Status WriteHeader(const v1::PutFileHeader& header) {
    v1::PutFileRequest request;
    *request.mutable_header() = header;
    if (!writer_->Write(request)) return Broken();
    return absl::OkStatus();
  }

  absl::Status Write(std::string_view bytes) override {
    if (finished_) return absl::FailedPreconditionError("archive upload already finished");
    v1::PutFileRequest request;
    while (!bytes.empty()) {
      const size_t n = std::min(bytes.size(), kChunkBytes);
      request.set_chunk(bytes.data(), n);
      if (!writer_->Write(request)) return Broken();
      bytes.remove_prefix(n);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<v1::FileInfo> Finish() override {
    if (finished_) return absl::FailedPreconditionError("archive upload already finished");
    writer_->WritesDone();
    finished_ = true;
    absl::Status st = FromGrpcStatus(writer_->Finish());
    if (!st.ok()) return Annotate(st, absl::StrCat("archive PutFile ", name_));
    return response_.file();
  }

 private:
  // The stream broke: the server's status says why.
  absl::Status Broken() {
    finished_ = true;
    absl::Status st = FromGrpcStatus(writer_->Finish());
    if (st.ok()) st = absl::UnavailableError("stream closed by the server");
    return Annotate(st, absl::StrCat("archive PutFile ", name_));
  }

  std::string name_;
  grpc::ClientContext context_;
  v1::PutFileResponse response_;
  std::unique_ptr<grpc::ClientWriter<v1::PutFileRequest>> writer_;
  bool finished_ = false;
};

}  // namespace

GrpcArchive::GrpcArchive(std::shared_ptr<grpc::Channel> channel, absl::Duration deadline)
    : stub_(v1::BackupService::NewStub(std::move(channel))), deadline_(deadline) {}

absl::StatusOr<std::unique_ptr<ArchiveWriter>> GrpcArchive::OpenWriter(
    const v1::PutFileHeader& header) {
  auto writer = std::make_unique<GrpcArchiveWriter>(stub_.get(), deadline_, header.name());
  absl::Status st = writer->WriteHeader(header);
  if (!st.ok()) return st;
  return std::unique_ptr<ArchiveWriter>(std::move(writer));
}

absl::StatusOr<v1::FileInfo> GrpcArchive::Read(
    const std::string& tenant_id, const std::string& file_id,
    const std::function<absl::Status(std::string_view)>& sink) {
  const std::string what = absl::StrCat("archive GetFile ", file_id);
  grpc::ClientContext context;
  context.set_deadline(DeadlineFromNow(deadline_));
  v1::GetFileRequest request;
  request.set_tenant_id(tenant_id);
  request.set_file_id(file_id);
  std::unique_ptr<grpc::ClientReader<v1::GetFileResponse>> reader =
      stub_->GetFile(&context, request);
  v1::GetFileResponse response;
  v1::FileInfo info;
  bool have_info = false;
  int64_t received = 0;
  absl::Status local;  // an error of ours (sink, protocol) that ends the call early
  while (reader->Read(&response)) {
    if (!have_info) {
      if (!response.has_info()) {
        local = absl::InternalError(absl::StrCat(what, ": first message carries no FileInfo"));
        break;
      }
      info = response.info();
      have_info = true;
      continue;
    }
    if (!response.has_chunk()) {
      local = absl::InternalError(absl::StrCat(what, ": FileInfo sent twice"));
      break;
    }
    received += static_cast<int64_t>(response.chunk().size());
    absl::Status st = sink(response.chunk());
    if (!st.ok()) {
      local = st;
      break;
    }
  }
  if (!local.ok()) {
    context.TryCancel();
    reader->Finish();
    return local;
  }
  absl::Status st = FromGrpcStatus(reader->Finish());
  if (!st.ok()) return Annotate(st, what);
  if (!have_info) return absl::InternalError(absl::StrCat(what, ": stream ended without FileInfo"));
  if (received != info.size_bytes()) {
    return absl::DataLossError(
        absl::StrCat(what, ": received ", received, " bytes, expected ", info.size_bytes()));
  }
  return info;
}

absl::StatusOr<v1::FileInfo> GrpcArchive::Stat(const std::string& tenant_id,
                                               const std::string& file_id) {
  grpc::ClientContext context;
  context.set_deadline(DeadlineFromNow(deadline_));
  v1::StatFileRequest request;
  request.set_tenant_id(tenant_id);
  request.set_file_id(file_id);
  v1::StatFileResponse response;
  absl::Status st = FromGrpcStatus(stub_->StatFile(&context, request, &response));
  if (!st.ok()) return Annotate(st, absl::StrCat("archive StatFile ", file_id));
  return response.file();
}

}  // namespace rostersync
