#include "services/backup/backup_service.h"

#include <atomic>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/page_token.h"
#include "services/backup/backup_metrics.h"

namespace rostersync::backup {
namespace {

constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 500;
constexpr size_t kMaxNameBytes = 1024;

std::string FileLabel(const std::string& tenant_id, const std::string& file_id) {
  return absl::StrCat("file ", file_id, " of tenant ", tenant_id);
}

absl::Status ValidateFileRef(const std::string& tenant_id, const std::string& file_id) {
  if (tenant_id.empty()) return absl::InvalidArgumentError("tenant_id: required");
  if (file_id.empty()) return absl::InvalidArgumentError("file_id: required");
  return absl::OkStatus();
}

void NoteCorruption(const absl::Status& status, const std::string& tenant_id,
                    const std::string& file_id) {
  if (status.code() != absl::StatusCode::kDataLoss) return;
  BackupMetrics::Get().Corruptions().Increment();
  log::Error(
      "archive blob corrupt or missing",
      {{"tenant", tenant_id}, {"file_id", file_id}, {"error", std::string(status.message())}});
}

}  // namespace

absl::Status ValidatePutFileHeader(const v1::PutFileHeader& header) {
  if (header.tenant_id().empty()) return absl::InvalidArgumentError("header.tenant_id: required");
  if (header.kind() == v1::FILE_KIND_UNSPECIFIED || !v1::FileKind_IsValid(header.kind())) {
    return absl::InvalidArgumentError(
        absl::StrCat("header.kind: must be SOURCE, BACKUP, EXPORT or ERROR_REPORT, got ",
                     static_cast<int>(header.kind())));
  }
  if (header.name().empty()) return absl::InvalidArgumentError("header.name: required");
  if (header.name().size() > kMaxNameBytes || header.name().find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("header.name: at most ", kMaxNameBytes, " bytes and no NUL"));
  }
  if (!header.expected_sha256().empty() &&
      !IsSha256Hex(absl::AsciiStrToLower(header.expected_sha256()))) {
    return absl::InvalidArgumentError("header.expected_sha256: must be 64 hex digits");
  }
  return absl::OkStatus();
}

BackupService::BackupService(BlobStore* blobs, FileCatalog* catalog, BackupServiceOptions options)
    : blobs_(blobs), catalog_(catalog), options_(options) {
  BackupMetrics::Get();  // register the metric families at start, so /metrics shows them
}

// ---------------------------------------------------------------------------------------------
// PutFile: header, then chunks, then (on the client's half-close) commit blob and catalog row.
class PutFileReactor final : public grpc::ServerReadReactor<v1::PutFileRequest> {
 public:
  PutFileReactor(BackupService* service, grpc::CallbackServerContext* context,
                 v1::PutFileResponse* response)
      : service_(service), context_(context), response_(response) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      if (cancelled_.load() || context_->IsCancelled()) {
        Abandon(absl::CancelledError("PutFile: cancelled by the client; nothing stored"));
      } else {
        Complete();
      }
      return;
    }
    if (!writer_) {
      if (!request_.has_header()) {
        Abandon(absl::InvalidArgumentError("PutFile: the first message must carry the header"));
        return;
      }
      header_ = request_.header();
      if (absl::Status st = ValidatePutFileHeader(header_); !st.ok()) {
        Abandon(st);
        return;
      }
      absl::StatusOr<std::unique_ptr<BlobWriter>> writer = service_->blobs_->NewWriter();
      if (!writer.ok()) {
        Abandon(writer.status());
        return;
      }
      writer_ = *std::move(writer);
    } else {
      if (request_.has_header()) {
        Abandon(absl::InvalidArgumentError("PutFile: header sent twice"));
        return;
      }
      const int64_t max = service_->options_.max_file_bytes;
      if (max > 0 &&
          writer_->bytes_written() + static_cast<int64_t>(request_.chunk().size()) > max) {
        Abandon(absl::InvalidArgumentError(
            absl::StrCat("PutFile: file ", header_.name(), " is larger than ", max, " bytes")));
        return;
      }
      if (absl::Status st = writer_->Append(request_.chunk()); !st.ok()) {
        Abandon(st);
        return;
      }
    }
    StartRead(&request_);
  }

  void OnCancel() override { cancelled_.store(true); }
  void OnDone() override { delete this; }

 private:
  void Abandon(const absl::Status& status) {
    if (writer_) writer_->Abort();
    if (status.code() != absl::StatusCode::kCancelled) {
      log::Warn("upload refused", {{"tenant", header_.tenant_id()},
                                   {"name", header_.name()},
                                   {"error", std::string(status.message())}});
    }
    Finish(ToGrpcStatus(status));
  }

  void Complete() {
    if (!writer_) {
      Abandon(absl::InvalidArgumentError("PutFile: stream ended without a header"));
      return;
    }
    absl::StatusOr<BlobRef> blob =
        writer_->Commit(absl::AsciiStrToLower(header_.expected_sha256()));
    if (!blob.ok()) {
      Abandon(blob.status());
      return;
    }
    if (cancelled_.load() || context_->IsCancelled()) {
      // The blob may stay (content-addressed, harmless); no catalog entry means no file.
      Finish(ToGrpcStatus(absl::CancelledError("PutFile: cancelled by the client")));
      return;
    }
    v1::FileInfo info;
    info.set_tenant_id(header_.tenant_id());
    info.set_file_id(NewId("file"));
    info.set_kind(header_.kind());
    info.set_name(header_.name());
    info.set_size_bytes(blob->size_bytes);
    info.set_sha256(blob->sha256);
    info.set_content_type(header_.content_type());
    info.set_run_id(header_.run_id());
    info.set_integration_id(header_.integration_id());
    *info.mutable_labels() = header_.labels();
    absl::StatusOr<v1::FileInfo> stored = service_->catalog_->Insert(std::move(info));
    if (!stored.ok()) {
      Abandon(stored.status());
      return;
    }
    BackupMetrics::Get()
        .BytesWritten(header_.kind())
        .Increment(static_cast<double>(blob->size_bytes));
    BackupMetrics::Get().FilesWritten(header_.kind()).Increment();
    log::Info("file archived", {{"tenant", stored->tenant_id()},
                                {"file_id", stored->file_id()},
                                {"run_id", stored->run_id()},
                                {"kind", KindLabel(stored->kind())},
                                {"name", stored->name()},
                                {"size_bytes", std::to_string(stored->size_bytes())},
                                {"sha256", stored->sha256()}});
    *response_->mutable_file() = *std::move(stored);
    Finish(grpc::Status::OK);
  }

  BackupService* service_;
  grpc::CallbackServerContext* context_;
  v1::PutFileResponse* response_;
  v1::PutFileRequest request_;
  v1::PutFileHeader header_;
  std::unique_ptr<BlobWriter> writer_;
  std::atomic<bool> cancelled_{false};
};

grpc::ServerReadReactor<v1::PutFileRequest>* BackupService::PutFile(
    grpc::CallbackServerContext* context, v1::PutFileResponse* response) {
  return new PutFileReactor(this, context, response);
}

// ---------------------------------------------------------------------------------------------
// GetFile: FileInfo, then chunks. The blob reader holds back the last chunk until the SHA-256
// checked out, so a corrupt blob ends in DATA_LOSS before the client has the whole file.
class GetFileReactor final : public grpc::ServerWriteReactor<v1::GetFileResponse> {
 public:
  GetFileReactor(BackupService* service, const v1::GetFileRequest& request)
      : tenant_id_(request.tenant_id()), file_id_(request.file_id()) {
    if (absl::Status st = ValidateFileRef(tenant_id_, file_id_); !st.ok()) {
      Finish(ToGrpcStatus(st));
      return;
    }
    absl::StatusOr<v1::FileInfo> info = service->catalog_->Get(tenant_id_, file_id_);
    if (!info.ok()) {
      Finish(ToGrpcStatus(info.status()));
      return;
    }
    absl::StatusOr<std::unique_ptr<BlobReader>> reader =
        service->blobs_->OpenReader(BlobRef{info->sha256(), info->size_bytes()},
                                    FileLabel(tenant_id_, file_id_), service->options_.chunk_bytes);
    if (!reader.ok()) {
      NoteCorruption(reader.status(), tenant_id_, file_id_);
      Finish(ToGrpcStatus(reader.status()));
      return;
    }
    reader_ = *std::move(reader);
    *response_.mutable_info() = *std::move(info);
    StartWrite(&response_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "GetFile: client went away"));
      return;
    }
    std::string chunk;
    absl::StatusOr<bool> more = reader_->Next(&chunk);
    if (!more.ok()) {
      NoteCorruption(more.status(), tenant_id_, file_id_);
      Finish(ToGrpcStatus(more.status()));
      return;
    }
    if (!*more) {
      Finish(grpc::Status::OK);
      return;
    }
    response_.Clear();
    response_.set_chunk(std::move(chunk));
    StartWrite(&response_);
  }

  void OnDone() override { delete this; }

 private:
  std::string tenant_id_;
  std::string file_id_;
  std::unique_ptr<BlobReader> reader_;
  v1::GetFileResponse response_;
};

grpc::ServerWriteReactor<v1::GetFileResponse>* BackupService::GetFile(
    grpc::CallbackServerContext* context, const v1::GetFileRequest* request) {
  return new GetFileReactor(this, *request);
}

// ---------------------------------------------------------------------------------------------
grpc::ServerUnaryReactor* BackupService::StatFile(grpc::CallbackServerContext* context,
                                                  const v1::StatFileRequest* request,
                                                  v1::StatFileResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status st = ValidateFileRef(request->tenant_id(), request->file_id());
  if (st.ok()) {
    absl::StatusOr<v1::FileInfo> info = catalog_->Get(request->tenant_id(), request->file_id());
    if (info.ok()) {
      *response->mutable_file() = *std::move(info);
    } else {
      st = info.status();
    }
  }
  reactor->Finish(ToGrpcStatus(st));
  return reactor;
}

grpc::ServerUnaryReactor* BackupService::ListFiles(grpc::CallbackServerContext* context,
                                                   const v1::ListFilesRequest* request,
                                                   v1::ListFilesResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status st;
  if (request->tenant_id().empty()) {
    st = absl::InvalidArgumentError("tenant_id: required");
  } else if (!v1::FileKind_IsValid(request->kind())) {
    st = absl::InvalidArgumentError(
        absl::StrCat("kind: unknown value ", static_cast<int>(request->kind())));
  } else if (request->page_size() < 0) {
    st = absl::InvalidArgumentError("page_size: must not be negative");
  } else {
    FileListQuery query;
    query.tenant_id = request->tenant_id();
    query.kind = request->kind();
    query.integration_id = request->integration_id();
    query.page_size = ClampPageSize(request->page_size(), kDefaultPageSize, kMaxPageSize);
    query.page_token = request->page_token();
    absl::StatusOr<FileListPage> page = catalog_->List(query);
    if (page.ok()) {
      for (v1::FileInfo& f : page->files) *response->add_files() = std::move(f);
      response->set_next_page_token(page->next_page_token);
    } else {
      st = page.status();
    }
  }
  reactor->Finish(ToGrpcStatus(st));
  return reactor;
}

}  // namespace rostersync::backup
