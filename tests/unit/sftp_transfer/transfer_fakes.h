#pragma once

// In-memory Archive, Publisher and TransferLedger for TransferWorker tests (unit tests with a
// fake SFTP session, integration tests against the real sshd fixture).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/time/clock.h"
#include "common/archive_client.h"
#include "common/queue_codec.h"
#include "common/redis_queue.h"
#include "services/sftp_transfer/transfer_ledger.h"

namespace rostersync::transfer::testing {

class FakeArchive : public Archive {
 public:
  struct Stored {
    v1::FileInfo info;
    std::string bytes;
  };
  class Writer : public ArchiveWriter {
   public:
    Writer(FakeArchive* archive, v1::PutFileHeader header) : archive_(archive), header_(header) {}
    ~Writer() override {
      if (!finished_) ++archive_->abandoned;
    }
    absl::Status Write(std::string_view bytes) override {
      data_.append(bytes.data(), bytes.size());
      if (archive_->on_write) archive_->on_write();
      return absl::OkStatus();
    }
    absl::StatusOr<v1::FileInfo> Finish() override {
      v1::FileInfo info;
      info.set_tenant_id(header_.tenant_id());
      info.set_file_id("file_" + std::to_string(archive_->files.size() + 1));
      info.set_kind(header_.kind());
      info.set_name(header_.name());
      info.set_size_bytes(static_cast<int64_t>(data_.size()));
      info.set_run_id(header_.run_id());
      archive_->files[info.file_id()] = Stored{info, data_};
      finished_ = true;
      return info;
    }

   private:
    FakeArchive* archive_;
    v1::PutFileHeader header_;
    std::string data_;
    bool finished_ = false;
  };

  absl::StatusOr<std::unique_ptr<ArchiveWriter>> OpenWriter(
      const v1::PutFileHeader& header) override {
    if (!open_error.ok()) return open_error;
    return std::unique_ptr<ArchiveWriter>(new Writer(this, header));
  }
  absl::StatusOr<v1::FileInfo> Read(
      const std::string& tenant_id, const std::string& file_id,
      const std::function<absl::Status(std::string_view)>& sink) override {
    auto it = files.find(file_id);
    if (it == files.end() || it->second.info.tenant_id() != tenant_id) {
      return absl::NotFoundError("no file " + file_id);
    }
    const std::string& bytes = it->second.bytes;
    size_t chunk = read_chunk > 0 ? read_chunk : std::max<size_t>(bytes.size(), 1);
    for (size_t off = 0; off < bytes.size(); off += chunk) {
      if (auto st = sink(std::string_view(bytes).substr(off, chunk)); !st.ok()) return st;
      if (on_read_chunk) on_read_chunk();
    }
    return it->second.info;
  }
  absl::StatusOr<v1::FileInfo> Stat(const std::string& tenant_id,
                                    const std::string& file_id) override {
    auto it = files.find(file_id);
    if (it == files.end()) return absl::NotFoundError("no file " + file_id);
    return it->second.info;
  }

  // Adds a finished file directly (for uploads).
  std::string Add(const std::string& tenant_id, const std::string& name, std::string bytes) {
    v1::FileInfo info;
    info.set_tenant_id(tenant_id);
    info.set_file_id("file_" + std::to_string(files.size() + 1));
    info.set_name(name);
    info.set_size_bytes(static_cast<int64_t>(bytes.size()));
    files[info.file_id()] = Stored{info, std::move(bytes)};
    return info.file_id();
  }

  std::map<std::string, Stored> files;
  absl::Status open_error;
  std::function<void()> on_write;       // called after each Write() of any writer
  int abandoned = 0;                    // writers destroyed without Finish()
  size_t read_chunk = 0;                // Read() delivers this many bytes per sink call (0: all)
  std::function<void()> on_read_chunk;  // called after each chunk Read() delivered
};

class FakePublisher : public Publisher {
 public:
  absl::StatusOr<std::string> Publish(std::string_view stream, std::string_view payload) override {
    if (!error.ok()) return error;
    published.emplace_back(std::string(stream), std::string(payload));
    return std::to_string(published.size()) + "-0";
  }
  std::vector<v1::RunEvent> Events() const {
    std::vector<v1::RunEvent> out;
    for (const auto& [stream, payload] : published) {
      EXPECT_EQ(stream, kEventsStream);
      out.push_back(DecodeQueueMessage<v1::RunEvent>(payload).value());
    }
    return out;
  }
  std::vector<std::pair<std::string, std::string>> published;
  absl::Status error;
};

class FakeLedger : public TransferLedger {
 public:
  absl::StatusOr<std::optional<v1::RunEvent>> FindJobResult(const std::string& job_id) override {
    if (hide_results_once) {
      // Simulates a concurrent delivery that records its result after this one looked.
      hide_results_once = false;
      return std::optional<v1::RunEvent>();
    }
    auto it = results.find(job_id);
    if (it == results.end()) return std::optional<v1::RunEvent>();
    return std::optional<v1::RunEvent>(it->second);
  }
  absl::StatusOr<bool> IsProcessed(const RemoteFileKey& key) override {
    return processed.count(Key(key)) > 0;
  }
  absl::StatusOr<std::optional<ProcessedFile>> FindBySha256(const std::string& tenant_id,
                                                            const std::string& integration_id,
                                                            const std::string& sha256) override {
    for (const ProcessedFile& f : files) {
      if (f.key.tenant_id == tenant_id && f.key.integration_id == integration_id &&
          f.sha256 == sha256) {
        return std::optional<ProcessedFile>(f);
      }
    }
    return std::optional<ProcessedFile>();
  }
  absl::Status RecordDuplicate(const ProcessedFile& file) override {
    processed.insert(Key(file.key));
    duplicates.push_back(file);
    return absl::OkStatus();
  }
  absl::StatusOr<v1::RunEvent> RecordJobResult(const v1::RunEvent& event,
                                               const std::optional<ProcessedFile>& file) override {
    auto [it, inserted] = results.emplace(event.job_id(), event);
    if (!inserted) return it->second;  // first result wins, like PgTransferLedger
    if (file) {
      processed.insert(Key(file->key));
      files.push_back(*file);
    }
    return event;
  }
  absl::StatusOr<std::vector<ForgottenFile>> Forget(const std::string& tenant_id,
                                                    const std::string& integration_id,
                                                    const std::string& remote_path,
                                                    const std::string& sha256) override {
    std::set<std::string> shas;
    for (const ProcessedFile& f : files) {
      if (f.key.tenant_id == tenant_id && f.key.integration_id == integration_id &&
          (remote_path.empty() || f.key.remote_path == remote_path) &&
          (sha256.empty() || f.sha256 == sha256)) {
        shas.insert(f.sha256);
      }
    }
    std::vector<ForgottenFile> out;
    auto forget = [&](std::vector<ProcessedFile>& list) {
      for (auto it = list.begin(); it != list.end();) {
        if (it->key.tenant_id == tenant_id && it->key.integration_id == integration_id &&
            shas.count(it->sha256) > 0) {
          processed.erase(Key(it->key));
          out.push_back(ForgottenFile{*it, absl::Now()});
          it = list.erase(it);
        } else {
          ++it;
        }
      }
    };
    forget(files);
    forget(duplicates);
    return out;
  }
  static std::tuple<std::string, std::string, std::string, int64_t, int64_t> Key(
      const RemoteFileKey& k) {
    return {k.tenant_id, k.integration_id, k.remote_path, k.size, k.mtime};
  }
  std::set<std::tuple<std::string, std::string, std::string, int64_t, int64_t>> processed;
  std::map<std::string, v1::RunEvent> results;
  std::vector<ProcessedFile> files;
  std::vector<ProcessedFile> duplicates;
  bool hide_results_once = false;
};

}  // namespace rostersync::transfer::testing
