#pragma once

// Content-addressed blobs on a local volume:
//   <root>/blobs/<first two hex digits>/<sha256>     (one file per distinct content)
//   <root>/blobs/incoming/<random>.tmp                (uploads in progress)
// A blob is written to a temp name under blobs/, fsynced, renamed into place and its folder
// fsynced, so a crash leaves either the whole blob or nothing under its name. Storing the same
// content twice leaves one file (the rename replaces it with identical bytes, which also heals
// a damaged copy). Readers verify size and SHA-256 while streaming.
#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rostersync::backup {

// What a committed blob is: its content address and size.
struct BlobRef {
  std::string sha256;  // lowercase hex
  int64_t size_bytes = 0;
};

// Incremental SHA-256 (OpenSSL EVP).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(std::string_view bytes);
  std::string HexDigest();  // finalizes; call once

 private:
  EVP_MD_CTX* ctx_;
};

// One upload in progress. Append() as often as needed, then Commit(). Destroying a writer that
// was not committed removes its temp file: nothing is stored.
class BlobWriter {
 public:
  ~BlobWriter();
  BlobWriter(const BlobWriter&) = delete;
  BlobWriter& operator=(const BlobWriter&) = delete;

  absl::Status Append(std::string_view bytes);
  // fsync, rename to the content address, fsync the folder. When `expected_sha256` is not
  // empty and differs from the content's hash, nothing is stored and DATA_LOSS is returned.
  absl::StatusOr<BlobRef> Commit(std::string_view expected_sha256 = "");
  // Drops the upload (also done by the destructor).
  void Abort();

  int64_t bytes_written() const { return size_; }

 private:
  friend class BlobStore;
  BlobWriter(std::string blobs_dir, std::string temp_path, int fd);

  std::string blobs_dir_;
  std::string temp_path_;
  int fd_ = -1;
  int64_t size_ = 0;
  Sha256 hash_;
  bool done_ = false;
};

// Streams one blob. The last chunk is only handed out after the whole content's size and
// SHA-256 have been checked, so a reader of a damaged blob never sees a complete-looking file.
class BlobReader {
 public:
  ~BlobReader();
  BlobReader(const BlobReader&) = delete;
  BlobReader& operator=(const BlobReader&) = delete;

  // Replaces `*chunk` with the next up to `max_chunk` bytes and returns true, or returns false
  // at the (verified) end. DATA_LOSS naming the file and both hashes on a mismatch.
  absl::StatusOr<bool> Next(std::string* chunk);

 private:
  friend class BlobStore;
  BlobReader(std::string path, std::string file_label, BlobRef expected, int fd, size_t max_chunk);
  absl::Status ReadAhead();
  absl::Status Fail(absl::Status status);

  std::string path_;
  std::string file_label_;
  BlobRef expected_;
  int fd_ = -1;
  size_t max_chunk_;
  std::string ahead_;
  bool primed_ = false;
  bool eof_ = false;
  int64_t size_ = 0;
  Sha256 hash_;
};

class BlobStore {
 public:
  static constexpr size_t kDefaultChunkBytes = 256 * 1024;

  // Creates <root>/blobs and <root>/blobs/incoming if missing and removes temp files left by
  // uploads that never finished (older than `stale_after_seconds`). FAILED_PRECONDITION naming
  // the folder when it cannot be used.
  static absl::StatusOr<std::unique_ptr<BlobStore>> Open(const std::string& root,
                                                         int64_t stale_after_seconds = 3600);

  absl::StatusOr<std::unique_ptr<BlobWriter>> NewWriter();
  // `file_label` names the file in errors (e.g. "file_ab12.. of tenant t1").
  // DATA_LOSS when the blob is missing.
  absl::StatusOr<std::unique_ptr<BlobReader>> OpenReader(const BlobRef& blob,
                                                         const std::string& file_label,
                                                         size_t max_chunk = kDefaultChunkBytes);
  bool Exists(std::string_view sha256) const;
  // Where the blob with this address lives (exposed for tests and repair tools).
  std::string PathFor(std::string_view sha256) const;

 private:
  explicit BlobStore(std::string root);
  std::string root_;
  std::string blobs_dir_;
};

// True when `s` is 64 lowercase hex digits.
bool IsSha256Hex(std::string_view s);

}  // namespace rostersync::backup
