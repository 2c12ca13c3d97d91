#include "services/backup/blob_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace rostersync::backup {
namespace {

constexpr char kIncoming[] = "incoming";

std::string ErrnoText(int err) { return std::strerror(err); }

absl::Status ErrnoStatus(int err, const std::string& what, const std::string& path) {
  std::string msg = absl::StrCat(what, " ", path, ": ", ErrnoText(err));
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(msg);
    case ENOENT:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::FailedPreconditionError(msg);
    default:
      return absl::InternalError(msg);
  }
}

absl::Status MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0750) == 0 || errno == EEXIST) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "stat", path);
    if (!S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(path, " exists and is not a folder"));
    }
    return absl::OkStatus();
  }
  return ErrnoStatus(errno, "mkdir", path);
}

absl::Status FsyncDir(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open folder", path);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus(err, "fsync folder", path);
  return absl::OkStatus();
}

}  // namespace

bool IsSha256Hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
    std::abort();  // out of memory or a broken OpenSSL: an invariant, not a runtime condition
  }
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::Update(std::string_view bytes) {
  if (!bytes.empty()) EVP_DigestUpdate(ctx_, bytes.data(), bytes.size());
}

std::string Sha256::HexDigest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, md, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
BlobWriter::BlobWriter(std::string blobs_dir, std::string temp_path, int fd)
    : blobs_dir_(std::move(blobs_dir)), temp_path_(std::move(temp_path)), fd_(fd) {}

BlobWriter::~BlobWriter() { Abort(); }

void BlobWriter::Abort() {
  if (done_) return;
  done_ = true;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(temp_path_.c_str());
}

absl::Status BlobWriter::Append(std::string_view bytes) {
  if (done_) return absl::FailedPreconditionError("blob writer already finished");
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      absl::Status st = ErrnoStatus(errno, "write", temp_path_);
      Abort();
      return st;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  hash_.Update(bytes);
  size_ += static_cast<int64_t>(bytes.size());
  return absl::OkStatus();
}

absl::StatusOr<BlobRef> BlobWriter::Commit(std::string_view expected_sha256) {
  if (done_) return absl::FailedPreconditionError("blob writer already finished");
  BlobRef ref{hash_.HexDigest(), size_};
  if (!expected_sha256.empty() && expected_sha256 != ref.sha256) {
    Abort();
    return absl::DataLossError(absl::StrCat("received bytes hash to ", ref.sha256,
                                            ", expected_sha256 is ", std::string(expected_sha256),
                                            "; nothing stored"));
  }
  if (::fsync(fd_) != 0) {
    absl::Status st = ErrnoStatus(errno, "fsync", temp_path_);
    Abort();
    return st;
  }
  if (::close(fd_) != 0) {
    int err = errno;
    fd_ = -1;
    absl::Status st = ErrnoStatus(err, "close", temp_path_);
    Abort();
    return st;
  }
  fd_ = -1;
  const std::string dir = absl::StrCat(blobs_dir_, "/", ref.sha256.substr(0, 2));
  struct stat st_dir;
  const bool new_dir = ::stat(dir.c_str(), &st_dir) != 0;
  if (absl::Status st = MakeDir(dir); !st.ok()) {
    Abort();
    return st;
  }
  if (new_dir) {
    if (absl::Status st = FsyncDir(blobs_dir_); !st.ok()) {
      Abort();
      return st;
    }
  }
  const std::string final_path = absl::StrCat(dir, "/", ref.sha256);
  if (::rename(temp_path_.c_str(), final_path.c_str()) != 0) {
    absl::Status st = ErrnoStatus(errno, "rename into", final_path);
    Abort();
    return st;
  }
  done_ = true;
  if (absl::Status st = FsyncDir(dir); !st.ok()) return st;
  return ref;
}

// ---------------------------------------------------------------------------------------------
BlobReader::BlobReader(std::string path, std::string file_label, BlobRef expected, int fd,
                       size_t max_chunk)
    : path_(std::move(path)),
      file_label_(std::move(file_label)),
      expected_(std::move(expected)),
      fd_(fd),
      max_chunk_(max_chunk == 0 ? BlobStore::kDefaultChunkBytes : max_chunk) {}

BlobReader::~BlobReader() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status BlobReader::ReadAhead() {
  ahead_.resize(max_chunk_);
  size_t got = 0;
  while (got < max_chunk_) {
    ssize_t n = ::read(fd_, ahead_.data() + got, max_chunk_ - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read blob", path_);
    }
    if (n == 0) {
      eof_ = true;
      break;
    }
    got += static_cast<size_t>(n);
  }
  ahead_.resize(got);
  hash_.Update(ahead_);
  size_ += static_cast<int64_t>(got);
  if (size_ > expected_.size_bytes) {
    return absl::DataLossError(absl::StrCat("archive blob of ", file_label_, " is longer than ",
                                            expected_.size_bytes, " bytes (", path_, ")"));
  }
  if (eof_) {
    std::string actual = hash_.HexDigest();
    if (size_ != expected_.size_bytes || actual != expected_.sha256) {
      return absl::DataLossError(absl::StrCat("archive blob of ", file_label_,
                                              " is corrupt: expected sha256 ", expected_.sha256,
                                              " (", expected_.size_bytes, " bytes), actual sha256 ",
                                              actual, " (", size_, " bytes) in ", path_));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> BlobReader::Next(std::string* chunk) {
  if (fd_ < 0) return absl::FailedPreconditionError("blob reader already failed");
  if (!primed_) {
    primed_ = true;
    if (absl::Status st = ReadAhead(); !st.ok()) return Fail(std::move(st));
  }
  // `ahead_` is empty only at the verified end (ReadAhead checks the hash when it meets EOF).
  if (ahead_.empty()) return false;
  std::string current = std::move(ahead_);
  ahead_.clear();
  // Hand out `current` only once we know whether it was the last chunk, and if so, only after
  // the whole blob checked out.
  if (!eof_) {
    if (absl::Status st = ReadAhead(); !st.ok()) return Fail(std::move(st));
  }
  *chunk = std::move(current);
  return true;
}

absl::Status BlobReader::Fail(absl::Status status) {
  ::close(fd_);
  fd_ = -1;
  ahead_.clear();
  return status;
}

// ---------------------------------------------------------------------------------------------
BlobStore::BlobStore(std::string root)
    : root_(std::move(root)), blobs_dir_(absl::StrCat(root_, "/blobs")) {}

absl::StatusOr<std::unique_ptr<BlobStore>> BlobStore::Open(const std::string& root,
                                                           int64_t stale_after_seconds) {
  if (root.empty()) return absl::InvalidArgumentError("archive_dir: must not be empty");
  auto store = std::unique_ptr<BlobStore>(new BlobStore(root));
  for (const std::string& dir :
       {root, store->blobs_dir_, absl::StrCat(store->blobs_dir_, "/", kIncoming)}) {
    absl::Status st = MakeDir(dir);
    if (!st.ok()) {
      return absl::FailedPreconditionError(absl::StrCat("archive_dir: ", st.message()));
    }
  }
  const std::string incoming = absl::StrCat(store->blobs_dir_, "/", kIncoming);
  if (::access(incoming.c_str(), W_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("archive_dir: ", incoming, " is not writable: ", ErrnoText(errno)));
  }
  // Remove uploads that a crash left behind.
  if (DIR* d = ::opendir(incoming.c_str())) {
    const time_t now = ::time(nullptr);
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string path = absl::StrCat(incoming, "/", name);
      struct stat st;
      if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
          now - st.st_mtime >= stale_after_seconds) {
        ::unlink(path.c_str());
      }
    }
    ::closedir(d);
  }
  return store;
}

absl::StatusOr<std::unique_ptr<BlobWriter>> BlobStore::NewWriter() {
  std::string tmpl = absl::StrCat(blobs_dir_, "/", kIncoming, "/upload-XXXXXX");
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  int fd = ::mkostemp(buf.data(), O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "create temp file in", tmpl);
  return std::unique_ptr<BlobWriter>(new BlobWriter(blobs_dir_, std::string(buf.data()), fd));
}

std::string BlobStore::PathFor(std::string_view sha256) const {
  const std::string hex(sha256);
  return absl::StrCat(blobs_dir_, "/", hex.substr(0, 2), "/", hex);
}

bool BlobStore::Exists(std::string_view sha256) const {
  if (!IsSha256Hex(sha256)) return false;
  struct stat st;
  return ::stat(PathFor(sha256).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

absl::StatusOr<std::unique_ptr<BlobReader>> BlobStore::OpenReader(const BlobRef& blob,
                                                                  const std::string& file_label,
                                                                  size_t max_chunk) {
  if (!IsSha256Hex(blob.sha256)) {
    return absl::DataLossError(absl::StrCat("catalog entry of ", file_label,
                                            " has a malformed sha256 '", blob.sha256, "'"));
  }
  const std::string path = PathFor(blob.sha256);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return absl::DataLossError(absl::StrCat("archive blob of ", file_label, " (sha256 ",
                                              blob.sha256, ") is missing: ", path));
    }
    return ErrnoStatus(errno, "open blob", path);
  }
  return std::unique_ptr<BlobReader>(new BlobReader(path, file_label, blob, fd, max_chunk));
}

}  // namespace rostersync::backup
