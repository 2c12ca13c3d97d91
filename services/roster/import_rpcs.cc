// RosterService RPCs of the import pipeline: PreviewImport, ApproveDeletions, UploadRoster.
//
// UploadRoster: the first message carries the header, every later one a chunk. The bytes are
// streamed into the archive as a SOURCE file (label source=upload) and imported like an SFTP
// file (Importer::Run: backup first, guards, partial imports), or previewed (header.preview).
// Idempotent by request_id: the import's job_id is "upload:<tenant>:<request_id>", and a
// request_id already imported is answered with the stored summary (the bytes are not archived
// again). Blocking work (archive writes, the import) runs on a thread of the upload, never on
// a gRPC callback thread.
#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/grpc_status.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "services/roster/importer.h"
#include "services/roster/roster_service.h"

namespace rostersync::roster {
namespace {

absl::Status NeedArchive(const Archive* archive) {
  if (archive == nullptr) {
    return absl::FailedPreconditionError("roster service: started without the backup service");
  }
  return absl::OkStatus();
}

template <typename Response>
grpc::ServerUnaryReactor* ReplyWith(grpc::CallbackServerContext* ctx, Response* response,
                                    absl::StatusOr<Response> result) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (result.ok()) *response = *std::move(result);
  reactor->Finish(ToGrpcStatus(result.status()));
  return reactor;
}

class UploadReactor : public grpc::ServerReadReactor<v1::UploadRosterRequest> {
 public:
  UploadReactor(RosterStore& store, Archive* archive, v1::ImportSummary* response)
      : store_(store), archive_(archive), response_(response) {
    std::thread([this] { Run(); }).detach();
  }

  void OnReadDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    read_ok_ = ok;
    read_done_ = true;
    cv_.notify_one();
  }
  void OnDone() override { delete this; }

 private:
  // Reads the next message; false at the end of the stream (or on cancellation).
  bool Next() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      read_done_ = false;
    }
    StartRead(&request_);
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return read_done_; });
    return read_ok_;
  }

  void Run() {
    absl::StatusOr<v1::ImportSummary> result = Upload();
    if (result.ok()) *response_ = *std::move(result);
    Finish(ToGrpcStatus(result.status()));  // the last use of `this`
  }

  absl::StatusOr<v1::ImportSummary> Upload() {
    if (!Next() || !request_.has_header()) {
      return absl::InvalidArgumentError("UploadRoster: the first message must carry the header");
    }
    const v1::UploadRosterHeader header = request_.header();
    if (header.tenant_id().empty()) return absl::InvalidArgumentError("tenant_id is required");
    RETURN_IF_ERROR(NeedArchive(archive_));
    ImportRequest r;
    r.tenant_id = header.tenant_id();
    r.integration_id = header.integration_id();
    r.job_id = header.request_id().empty()
                   ? absl::StrCat("upload:", header.tenant_id(), ":", NewId("req"))
                   : absl::StrCat("upload:", header.tenant_id(), ":", header.request_id());
    r.source = "upload";
    r.header_map.insert(header.header_map().begin(), header.header_map().end());
    r.policy = header.policy();
    r.preview = header.preview();
    r.examples_per_kind =
        header.examples_per_kind() > 0 ? header.examples_per_kind() : kDefaultImportExamples;

    ASSIGN_OR_RETURN(auto done, store_.FindImportByJob(r.tenant_id, r.job_id));
    if (done) {
      while (Next()) {
      }
      return *done;
    }
    v1::PutFileHeader put;
    put.set_tenant_id(r.tenant_id);
    put.set_kind(v1::FILE_KIND_SOURCE);
    put.set_name(header.name().empty() ? "upload.csv" : header.name());
    put.set_integration_id(r.integration_id);
    put.set_content_type("text/csv");
    (*put.mutable_labels())["source"] = "upload";
    if (!header.request_id().empty()) (*put.mutable_labels())["request_id"] = header.request_id();
    const absl::Time upload_start = absl::Now();
    ASSIGN_OR_RETURN(std::unique_ptr<ArchiveWriter> writer, archive_->OpenWriter(put));
    while (Next()) {
      if (request_.has_header()) {
        return absl::InvalidArgumentError("UploadRoster: only the first message carries a header");
      }
      RETURN_IF_ERROR(writer->Write(request_.chunk()));
    }
    ASSIGN_OR_RETURN(v1::FileInfo info, writer->Finish());
    r.file_id = info.file_id();
    log::Info("upload archived", {{"tenant", r.tenant_id},
                                  {"file_id", r.file_id},
                                  {"upload_ms", std::to_string(absl::ToInt64Milliseconds(
                                                    absl::Now() - upload_start))}});
    Importer importer(store_, *archive_);
    ASSIGN_OR_RETURN(ImportOutcome outcome, importer.Run(r));
    return outcome.summary;
  }

  RosterStore& store_;
  Archive* archive_;
  v1::ImportSummary* response_;
  v1::UploadRosterRequest request_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool read_done_ = false;
  bool read_ok_ = false;
};

}  // namespace

absl::StatusOr<v1::ImportSummary> RosterServiceImpl::DoPreviewImport(
    const v1::PreviewImportRequest& request) {
  if (request.tenant_id().empty()) return absl::InvalidArgumentError("tenant_id is required");
  if (request.file_id().empty()) return absl::InvalidArgumentError("file_id is required");
  RETURN_IF_ERROR(NeedArchive(archive_));
  ImportRequest r;
  r.tenant_id = request.tenant_id();
  r.integration_id = request.integration_id();
  r.file_id = request.file_id();
  r.job_id = absl::StrCat("preview:", request.tenant_id(), ":", NewId("prv"));
  r.header_map.insert(request.header_map().begin(), request.header_map().end());
  r.policy = request.policy();
  r.preview = true;
  r.examples_per_kind =
      request.examples_per_kind() > 0 ? request.examples_per_kind() : kDefaultImportExamples;
  Importer importer(store_, *archive_);
  ASSIGN_OR_RETURN(ImportOutcome outcome, importer.Run(r));
  return outcome.summary;
}

absl::StatusOr<v1::ImportSummary> RosterServiceImpl::DoApproveDeletions(
    const v1::ApproveDeletionsRequest& request) {
  RETURN_IF_ERROR(NeedArchive(archive_));
  Importer importer(store_, *archive_);
  return importer.ApproveDeletions(request.tenant_id(), request.import_id());
}

grpc::ServerUnaryReactor* RosterServiceImpl::PreviewImport(
    grpc::CallbackServerContext* ctx, const v1::PreviewImportRequest* request,
    v1::ImportSummary* response) {
  return ReplyWith(ctx, response, DoPreviewImport(*request));
}

grpc::ServerUnaryReactor* RosterServiceImpl::ApproveDeletions(
    grpc::CallbackServerContext* ctx, const v1::ApproveDeletionsRequest* request,
    v1::ImportSummary* response) {
  return ReplyWith(ctx, response, DoApproveDeletions(*request));
}

grpc::ServerReadReactor<v1::UploadRosterRequest>* RosterServiceImpl::UploadRoster(
    grpc::CallbackServerContext* /*ctx*/, v1::ImportSummary* response) {
  return new UploadReactor(store_, archive_, response);
}

}  // namespace rostersync::roster
