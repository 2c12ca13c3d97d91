#pragma once

// One file moved as fixed-size stripes over several SFTP sessions at once.
//
// libssh2 1.10 spends most of a transfer's CPU in its per-16-byte cipher calls, so one session
// tops out near one core; OpenSSH's own client uses a cheaper cipher. Several sessions, each on
// its own thread, move stripes of the same file in parallel (as lftp's pget and rclone's
// multi-thread streams do), and this module puts them back in order:
//
// - Download: streams take the next stripe (offset k * stripe_bytes) in turn, read it whole
//   into a buffer, and the calling thread hands the buffers to the sink strictly in file
//   order. At most `max_ahead` stripes are held at once, so memory is bounded by
//   max_ahead * stripe_bytes whatever the file size.
// - Upload: the calling thread runs the producer and cuts its bytes into stripes; streams
//   write each stripe at its offset of the same remote (temp) file. The producer waits while
//   `max_ahead` stripes are queued or in flight.
//
// The first stream is the caller's own session; the others are opened on demand by
// `open_more`, each in its own thread. An extra stream that cannot be opened (a server that
// limits sessions per user, or refuses a connection) is not an error: the transfer goes on
// with the streams it has. Only an ABORTED error from `open_more` (e.g. the extra stream found
// a different file under the path) stops the transfer. Any stream's read or write error, or
// the sink's or producer's, stops every stream and is returned (an upload's producer sees the
// stream's error from its sink); a download then has handed the sink only a prefix of the
// file, which the caller discards as with any failed download.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/sftp_transfer/sftp_client.h"

namespace rostersync::transfer {

struct StripeOptions {
  int64_t stripe_bytes = 8 << 20;
  int streams = 2;    // including the first
  int max_ahead = 3;  // stripes held in memory at once (at least 1)
  // Upload only: extra streams are opened once this many bytes were produced (a small upload
  // does not pay for extra connections).
  int64_t open_more_after = 32 << 20;
};

// Reads exactly `len` bytes at `offset`; fewer is an error (the file shrank).
class StripeReader {
 public:
  virtual ~StripeReader() = default;
  virtual absl::Status ReadAt(int64_t offset, char* out, size_t len) = 0;
  // Called about once a second while the stream waits for the sink to catch up (e.g. to send
  // an SSH keepalive).
  virtual void Idle() {}
};

// Writes `len` bytes at `offset` of the remote file; Close() closes this stream's handle.
class StripeWriter {
 public:
  virtual ~StripeWriter() = default;
  virtual absl::Status WriteAt(int64_t offset, const char* data, size_t len) = 0;
  virtual absl::Status Close() = 0;
  // Called about once a second while the stream waits for the producer.
  virtual void Idle() {}
};

using OpenStripeReader = std::function<absl::StatusOr<std::unique_ptr<StripeReader>>()>;
using OpenStripeWriter = std::function<absl::StatusOr<std::unique_ptr<StripeWriter>>()>;

struct StripeStats {
  int streams_used = 1;  // the first plus the extra streams that opened
  int streams_refused = 0;
  std::string refused_reason;  // the first refusal's message (no secrets: connect errors)
};

// Reads bytes [0, size) and hands them to `sink` in order. Returns `size` on success.
absl::StatusOr<int64_t> StripedRead(const StripeOptions& options, int64_t size,
                                    StripeReader& first, const OpenStripeReader& open_more,
                                    const ByteSink& sink, StripeStats* stats = nullptr);

// Writes what `producer` pushes, striped over the streams; every stream's writer, the first
// included, is closed before this returns. Returns the number of bytes written.
absl::StatusOr<int64_t> StripedWrite(const StripeOptions& options, StripeWriter& first,
                                     const OpenStripeWriter& open_more,
                                     const ByteProducer& producer, StripeStats* stats = nullptr);

}  // namespace rostersync::transfer
