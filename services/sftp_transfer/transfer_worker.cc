#include "services/sftp_transfer/transfer_worker.h"

#include <fnmatch.h>
#include <openssl/evp.h>

#include <algorithm>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/queue_codec.h"
#include "common/time_util.h"
#include "services/sftp_transfer/credentials.h"
#include "services/sftp_transfer/sftp_metrics.h"

namespace rostersync::transfer {
namespace {

std::string OpName(v1::TransferJob::Op op) {
  switch (op) {
    case v1::TransferJob::OP_FETCH:
      return "fetch";
    case v1::TransferJob::OP_UPLOAD:
      return "upload";
    default:
      return "unspecified";
  }
}

std::string Outcome(v1::RunEvent::Type type) {
  switch (type) {
    case v1::RunEvent::TYPE_FETCHED:
      return "fetched";
    case v1::RunEvent::TYPE_NO_NEW_FILE:
      return "no_new_file";
    case v1::RunEvent::TYPE_UPLOADED:
      return "uploaded";
    case v1::RunEvent::TYPE_FAILED:
      return "failed";
    default:
      return "other";
  }
}

log::Fields JobFields(const v1::TransferJob& job) {
  return {{"job_id", job.job_id()},
          {"run_id", job.run_id()},
          {"tenant", job.tenant_id()},
          {"integration_id", job.integration_id()},
          {"op", OpName(job.op())}};
}

std::string Where(const v1::TransferJob& job) {
  int port = job.endpoint().port() > 0 ? job.endpoint().port() : 22;
  return absl::StrCat(job.endpoint().host(), ":", port);
}

std::string ContentTypeFor(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  if (absl::EndsWith(lower, ".csv")) return "text/csv";
  if (absl::EndsWith(lower, ".txt")) return "text/plain";
  return "application/octet-stream";
}

absl::Status ValidateJob(const v1::TransferJob& job) {
  if (job.integration_id().empty()) {
    return absl::InvalidArgumentError("transfer job: integration_id is empty");
  }
  if (job.endpoint().host().empty()) {
    return absl::InvalidArgumentError("transfer job: endpoint.host is empty");
  }
  if (job.endpoint().username().empty()) {
    return absl::InvalidArgumentError("transfer job: endpoint.username is empty");
  }
  switch (job.op()) {
    case v1::TransferJob::OP_FETCH:
      if (job.file_glob().empty()) {
        return absl::InvalidArgumentError("transfer job: OP_FETCH needs file_glob");
      }
      return absl::OkStatus();
    case v1::TransferJob::OP_UPLOAD:
      if (job.file_id().empty()) {
        return absl::InvalidArgumentError("transfer job: OP_UPLOAD needs file_id");
      }
      if (job.remote_name().empty() || job.remote_name() == "." || job.remote_name() == ".." ||
          absl::StrContains(job.remote_name(), "/")) {
        return absl::InvalidArgumentError(absl::StrCat(
            "transfer job: remote_name \"", job.remote_name(), "\" is not a plain file name"));
      }
      return absl::OkStatus();
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("transfer job: unsupported op ", static_cast<int>(job.op())));
  }
}

}  // namespace

bool IsIgnoredRemoteName(const std::string& name) {
  if (name.empty() || name[0] == '.') return true;
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  return absl::EndsWith(lower, ".part") || absl::EndsWith(lower, ".filepart") ||
         absl::EndsWith(lower, ".tmp");
}

std::vector<RemoteEntry> FetchCandidates(const std::vector<RemoteEntry>& entries,
                                         const std::string& glob) {
  std::vector<RemoteEntry> out;
  for (const RemoteEntry& e : entries) {
    if (!e.is_regular || IsIgnoredRemoteName(e.name)) continue;
    if (fnmatch(glob.c_str(), e.name.c_str(), FNM_PERIOD) != 0) continue;
    out.push_back(e);
  }
  std::sort(out.begin(), out.end(), [](const RemoteEntry& a, const RemoteEntry& b) {
    if (a.mtime != b.mtime) return a.mtime > b.mtime;
    return a.name > b.name;
  });
  return out;
}

v1::RunEvent NewEvent(const v1::TransferJob& job, v1::RunEvent::Type type) {
  v1::RunEvent event;
  event.set_event_id(absl::StrCat(job.job_id(), ":", v1::RunEvent::Type_Name(type)));
  event.set_job_id(job.job_id());
  event.set_tenant_id(job.tenant_id());
  event.set_run_id(job.run_id());
  event.set_type(type);
  *event.mutable_at() = ToProtoTime(absl::Now());
  return event;
}

TransferWorker::TransferWorker(SftpConnector* connector, Archive* archive, Publisher* publisher,
                               TransferLedger* ledger, const Sealer* sealer)
    : connector_(connector),
      archive_(archive),
      publisher_(publisher),
      ledger_(ledger),
      sealer_(sealer) {}

absl::Status TransferWorker::HandleDelivery(const Delivery& delivery) {
  auto job = DecodeQueueMessage<v1::TransferJob>(delivery.payload);
  if (!job.ok()) {
    log::Error("undecodable transfer job",
               {{"entry_id", delivery.id}, {"error", std::string(job.status().message())}});
    return job.status();
  }
  return Handle(*job);
}

absl::Status TransferWorker::Handle(const v1::TransferJob& job) {
  const std::string op = OpName(job.op());
  // Already done? Re-publish the same event.
  auto done = ledger_->FindJobResult(job.job_id());
  if (!done.ok()) {
    SftpMetrics::Get().Job(op, "retry");
    return done.status();
  }
  if (done->has_value()) {
    log::Info("transfer job already done; re-publishing its event", JobFields(job));
    auto published = publisher_->Publish(kEventsStream, EncodeQueueMessage(**done));
    return published.ok() ? absl::OkStatus() : published.status();
  }

  if (absl::Status st = ValidateJob(job); !st.ok()) return Failed(job, st);
  auto credentials = OpenCredentials(*sealer_, job.credentials(),
                                     absl::StrCat(job.tenant_id(), "/", job.integration_id()));
  if (!credentials.ok()) return Failed(job, credentials.status());

  log::Info("transfer job started", [&] {
    auto f = JobFields(job);
    f.push_back({"remote", Where(job)});
    f.push_back({"folder", job.remote_folder()});
    return f;
  }());
  auto session = connector_->Connect(job.endpoint(), *credentials, nullptr);
  WipeCredentials(*credentials);  // not needed once the session is authenticated
  if (!session.ok()) return Classify(job, session.status());
  if (job.op() == v1::TransferJob::OP_FETCH) return Fetch(job, **session);
  return Upload(job, **session);
}

absl::Status TransferWorker::Fetch(const v1::TransferJob& job, SftpSession& session) {
  auto entries = session.List(job.remote_folder());
  if (!entries.ok()) return Classify(job, entries.status());
  std::vector<RemoteEntry> candidates = FetchCandidates(*entries, job.file_glob());

  std::optional<RemoteEntry> pick;
  std::string remote_path;
  for (const RemoteEntry& e : candidates) {
    std::string path = JoinRemotePath(job.remote_folder(), e.name);
    auto seen = ledger_->IsProcessed(
        RemoteFileKey{job.tenant_id(), job.integration_id(), path, e.size, e.mtime});
    if (!seen.ok()) return Classify(job, seen.status());
    if (!*seen) {
      pick = e;
      remote_path = path;
      break;
    }
  }
  if (!pick.has_value()) {
    log::Info("no new file", [&] {
      auto f = JobFields(job);
      f.push_back({"glob", job.file_glob()});
      f.push_back({"candidates", std::to_string(candidates.size())});
      return f;
    }());
    return Finish(job, NewEvent(job, v1::RunEvent::TYPE_NO_NEW_FILE), std::nullopt);
  }

  v1::PutFileHeader header;
  header.set_tenant_id(job.tenant_id());
  header.set_kind(v1::FILE_KIND_SOURCE);
  header.set_name(pick->name);
  header.set_run_id(job.run_id());
  header.set_integration_id(job.integration_id());
  header.set_content_type(ContentTypeFor(pick->name));
  (*header.mutable_labels())["remote_path"] = remote_path;
  (*header.mutable_labels())["remote_host"] = Where(job);
  auto writer = archive_->OpenWriter(header);
  if (!writer.ok()) return Classify(job, writer.status());

  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> sha(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(sha.get(), EVP_sha256(), nullptr);
  auto bytes = session.Download(remote_path, [&](std::string_view chunk) {
    EVP_DigestUpdate(sha.get(), chunk.data(), chunk.size());
    return (*writer)->Write(chunk);
  });
  if (!bytes.ok()) {
    absl::Status st = bytes.status();
    if (absl::IsNotFound(st)) {
      // It was listed a moment ago: moved or replaced meanwhile. Try again later.
      st = absl::UnavailableError(
          absl::StrCat("remote file vanished while fetching: ", st.message()));
    }
    return Classify(job, st);
  }
  if (*bytes != pick->size) {
    return Classify(job, absl::UnavailableError(absl::StrCat(
                             "remote file ", remote_path, " changed while downloading (listed ",
                             pick->size, " bytes, read ", *bytes, "); will retry")));
  }
  auto info = (*writer)->Finish();
  if (!info.ok()) return Classify(job, info.status());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  EVP_DigestFinal_ex(sha.get(), digest, &digest_len);
  std::string sha256 =
      HexEncode(std::string_view(reinterpret_cast<const char*>(digest), digest_len));
  if (!info->sha256().empty() && info->sha256() != sha256) {
    return Classify(job, absl::UnavailableError(absl::StrCat(
                             "archive stored SHA-256 ", info->sha256(), " for ", remote_path,
                             " but ", sha256, " was downloaded; will retry")));
  }

  v1::RunEvent event = NewEvent(job, v1::RunEvent::TYPE_FETCHED);
  event.set_file_id(info->file_id());
  event.set_remote_path(remote_path);
  event.set_bytes(*bytes);
  ProcessedFile file{
      RemoteFileKey{job.tenant_id(), job.integration_id(), remote_path, pick->size, pick->mtime},
      sha256, info->file_id(), job.job_id()};
  return Finish(job, std::move(event), file);
}

absl::Status TransferWorker::Upload(const v1::TransferJob& job, SftpSession& session) {
  absl::Status archive_status;
  auto bytes = session.Upload(job.remote_folder(), job.remote_name(),
                              [&](const ByteSink& sink) -> absl::Status {
                                auto info = archive_->Read(job.tenant_id(), job.file_id(), sink);
                                archive_status = info.status();
                                return info.status();
                              });
  if (!bytes.ok()) {
    absl::Status st = bytes.status();
    if (!archive_status.ok()) {
      st = absl::Status(archive_status.code(), absl::StrCat("archive file ", job.file_id(), ": ",
                                                            archive_status.message()));
    }
    return Classify(job, st);
  }
  v1::RunEvent event = NewEvent(job, v1::RunEvent::TYPE_UPLOADED);
  event.set_file_id(job.file_id());
  event.set_remote_path(JoinRemotePath(job.remote_folder(), job.remote_name()));
  event.set_bytes(*bytes);
  return Finish(job, std::move(event), std::nullopt);
}

absl::Status TransferWorker::Finish(const v1::TransferJob& job, v1::RunEvent event,
                                    const std::optional<ProcessedFile>& file) {
  const std::string op = OpName(job.op());
  absl::StatusOr<v1::RunEvent> recorded = ledger_->RecordJobResult(event, file);
  if (!recorded.ok()) {
    SftpMetrics::Get().Job(op, "retry");
    log::Warn("cannot record transfer job result; will retry", [&] {
      auto f = JobFields(job);
      f.push_back({"error", std::string(recorded.status().message())});
      return f;
    }());
    return recorded.status();
  }
  if (recorded->SerializeAsString() != event.SerializeAsString()) {
    // Another delivery of this job finished first: publish its event, never a second one.
    log::Warn("transfer job finished concurrently by another delivery; publishing its event",
              JobFields(job));
    event = *std::move(recorded);
  }
  auto published = publisher_->Publish(kEventsStream, EncodeQueueMessage(event));
  if (!published.ok()) {
    SftpMetrics::Get().Job(op, "retry");
    return published.status();
  }
  SftpMetrics::Get().Job(op, Outcome(event.type()));
  log::Info("transfer job done", [&] {
    auto f = JobFields(job);
    f.push_back({"event", v1::RunEvent::Type_Name(event.type())});
    if (!event.remote_path().empty()) f.push_back({"remote_path", event.remote_path()});
    if (!event.file_id().empty()) f.push_back({"file_id", event.file_id()});
    f.push_back({"bytes", std::to_string(event.bytes())});
    if (!event.error().empty()) f.push_back({"error", event.error()});
    return f;
  }());
  return absl::OkStatus();
}

absl::Status TransferWorker::Failed(const v1::TransferJob& job, const absl::Status& cause) {
  v1::RunEvent event = NewEvent(job, v1::RunEvent::TYPE_FAILED);
  event.set_error(absl::StrCat(OpName(job.op()), " ", Where(job), ": ", cause.message()));
  return Finish(job, std::move(event), std::nullopt);
}

absl::Status TransferWorker::Classify(const v1::TransferJob& job, const absl::Status& status) {
  if (IsTransient(status)) {
    SftpMetrics::Get().Job(OpName(job.op()), "retry");
    log::Warn("transfer job failed transiently; it will be redelivered", [&] {
      auto f = JobFields(job);
      f.push_back({"error", std::string(status.message())});
      return f;
    }());
    return status;
  }
  return Failed(job, status);
}

}  // namespace rostersync::transfer
