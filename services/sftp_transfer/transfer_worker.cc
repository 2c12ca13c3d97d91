#include "services/sftp_transfer/transfer_worker.h"

#include <fnmatch.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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

std::string OutcomeName(v1::RunEvent::Type type) {
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
      if (job.fetch().stability_interval_ms() < 0 || job.fetch().min_age_s() < 0) {
        return absl::InvalidArgumentError(
            "transfer job: fetch.stability_interval_ms and fetch.min_age_s must not be negative");
      }
      if (job.fetch().after_fetch() == v1::FetchOptions::AFTER_FETCH_MOVE &&
          job.fetch().archive_folder().empty()) {
        return absl::InvalidArgumentError(
            "transfer job: fetch.after_fetch AFTER_FETCH_MOVE needs fetch.archive_folder");
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

std::vector<RemoteEntry> SelectFetchCandidates(const std::vector<RemoteEntry>& entries,
                                               const std::string& glob,
                                               const v1::FetchOptions& options, absl::Time now) {
  const std::string& marker = options.done_marker_suffix();
  std::set<std::string> names;
  for (const RemoteEntry& e : entries) {
    if (e.is_regular) names.insert(e.name);
  }
  const int64_t now_s = absl::ToUnixSeconds(now);
  std::vector<RemoteEntry> out;
  for (const RemoteEntry& e : FetchCandidates(entries, glob)) {
    if (!marker.empty()) {
      if (absl::EndsWith(e.name, marker)) continue;  // a marker itself
      if (names.count(e.name + marker) == 0) continue;
    }
    if (options.min_age_s() > 0 && now_s - e.mtime < options.min_age_s()) continue;
    out.push_back(e);
  }
  if (options.order() == v1::FetchOptions::ORDER_OLDEST_FIRST) {
    std::sort(out.begin(), out.end(), [](const RemoteEntry& a, const RemoteEntry& b) {
      if (a.mtime != b.mtime) return a.mtime < b.mtime;
      return a.name < b.name;
    });
  }
  return out;
}

absl::StatusOr<std::string> RenderDatedName(const std::string& name, const std::string& time_zone,
                                            absl::Time now) {
  absl::TimeZone tz = absl::UTCTimeZone();
  if (!time_zone.empty() && !absl::LoadTimeZone(time_zone, &tz)) {
    return absl::InvalidArgumentError(
        absl::StrCat("transfer job: time_zone \"", time_zone, "\" is not a known IANA zone"));
  }
  std::string out;
  size_t pos = 0;
  while (pos < name.size()) {
    size_t open = name.find('{', pos);
    if (open == std::string::npos) {
      if (name.find('}', pos) != std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("remote name \"", name, "\": \"}\" without \"{\""));
      }
      out.append(name, pos, std::string::npos);
      break;
    }
    if (name.find('}', pos) < open) {
      return absl::InvalidArgumentError(
          absl::StrCat("remote name \"", name, "\": \"}\" without \"{\""));
    }
    out.append(name, pos, open - pos);
    size_t close = name.find('}', open);
    if (close == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("remote name \"", name, "\": \"{\" without \"}\""));
    }
    std::string pattern = name.substr(open + 1, close - open - 1);
    std::string format;
    static const std::pair<const char*, const char*> kTokens[] = {
        {"yyyy", "%Y"}, {"yy", "%y"}, {"MM", "%m"}, {"dd", "%d"},
        {"HH", "%H"},   {"mm", "%M"}, {"ss", "%S"}};
    size_t i = 0;
    while (i < pattern.size()) {
      bool matched = false;
      for (const auto& [token, spec] : kTokens) {
        if (pattern.compare(i, std::strlen(token), token) == 0) {
          format += spec;
          i += std::strlen(token);
          matched = true;
          break;
        }
      }
      if (matched) continue;
      char c = pattern[i];
      if (c == '-' || c == '_' || c == '.') {
        format.push_back(c);
        ++i;
        continue;
      }
      return absl::InvalidArgumentError(
          absl::StrCat("remote name \"", name, "\": unknown date pattern \"{", pattern,
                       "}\" (use yyyy, yy, MM, dd, HH, mm, ss and - _ .)"));
    }
    if (format.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("remote name \"", name, "\": empty date pattern \"{}\""));
    }
    out += absl::FormatTime(format, now, tz);
    pos = close + 1;
  }
  return out;
}

absl::Duration RetryBackoff(const RetryPolicy& policy, int retry, double jitter) {
  double factor = std::pow(2.0, std::max(0, retry - 1));
  absl::Duration full = std::min(policy.max_backoff, policy.initial_backoff * factor);
  jitter = std::clamp(jitter, 0.0, 1.0);
  return full * (0.5 + 0.5 * jitter);
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
                               TransferLedger* ledger, const Sealer* sealer, WorkerOptions options)
    : connector_(connector),
      archive_(archive),
      publisher_(publisher),
      ledger_(ledger),
      sealer_(sealer),
      options_(std::move(options)) {}

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
  struct Wipe {
    v1::Credentials& c;
    ~Wipe() { WipeCredentials(c); }
  } wipe{*credentials};
  std::mt19937_64 rng(std::random_device{}());
  const int max_attempts = std::max(1, options_.retry.max_attempts);
  for (int attempt = 1;; ++attempt) {
    auto session = connector_->Connect(job.endpoint(), *credentials, nullptr);
    absl::StatusOr<Outcome> outcome = !session.ok() ? absl::StatusOr<Outcome>(session.status())
                                      : job.op() == v1::TransferJob::OP_FETCH
                                          ? Fetch(job, **session)
                                          : Upload(job, **session);
    if (outcome.ok()) {
      WipeCredentials(*credentials);
      // The key this session saw: with trust on first use and no pin, the one to pin.
      outcome->event.set_host_key_type((*session)->host_key().type);
      outcome->event.set_host_key_sha256((*session)->host_key().sha256);
      std::string fetched = outcome->fetched_name;
      return Finish(job, std::move(outcome->event), outcome->file, [&] {
        if (!fetched.empty()) AfterFetch(job, **session, fetched);
      });
    }
    if (!IsTransient(outcome.status()) || attempt >= max_attempts) {
      return Classify(job, outcome.status());
    }
    absl::Duration wait =
        RetryBackoff(options_.retry, attempt, std::uniform_real_distribution<double>(0, 1)(rng));
    SftpMetrics::Get().Job(op, "attempt_retry");
    log::Warn("transfer attempt failed transiently; retrying on a new connection", [&] {
      auto f = JobFields(job);
      f.push_back({"attempt", std::to_string(attempt)});
      f.push_back({"max_attempts", std::to_string(max_attempts)});
      f.push_back({"backoff_ms", std::to_string(absl::ToInt64Milliseconds(wait))});
      f.push_back({"error", std::string(outcome.status().message())});
      return f;
    }());
    session = absl::UnavailableError("closed");  // drop the broken session before waiting
    options_.sleep(wait);
  }
}

absl::StatusOr<TransferWorker::Outcome> TransferWorker::Fetch(const v1::TransferJob& job,
                                                              SftpSession& session) {
  const v1::FetchOptions& fo = job.fetch();
  auto entries = session.List(job.remote_folder());
  if (!entries.ok()) return entries.status();
  std::vector<RemoteEntry> candidates =
      SelectFetchCandidates(*entries, job.file_glob(), fo, options_.now());
  std::vector<std::string> notes;
  if (fo.stability_interval_ms() > 0 && !candidates.empty()) {
    // Wait in slices with a keepalive between them, so a long interval does not idle out.
    absl::Duration left = absl::Milliseconds(fo.stability_interval_ms());
    while (left > absl::ZeroDuration()) {
      absl::Duration slice = std::min(left, absl::Seconds(10));
      options_.sleep(slice);
      left -= slice;
      if (left > absl::ZeroDuration()) {
        absl::Status alive = session.KeepAlive();
        if (!alive.ok()) return alive;
      }
    }
    auto again = session.List(job.remote_folder());
    if (!again.ok()) return again.status();
    std::vector<RemoteEntry> stable;
    for (const RemoteEntry& e : candidates) {
      auto it = std::find_if(again->begin(), again->end(),
                             [&](const RemoteEntry& a) { return a.name == e.name; });
      if (it != again->end() && it->size == e.size && it->mtime == e.mtime && it->is_regular) {
        stable.push_back(e);
      } else {
        notes.push_back(absl::StrCat(JoinRemotePath(job.remote_folder(), e.name),
                                     " is still changing; left for a later run"));
      }
    }
    candidates = std::move(stable);
  }

  for (const RemoteEntry& pick : candidates) {
    const std::string remote_path = JoinRemotePath(job.remote_folder(), pick.name);
    const RemoteFileKey key{job.tenant_id(), job.integration_id(), remote_path, pick.size,
                            pick.mtime};
    auto seen = ledger_->IsProcessed(key);
    if (!seen.ok()) return seen.status();
    if (*seen) continue;

    v1::PutFileHeader header;
    header.set_tenant_id(job.tenant_id());
    header.set_kind(v1::FILE_KIND_SOURCE);
    header.set_name(pick.name);
    header.set_run_id(job.run_id());
    header.set_integration_id(job.integration_id());
    header.set_content_type(ContentTypeFor(pick.name));
    (*header.mutable_labels())["remote_path"] = remote_path;
    (*header.mutable_labels())["remote_host"] = Where(job);
    auto writer = archive_->OpenWriter(header);
    if (!writer.ok()) return writer.status();

    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> sha(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    EVP_DigestInit_ex(sha.get(), EVP_sha256(), nullptr);
    auto bytes = session.Download(remote_path, [&](std::string_view chunk) {
      EVP_DigestUpdate(sha.get(), chunk.data(), chunk.size());
      return (*writer)->Write(chunk);
    });
    // On any error below, `writer` is destroyed unfinished: the archive upload is abandoned.
    if (!bytes.ok()) {
      absl::Status st = bytes.status();
      if (absl::IsNotFound(st)) {
        // It was listed a moment ago: moved or replaced meanwhile. Try again later.
        st = absl::UnavailableError(
            absl::StrCat("remote file vanished while fetching: ", st.message()));
      }
      return st;
    }
    if (*bytes != pick.size) {
      return absl::UnavailableError(absl::StrCat("remote file ", remote_path,
                                                 " changed while downloading (listed ", pick.size,
                                                 " bytes, read ", *bytes, "); will retry"));
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    EVP_DigestFinal_ex(sha.get(), digest, &digest_len);
    std::string sha256 =
        HexEncode(std::string_view(reinterpret_cast<const char*>(digest), digest_len));

    auto same = ledger_->FindBySha256(job.tenant_id(), job.integration_id(), sha256);
    if (!same.ok()) return same.status();
    if (same->has_value()) {
      writer->reset();  // abandon the archive upload: never hand the content over twice
      absl::Status recorded =
          ledger_->RecordDuplicate(ProcessedFile{key, sha256, (*same)->file_id, job.job_id()});
      if (!recorded.ok()) return recorded;
      std::string note =
          absl::StrCat(remote_path, " has the same content (SHA-256 ", sha256, ") as ",
                       (*same)->key.remote_path, ", imported before; skipped and left in place");
      log::Warn("duplicate remote file skipped", [&] {
        auto f = JobFields(job);
        f.push_back({"remote_path", remote_path});
        f.push_back({"same_as", (*same)->key.remote_path});
        f.push_back({"sha256", sha256});
        return f;
      }());
      notes.push_back(std::move(note));
      continue;
    }

    auto info = (*writer)->Finish();
    if (!info.ok()) return info.status();
    if (!info->sha256().empty() && info->sha256() != sha256) {
      return absl::UnavailableError(absl::StrCat("archive stored SHA-256 ", info->sha256(), " for ",
                                                 remote_path, " but ", sha256,
                                                 " was downloaded; will retry"));
    }
    Outcome outcome;
    outcome.event = NewEvent(job, v1::RunEvent::TYPE_FETCHED);
    outcome.event.set_file_id(info->file_id());
    outcome.event.set_remote_path(remote_path);
    outcome.event.set_bytes(*bytes);
    outcome.event.set_note(absl::StrJoin(notes, "; "));
    outcome.file = ProcessedFile{key, sha256, info->file_id(), job.job_id()};
    outcome.fetched_name = pick.name;
    return outcome;
  }

  log::Info("no new file", [&] {
    auto f = JobFields(job);
    f.push_back({"glob", job.file_glob()});
    f.push_back({"candidates", std::to_string(candidates.size())});
    return f;
  }());
  Outcome outcome;
  outcome.event = NewEvent(job, v1::RunEvent::TYPE_NO_NEW_FILE);
  outcome.event.set_note(absl::StrJoin(notes, "; "));
  return outcome;
}

void TransferWorker::AfterFetch(const v1::TransferJob& job, SftpSession& session,
                                const std::string& name) {
  const v1::FetchOptions& fo = job.fetch();
  std::vector<std::string> names = {name};
  if (!fo.done_marker_suffix().empty()) names.push_back(name + fo.done_marker_suffix());
  for (const std::string& n : names) {
    const std::string path = JoinRemotePath(job.remote_folder(), n);
    absl::Status st;
    switch (fo.after_fetch()) {
      case v1::FetchOptions::AFTER_FETCH_MOVE:
        st = session.Rename(path, JoinRemotePath(fo.archive_folder(), n));
        break;
      case v1::FetchOptions::AFTER_FETCH_DELETE:
        st = session.Remove(path);
        break;
      default:
        return;
    }
    if (!st.ok()) {
      log::Warn(
          "cannot move or delete the fetched file; it stays (the ledger keeps it from "
          "being imported again)",
          [&] {
            auto f = JobFields(job);
            f.push_back({"remote_path", path});
            f.push_back({"error", std::string(st.message())});
            return f;
          }());
    }
  }
}

absl::StatusOr<TransferWorker::Outcome> TransferWorker::Upload(const v1::TransferJob& job,
                                                               SftpSession& session) {
  auto name = RenderDatedName(job.remote_name(), job.time_zone(), options_.now());
  if (!name.ok()) return name.status();
  if (name->empty() || *name == "." || *name == ".." || absl::StrContains(*name, "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("transfer job: remote_name \"", *name, "\" is not a plain file name"));
  }
  absl::Status archive_status;  // the archive's own failure, not the upload's
  auto bytes = session.Upload(job.remote_folder(), *name, job.upload(),
                              [&](const ByteSink& sink) -> absl::Status {
                                absl::Status sink_status;
                                auto info = archive_->Read(
                                    job.tenant_id(), job.file_id(),
                                    [&](std::string_view chunk) {
                                      sink_status = sink(chunk);
                                      return sink_status;
                                    });
                                // A sink failure is the SFTP side's, reported by Upload.
                                if (sink_status.ok()) archive_status = info.status();
                                return info.status();
                              });
  if (!bytes.ok()) {
    absl::Status st = bytes.status();
    if (!archive_status.ok()) {
      st = absl::Status(archive_status.code(), absl::StrCat("archive file ", job.file_id(), ": ",
                                                            archive_status.message()));
    }
    return st;
  }
  Outcome outcome;
  outcome.event = NewEvent(job, v1::RunEvent::TYPE_UPLOADED);
  outcome.event.set_file_id(job.file_id());
  outcome.event.set_remote_path(JoinRemotePath(job.remote_folder(), *name));
  outcome.event.set_bytes(*bytes);
  return outcome;
}

absl::Status TransferWorker::Finish(const v1::TransferJob& job, v1::RunEvent event,
                                    const std::optional<ProcessedFile>& file,
                                    const std::function<void()>& after_record) {
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
  } else if (after_record) {
    after_record();
  }
  auto published = publisher_->Publish(kEventsStream, EncodeQueueMessage(event));
  if (!published.ok()) {
    SftpMetrics::Get().Job(op, "retry");
    return published.status();
  }
  SftpMetrics::Get().Job(op, event.retryable() ? "failed_retryable" : OutcomeName(event.type()));
  log::Info("transfer job done", [&] {
    auto f = JobFields(job);
    f.push_back({"event", v1::RunEvent::Type_Name(event.type())});
    if (!event.remote_path().empty()) f.push_back({"remote_path", event.remote_path()});
    if (!event.file_id().empty()) f.push_back({"file_id", event.file_id()});
    f.push_back({"bytes", std::to_string(event.bytes())});
    if (!event.error().empty()) f.push_back({"error", event.error()});
    if (!event.note().empty()) f.push_back({"note", event.note()});
    return f;
  }());
  return absl::OkStatus();
}

absl::Status TransferWorker::Failed(const v1::TransferJob& job, const absl::Status& cause,
                                    bool retryable) {
  v1::RunEvent event = NewEvent(job, v1::RunEvent::TYPE_FAILED);
  event.set_error(absl::StrCat(OpName(job.op()), " ", Where(job), ": ", cause.message()));
  event.set_retryable(retryable);
  return Finish(job, std::move(event), std::nullopt);
}

absl::Status TransferWorker::Classify(const v1::TransferJob& job, const absl::Status& status) {
  const bool transient = IsTransient(status);
  if (transient) {
    log::Warn("transfer job failed transiently; the scheduler may retry the step", [&] {
      auto f = JobFields(job);
      f.push_back({"error", std::string(status.message())});
      return f;
    }());
  }
  return Failed(job, status, /*retryable=*/transient);
}

}  // namespace rostersync::transfer
