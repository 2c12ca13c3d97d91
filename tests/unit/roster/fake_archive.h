#pragma once

// An in-memory rostersync::Archive for tests: files by id, optional failure injection.
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/archive_client.h"

namespace rostersync::roster::testing {

class FakeArchive : public Archive {
 public:
  struct File {
    v1::FileInfo info;
    std::string bytes;
  };

  // Stores `bytes` directly; returns the file id.
  std::string Add(const std::string& tenant_id, v1::FileKind kind, const std::string& name,
                  const std::string& bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    File f;
    f.info.set_tenant_id(tenant_id);
    f.info.set_file_id(absl::StrCat("file_", ++next_));
    f.info.set_kind(kind);
    f.info.set_name(name);
    f.info.set_size_bytes(static_cast<int64_t>(bytes.size()));
    f.bytes = bytes;
    std::string id = f.info.file_id();
    files_[id] = std::move(f);
    return id;
  }

  const File* Get(const std::string& file_id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = files_.find(file_id);
    return it == files_.end() ? nullptr : &it->second;
  }

  size_t CountKind(v1::FileKind kind) {
    std::lock_guard<std::mutex> lock(mu_);
    size_t n = 0;
    for (const auto& [id, f] : files_) n += f.info.kind() == kind ? 1 : 0;
    return n;
  }

  // The next OpenWriter/Write fails with this status while set.
  void FailWrites(absl::Status status) { fail_writes_ = std::move(status); }
  // Read() hands out chunks of at most this many bytes.
  void set_chunk_size(size_t n) { chunk_size_ = n; }

  absl::StatusOr<std::unique_ptr<ArchiveWriter>> OpenWriter(
      const v1::PutFileHeader& header) override {
    if (!fail_writes_.ok()) return fail_writes_;
    return std::unique_ptr<ArchiveWriter>(new Writer(this, header));
  }

  absl::StatusOr<v1::FileInfo> Read(
      const std::string& tenant_id, const std::string& file_id,
      const std::function<absl::Status(std::string_view)>& sink) override {
    File f;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = files_.find(file_id);
      if (it == files_.end() || it->second.info.tenant_id() != tenant_id) {
        return absl::NotFoundError(absl::StrCat("file ", file_id, " not found"));
      }
      f = it->second;
    }
    std::string_view rest = f.bytes;
    while (!rest.empty()) {
      size_t n = std::min(rest.size(), chunk_size_);
      absl::Status s = sink(rest.substr(0, n));
      if (!s.ok()) return s;
      rest.remove_prefix(n);
    }
    return f.info;
  }

  absl::StatusOr<v1::FileInfo> Stat(const std::string& tenant_id,
                                    const std::string& file_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = files_.find(file_id);
    if (it == files_.end() || it->second.info.tenant_id() != tenant_id) {
      return absl::NotFoundError(absl::StrCat("file ", file_id, " not found"));
    }
    return it->second.info;
  }

 private:
  class Writer : public ArchiveWriter {
   public:
    Writer(FakeArchive* archive, v1::PutFileHeader header)
        : archive_(archive), header_(std::move(header)) {}
    absl::Status Write(std::string_view bytes) override {
      if (!archive_->fail_writes_.ok()) return archive_->fail_writes_;
      bytes_.append(bytes);
      return absl::OkStatus();
    }
    absl::StatusOr<v1::FileInfo> Finish() override {
      if (!archive_->fail_writes_.ok()) return archive_->fail_writes_;
      std::string id = archive_->Add(header_.tenant_id(), header_.kind(), header_.name(), bytes_);
      std::lock_guard<std::mutex> lock(archive_->mu_);
      File& f = archive_->files_[id];
      f.info.set_run_id(header_.run_id());
      f.info.set_integration_id(header_.integration_id());
      *f.info.mutable_labels() = header_.labels();
      return f.info;
    }

   private:
    FakeArchive* archive_;
    v1::PutFileHeader header_;
    std::string bytes_;
  };

  std::mutex mu_;
  std::map<std::string, File> files_;
  int next_ = 0;
  absl::Status fail_writes_;
  size_t chunk_size_ = 1 << 16;
};

}  // namespace rostersync::roster::testing
