// rosterctl backups list|download|restore, and the verified download of archived files.
#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "tools/rosterctl/command_runner.h"
#include "tools/rosterctl/commands.h"
#include "tools/rosterctl/table_printer.h"

namespace rostersync::rosterctl::internal {
namespace {

std::string ShortSha(const std::string& sha) { return sha.size() > 12 ? sha.substr(0, 12) : sha; }

// Where downloaded bytes go: a temp file next to the target (renamed into place only when the
// download is complete and verified, deleted otherwise) or the output stream.
class DownloadSink {
 public:
  static absl::StatusOr<std::unique_ptr<DownloadSink>> Open(const std::string& path,
                                                            std::ostream* out) {
    auto sink = std::unique_ptr<DownloadSink>(new DownloadSink());
    sink->out_ = out;
    if (path.empty() || path == "-") return sink;
    sink->path_ = path;
    std::string tmpl = absl::StrCat(path, ".rosterctl-XXXXXX");
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    int fd = mkstemp(buf.data());  // mode 0600: roster files hold personal data
    if (fd < 0) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot create a file next to ", path, ": ", std::strerror(errno)));
    }
    sink->fd_ = fd;
    sink->temp_path_ = buf.data();
    return sink;
  }
  ~DownloadSink() { Discard(); }

  absl::Status Write(absl::string_view bytes) {
    if (fd_ < 0) {
      out_->write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      if (!*out_) return absl::DataLossError("cannot write to stdout");
      return absl::OkStatus();
    }
    while (!bytes.empty()) {
      ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return absl::ResourceExhaustedError(
            absl::StrCat("cannot write ", temp_path_, ": ", std::strerror(errno)));
      }
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }

  absl::Status Commit() {
    if (fd_ < 0) {
      out_->flush();
      return absl::OkStatus();
    }
    if (::fsync(fd_) != 0 || ::close(fd_) != 0) {
      fd_ = -1;
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot write ", temp_path_, ": ", std::strerror(errno)));
    }
    fd_ = -1;
    if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot rename ", temp_path_, " to ", path_, ": ", std::strerror(errno)));
    }
    temp_path_.clear();
    return absl::OkStatus();
  }

  // Deletes the partial file. Bytes already written to stdout cannot be taken back.
  void Discard() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
    temp_path_.clear();
  }

  bool to_file() const { return !path_.empty(); }

 private:
  DownloadSink() = default;
  std::ostream* out_ = nullptr;
  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
};

}  // namespace

absl::Status Runner::BackupsList() {
  ASSIGN_OR_RETURN(int64_t limit, Limit(50));
  v1::FileKind kind = v1::FILE_KIND_UNSPECIFIED;
  if (args_.Has("--kind")) {
    ASSIGN_OR_RETURN(kind, ParseFileKind(args_.Get("--kind"), "--kind"));
  }
  v1::ListFilesRequest base;
  base.set_tenant_id(Tenant());
  base.set_kind(kind);
  base.set_integration_id(args_.Get("--integration"));
  return List(
      limit, 500, ctx_.stubs->backup.get(), &v1::BackupService::StubInterface::ListFiles, base,
      [](v1::ListFilesResponse& r) { return r.mutable_files(); },
      {"FILE", "KIND", "NAME", "SIZE", "SHA256", "CREATED", "RUN", "INTEGRATION"},
      [](const v1::FileInfo& f) -> std::vector<std::string> {
        return {f.file_id(),
                FileKindName(f.kind()),
                f.name(),
                absl::StrCat(f.size_bytes()),
                ShortSha(f.sha256()),
                FormatTimestamp(f.created_at()),
                OrDash(f.run_id()),
                OrDash(f.integration_id())};
      },
      "files");
}

absl::Status Runner::BackupsRestore() {
  v1::RestoreBackupRequest request;
  request.set_tenant_id(Tenant());
  request.set_backup_file_id(args_.positionals[0]);
  request.set_preview(args_.Has("--preview"));
  if (args_.Has("--examples")) {
    ASSIGN_OR_RETURN(int64_t n, ParseInt(args_.Get("--examples"), "--examples", 0, 1000));
    request.set_examples_per_kind(static_cast<int32_t>(n));
  }
  v1::ImportSummary s;
  RETURN_IF_ERROR(Call(ctx_.stubs->roster.get(), &v1::RosterService::StubInterface::RestoreBackup,
                       request, &s, Deadline::kLong));
  const std::string preface =
      request.preview()
          ? absl::StrCat("Restore preview of backup ", SanitizeCell(request.backup_file_id()),
                         " (nothing changed):\n")
          : absl::StrCat("Restored backup ", SanitizeCell(request.backup_file_id()),
                         "; the roster before the restore is backup ", OrDash(s.backup_file_id()),
                         "\n\n");
  RETURN_IF_ERROR(PrintImportResult(s, /*diff=*/request.preview(), preface));
  return ImportOutcome(s, "restore");
}

absl::Status Runner::BackupsDownload() {
  return DownloadFile(args_.positionals[0], args_.Get("-o"));
}

absl::Status Runner::DownloadFile(const std::string& file_id, const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<DownloadSink> sink, DownloadSink::Open(path, &out_));
  v1::GetFileRequest request;
  request.set_tenant_id(Tenant());
  request.set_file_id(file_id);
  grpc::ClientContext c;
  SetDeadline(&c);  // bounds the whole transfer
  std::unique_ptr<grpc::ClientReaderInterface<v1::GetFileResponse>> reader =
      ctx_.stubs->backup->GetFile(&c, request);

  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr);
  v1::FileInfo info;
  bool have_info = false;
  int64_t received = 0;
  absl::Status local;  // a failure on our side; the call is cancelled
  v1::GetFileResponse message;
  while (reader->Read(&message)) {
    if (message.has_info()) {
      if (have_info) {
        local = absl::InternalError("the server sent the file's metadata twice");
        break;
      }
      info = message.info();
      have_info = true;
      continue;
    }
    if (!have_info) {
      local = absl::InternalError("the server sent data before the file's metadata");
      break;
    }
    const std::string& chunk = message.chunk();
    EVP_DigestUpdate(md.get(), chunk.data(), chunk.size());
    received += static_cast<int64_t>(chunk.size());
    local = sink->Write(chunk);
    if (!local.ok()) break;
  }
  if (!local.ok()) c.TryCancel();
  const grpc::Status finished = reader->Finish();
  absl::Status status = local.ok() ? FromGrpc(finished) : local;
  if (status.ok() && !have_info) {
    status = absl::InternalError("the server ended the download without the file's metadata");
  }
  if (status.ok()) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    EVP_DigestFinal_ex(md.get(), digest, &digest_len);
    const std::string sha = absl::BytesToHexString(
        absl::string_view(reinterpret_cast<const char*>(digest), digest_len));
    if (received != info.size_bytes()) {
      status = absl::DataLossError(absl::StrCat("received ", received, " bytes of file ",
                                                info.file_id(), ", expected ", info.size_bytes()));
    } else if (!info.sha256().empty() && absl::AsciiStrToLower(info.sha256()) != sha) {
      status = absl::DataLossError(absl::StrCat("file ", info.file_id(), " has SHA-256 ", sha,
                                                ", expected ", info.sha256()));
    }
  }
  if (!status.ok()) {
    sink->Discard();
    if (!sink->to_file() && received > 0) {
      err_ << "rosterctl: " << args_.command->FullName() << ": the " << received
           << " bytes already written to stdout are incomplete or corrupt; discard them\n";
    }
    return status;
  }
  RETURN_IF_ERROR(sink->Commit());
  if (sink->to_file()) {
    if (Json()) return PrintJson(info);
    out_ << "Wrote " << received << " bytes (" << FormatBytes(received) << ") of "
         << SanitizeCell(info.name()) << " to " << path << ", sha256 " << info.sha256() << "\n";
  }
  return absl::OkStatus();
}

}  // namespace rostersync::rosterctl::internal
