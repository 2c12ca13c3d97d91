#pragma once

// SFTP sessions behind a seam (SftpConnector / SftpSession) and the libssh2 implementation.
//
// Connecting: resolve, TCP connect bounded by the connect timeout (non-blocking connect +
// poll), SSH handshake (also bounded by the connect timeout), host key check against the
// pinned "SHA256:..." fingerprint (an empty pin is refused unless the endpoint opts into
// trust_on_first_use, which accepts the key presented and reports it), then
// password or private-key authentication. Every later operation is bounded by the operation
// timeout (libssh2 blocking mode with libssh2_session_set_timeout), which also fails a transfer
// that stalls midway; keepalives go out every 15 s while a session is busy.
//
// Error codes: network trouble (resolve, refused, timeout, dropped) -> UNAVAILABLE; host key
// mismatch or missing pin -> FAILED_PRECONDITION; rejected credentials, undecryptable key ->
// PERMISSION_DENIED; missing remote path -> NOT_FOUND. No message ever carries a secret.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "rostersync/v1/transfer.pb.h"

namespace rostersync::transfer {

struct RemoteEntry {
  std::string name;  // file name only, no folder
  int64_t size = 0;
  int64_t mtime = 0;  // seconds since the epoch
  bool is_regular = false;
};

struct HostKeyInfo {
  std::string type;    // "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa", ...
  std::string sha256;  // "SHA256:<base64 without padding>"
};

// One step of establishing a session, for TestConnection.
struct ConnectStep {
  std::string name;  // "resolve", "tcp", "handshake", "host_key", "auth"
  bool ok = false;
  std::string detail;
  absl::Duration duration;
};

struct ConnectReport {
  std::vector<ConnectStep> steps;
  HostKeyInfo host_key;  // filled once the handshake succeeded
};

using ByteSink = std::function<absl::Status(std::string_view)>;
// Pushes the upload's bytes into the sink it is given, chunk by chunk.
using ByteProducer = std::function<absl::Status(const ByteSink& sink)>;

// "folder" + "name" -> "folder/name" ("" or "." folder -> "name").
std::string JoinRemotePath(std::string_view folder, std::string_view name);

// The temp name an upload of `name` is written to: "<prefix><name><suffix>", or ".<name>.part"
// when both are empty.
std::string TempUploadName(const std::string& name, const v1::UploadOptions& options);

class SftpSession {
 public:
  virtual ~SftpSession() = default;

  virtual const HostKeyInfo& host_key() const = 0;
  // Entries of a folder, without "." and "..".
  virtual absl::StatusOr<std::vector<RemoteEntry>> List(const std::string& folder) = 0;
  // Streams a file to `sink` in large chunks; returns the number of bytes read. A non-OK
  // return means the bytes already passed to `sink` must be discarded.
  virtual absl::StatusOr<int64_t> Download(const std::string& path, const ByteSink& sink) = 0;
  // Writes the producer's bytes to "<folder>/.<name>.part", renames it to "<folder>/<name>"
  // (replacing an existing file) and checks the remote size. Returns the number of bytes.
  // On failure the temp file is removed (best effort).
  // The temp name is TempUploadName(name, options).
  virtual absl::StatusOr<int64_t> Upload(const std::string& folder, const std::string& name,
                                         const v1::UploadOptions& options,
                                         const ByteProducer& producer) = 0;
  absl::StatusOr<int64_t> Upload(const std::string& folder, const std::string& name,
                                 const ByteProducer& producer) {
    return Upload(folder, name, v1::UploadOptions(), producer);
  }
  virtual absl::Status Remove(const std::string& path) = 0;
  // Renames `from` to `to`, replacing an existing `to` (remove, then rename, where the server
  // refuses to overwrite).
  virtual absl::Status Rename(const std::string& from, const std::string& to) = 0;
  // Sends an SSH keepalive now (while waiting between operations, e.g. the stability check's
  // interval). Transfers send them on their own while they run.
  virtual absl::Status KeepAlive() { return absl::OkStatus(); }
};

class SftpConnector {
 public:
  virtual ~SftpConnector() = default;
  // `report` (optional) receives each step, including the one that failed.
  virtual absl::StatusOr<std::unique_ptr<SftpSession>> Connect(const v1::SftpEndpoint& endpoint,
                                                               const v1::Credentials& credentials,
                                                               ConnectReport* report) = 0;
  // Resolves, connects and completes the SSH handshake only (no pin check, no
  // authentication), bounded by the endpoint's connect timeout, and returns the server's host
  // key. Only host, port and connect_timeout_ms of `endpoint` are used.
  virtual absl::StatusOr<HostKeyInfo> ScanHostKey(const v1::SftpEndpoint& endpoint);
};

// The libssh2 implementation. Thread-safe (each session is independent).
class Libssh2Connector : public SftpConnector {
 public:
  static constexpr int kDefaultPort = 22;
  static constexpr absl::Duration kDefaultConnectTimeout = absl::Seconds(10);
  static constexpr absl::Duration kDefaultOperationTimeout = absl::Seconds(30);
  static constexpr absl::Duration kDefaultKeepaliveInterval = absl::Seconds(15);

  // `keepalive_interval`: the least time between two SSH keepalives (at least 2 s).
  explicit Libssh2Connector(absl::Duration keepalive_interval = kDefaultKeepaliveInterval);
  absl::StatusOr<std::unique_ptr<SftpSession>> Connect(const v1::SftpEndpoint& endpoint,
                                                       const v1::Credentials& credentials,
                                                       ConnectReport* report) override;
  absl::StatusOr<HostKeyInfo> ScanHostKey(const v1::SftpEndpoint& endpoint) override;

 private:
  absl::Duration keepalive_interval_;
};

// "SHA256:" + base64 without padding of a 32-byte digest (the OpenSSH fingerprint form).
std::string Sha256Fingerprint(std::string_view digest);

// True for statuses worth retrying later (network, timeouts, a dependency being down).
bool IsTransient(const absl::Status& status);

}  // namespace rostersync::transfer
