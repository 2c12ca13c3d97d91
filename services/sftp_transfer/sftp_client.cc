#include "services/sftp_transfer/sftp_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libssh2.h>
#include <libssh2_sftp.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "services/sftp_transfer/credentials.h"
#include "services/sftp_transfer/sftp_metrics.h"
#include "services/sftp_transfer/striped_transfer.h"

namespace rostersync::transfer {
namespace {

constexpr size_t kIoBufferSize = 4 << 20;  // 4 MiB reads and writes: large SFTP windows
// Files of at least this size move striped over up to SftpEndpoint.max_streams sessions.
constexpr int64_t kStripedMinBytes = 32 << 20;
constexpr int kDefaultMaxStreams = 2;
constexpr int kMaxStreams = 8;
// SSH keepalives go out at most once per keepalive interval (Libssh2Connector) while a session
// is busy (checked every read/write round) or idle between listings (SftpSession::KeepAlive), so
// NATs and firewalls do not drop a long transfer (e.g. while a slow archive write holds the
// download) or a long stability wait.

void InitLibssh2Once() {
  static std::once_flag once;
  std::call_once(once, [] { libssh2_init(0); });
}

int64_t ToMillis(absl::Duration d) { return absl::ToInt64Milliseconds(d); }

std::string Base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

std::string Base64Decode(absl::string_view text) {
  std::string clean;
  clean.reserve(text.size());  // one buffer, wiped below (it may hold a private key's base64)
  for (char c : text) {
    if (!absl::ascii_isspace(static_cast<unsigned char>(c))) clean.push_back(c);
  }
  struct Wiper {
    std::string& buffer;
    ~Wiper() { OPENSSL_cleanse(buffer.data(), buffer.size()); }
  } wipe_clean{clean};
  if (clean.empty() || clean.size() % 4 != 0) return "";
  std::string out(clean.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(clean.data()),
                          static_cast<int>(clean.size()));
  if (n < 0) return "";
  size_t pad = 0;
  while (pad < 2 && clean[clean.size() - 1 - pad] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

// The SHA-256 fingerprint without prefix or padding, for comparison.
std::string NormalizePin(absl::string_view pin) {
  pin = absl::StripAsciiWhitespace(pin);
  absl::ConsumePrefix(&pin, "SHA256:");
  while (absl::ConsumeSuffix(&pin, "=")) {
  }
  return std::string(pin);
}

std::string HostKeyTypeName(int type) {
  switch (type) {
    case LIBSSH2_HOSTKEY_TYPE_RSA:
      return "ssh-rsa";
    case LIBSSH2_HOSTKEY_TYPE_DSS:
      return "ssh-dss";
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_256:
      return "ecdsa-sha2-nistp256";
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_384:
      return "ecdsa-sha2-nistp384";
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_521:
      return "ecdsa-sha2-nistp521";
    case LIBSSH2_HOSTKEY_TYPE_ED25519:
      return "ssh-ed25519";
    default:
      return "unknown";
  }
}

// What can be told about a private key without decrypting it.
struct KeyFacts {
  std::string type;  // "ssh-ed25519", "ecdsa", "ssh-rsa", ... or "" when unknown
  bool encrypted = false;
  bool recognized = false;
};

KeyFacts InspectPrivateKey(absl::string_view pem) {
  KeyFacts facts;
  constexpr absl::string_view kOpenSshBegin = "-----BEGIN OPENSSH PRIVATE KEY-----";
  constexpr absl::string_view kOpenSshEnd = "-----END OPENSSH PRIVATE KEY-----";
  size_t begin = pem.find(kOpenSshBegin);
  if (begin != absl::string_view::npos) {
    size_t body_start = begin + kOpenSshBegin.size();
    size_t end = pem.find(kOpenSshEnd, body_start);
    if (end == absl::string_view::npos) return facts;
    std::string blob = Base64Decode(pem.substr(body_start, end - body_start));
    // An unencrypted key's blob holds the private key itself: wipe it on every return.
    struct Wiper {
      std::string& buffer;
      ~Wiper() { OPENSSL_cleanse(buffer.data(), buffer.size()); }
    } wipe_blob{blob};
    constexpr absl::string_view kMagic("openssh-key-v1\0", 15);
    if (!absl::StartsWith(blob, kMagic)) return facts;
    size_t pos = kMagic.size();
    auto read_string = [&](std::string* out) {
      if (pos + 4 > blob.size()) return false;
      uint32_t len =
          (static_cast<uint8_t>(blob[pos]) << 24) | (static_cast<uint8_t>(blob[pos + 1]) << 16) |
          (static_cast<uint8_t>(blob[pos + 2]) << 8) | static_cast<uint8_t>(blob[pos + 3]);
      pos += 4;
      if (pos + len > blob.size()) return false;
      *out = blob.substr(pos, len);
      pos += len;
      return true;
    };
    std::string cipher, kdf, kdf_options, public_key;
    if (!read_string(&cipher) || !read_string(&kdf) || !read_string(&kdf_options)) return facts;
    pos += 4;  // number of keys
    if (!read_string(&public_key)) return facts;
    size_t saved = pos;
    OPENSSL_cleanse(blob.data(), blob.size());  // before the buffer is reused for less
    blob = public_key;
    pos = 0;
    std::string type;
    if (!read_string(&type)) return facts;
    (void)saved;
    facts.type = type;
    facts.encrypted = cipher != "none";
    facts.recognized = true;
    return facts;
  }
  if (absl::StrContains(pem, "-----BEGIN RSA PRIVATE KEY-----")) {
    facts.type = "ssh-rsa";
    facts.recognized = true;
  } else if (absl::StrContains(pem, "-----BEGIN EC PRIVATE KEY-----")) {
    facts.type = "ecdsa";
    facts.recognized = true;
  } else if (absl::StrContains(pem, "-----BEGIN PRIVATE KEY-----") ||
             absl::StrContains(pem, "-----BEGIN ENCRYPTED PRIVATE KEY-----")) {
    facts.recognized = true;
  }
  facts.encrypted = absl::StrContains(pem, "ENCRYPTED");
  return facts;
}

bool IsNetworkError(int rc) {
  switch (rc) {
    case LIBSSH2_ERROR_SOCKET_NONE:
    case LIBSSH2_ERROR_BANNER_RECV:
    case LIBSSH2_ERROR_BANNER_SEND:
    case LIBSSH2_ERROR_SOCKET_SEND:
    case LIBSSH2_ERROR_SOCKET_DISCONNECT:
    case LIBSSH2_ERROR_SOCKET_TIMEOUT:
    case LIBSSH2_ERROR_TIMEOUT:
    case LIBSSH2_ERROR_SOCKET_RECV:
    case LIBSSH2_ERROR_EAGAIN:
      return true;
    default:
      return false;
  }
}

std::string LastError(LIBSSH2_SESSION* session) {
  char* msg = nullptr;
  int len = 0;
  int rc = libssh2_session_last_error(session, &msg, &len, 0);
  if (msg == nullptr || len <= 0) return absl::StrCat("libssh2 error ", rc);
  return absl::StrCat(std::string(msg, static_cast<size_t>(len)), " (libssh2 error ", rc, ")");
}

std::string FxName(unsigned long fx) {
  switch (fx) {
    case LIBSSH2_FX_EOF:
      return "end of file";
    case LIBSSH2_FX_NO_SUCH_FILE:
      return "no such file";
    case LIBSSH2_FX_PERMISSION_DENIED:
      return "permission denied";
    case LIBSSH2_FX_FAILURE:
      return "failure";
    case LIBSSH2_FX_BAD_MESSAGE:
      return "bad message";
    case LIBSSH2_FX_OP_UNSUPPORTED:
      return "operation unsupported";
    case LIBSSH2_FX_NO_SUCH_PATH:
      return "no such path";
    case LIBSSH2_FX_FILE_ALREADY_EXISTS:
      return "file already exists";
    case LIBSSH2_FX_WRITE_PROTECT:
      return "write protected";
    case LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM:
      return "no space on filesystem";
    case LIBSSH2_FX_QUOTA_EXCEEDED:
      return "quota exceeded";
    default:
      return absl::StrCat("status ", fx);
  }
}

// A socket connected within `timeout`, or UNAVAILABLE.
absl::StatusOr<int> ConnectTcp(const addrinfo* addresses, const std::string& where,
                               absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  std::string last_error = "no address";
  for (const addrinfo* ai = addresses; ai != nullptr; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    int flags = fcntl(fd, F_GETFL, 0);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd pfd{fd, POLLOUT, 0};
      int64_t remaining = std::max<int64_t>(0, ToMillis(deadline - absl::Now()));
      do {
        rc = poll(&pfd, 1, static_cast<int>(remaining));
      } while (rc < 0 && errno == EINTR);
      if (rc == 0) {
        close(fd);
        return absl::UnavailableError(
            absl::StrCat("TCP connect to ", where, " timed out after ", ToMillis(timeout), " ms"));
      }
      int so_error = 0;
      socklen_t len = sizeof(so_error);
      if (rc < 0) {
        so_error = errno;
      } else {
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
      }
      rc = so_error == 0 ? 0 : -1;
      errno = so_error;
    }
    if (rc == 0) {
      fcntl(fd, F_SETFL, flags);  // back to blocking; libssh2 manages the mode itself
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
      return fd;
    }
    last_error = std::strerror(errno);
    close(fd);
    if (absl::Now() >= deadline) break;
  }
  return absl::UnavailableError(absl::StrCat("TCP connect to ", where, " failed: ", last_error));
}

class Libssh2Session;
using SiblingFactory = std::function<absl::StatusOr<std::unique_ptr<Libssh2Session>>()>;

class Libssh2Session : public SftpSession {
 public:
  Libssh2Session(int fd, LIBSSH2_SESSION* session, HostKeyInfo host_key, std::string where,
                 absl::Duration operation_timeout)
      : fd_(fd),
        session_(session),
        host_key_(std::move(host_key)),
        where_(std::move(where)),
        operation_timeout_(operation_timeout) {}

  ~Libssh2Session() override {
    if (sftp_ != nullptr) libssh2_sftp_shutdown(sftp_);
    if (session_ != nullptr) {
      libssh2_session_set_timeout(session_, 2000);
      libssh2_session_disconnect(session_, "rostersync: done");
      libssh2_session_free(session_);
    }
    if (fd_ >= 0) close(fd_);
  }

  absl::Status StartSftp() {
    sftp_ = libssh2_sftp_init(session_);
    if (sftp_ == nullptr) return SessionError("start the SFTP subsystem");
    return absl::OkStatus();
  }

  const HostKeyInfo& host_key() const override { return host_key_; }

  absl::StatusOr<std::vector<RemoteEntry>> List(const std::string& folder) override {
    std::string path = folder.empty() ? "." : folder;
    LIBSSH2_SFTP_HANDLE* dir = libssh2_sftp_opendir(sftp_, path.c_str());
    if (dir == nullptr) return Fail("list", absl::StrCat("open folder \"", path, "\""));
    std::vector<RemoteEntry> entries;
    char name[1024];
    char longentry[2048];
    absl::Status status;
    for (;;) {
      LIBSSH2_SFTP_ATTRIBUTES attrs{};
      int n =
          libssh2_sftp_readdir_ex(dir, name, sizeof(name), longentry, sizeof(longentry), &attrs);
      if (n == 0) break;
      if (n < 0) {
        status = Fail("list", absl::StrCat("read folder \"", path, "\""));
        break;
      }
      std::string entry_name(name, static_cast<size_t>(n));
      if (entry_name == "." || entry_name == "..") continue;
      RemoteEntry entry;
      entry.name = std::move(entry_name);
      if (attrs.flags & LIBSSH2_SFTP_ATTR_SIZE) entry.size = static_cast<int64_t>(attrs.filesize);
      if (attrs.flags & LIBSSH2_SFTP_ATTR_ACMODTIME)
        entry.mtime = static_cast<int64_t>(attrs.mtime);
      entry.is_regular =
          (attrs.flags & LIBSSH2_SFTP_ATTR_PERMISSIONS) && LIBSSH2_SFTP_S_ISREG(attrs.permissions);
      entries.push_back(std::move(entry));
    }
    libssh2_sftp_closedir(dir);
    if (!status.ok()) return status;
    return entries;
  }

  // Lets a large download (and, with `stripe_uploads`, upload) open up to `max_streams - 1`
  // more sessions like this one.
  void EnableStriping(int max_streams, bool stripe_uploads, SiblingFactory open_sibling) {
    max_streams_ = max_streams;
    stripe_uploads_ = stripe_uploads;
    open_sibling_ = std::move(open_sibling);
  }

  // The numeric address of the peer this session is connected to ("" if unknown).
  std::string PeerAddress() const {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (getpeername(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "";
    char host[INET6_ADDRSTRLEN] = "";
    if (getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof(host), nullptr, 0,
                    NI_NUMERICHOST) != 0) {
      return "";
    }
    return host;
  }

  absl::StatusOr<int64_t> Download(const std::string& path, const ByteSink& sink) override {
    LIBSSH2_SFTP_HANDLE* file = OpenForRead(path);
    if (file == nullptr) return Fail("download", absl::StrCat("open \"", path, "\""));
    int64_t total = 0;
    absl::Status status;
    LIBSSH2_SFTP_ATTRIBUTES attrs{};
    if (max_streams_ > 1 && open_sibling_ && libssh2_sftp_fstat_ex(file, &attrs, 0) == 0 &&
        (attrs.flags & LIBSSH2_SFTP_ATTR_SIZE) &&
        static_cast<int64_t>(attrs.filesize) >= kStripedMinBytes) {
      auto striped = StripedDownload(file, path, attrs, sink);
      if (!striped.ok()) {
        libssh2_sftp_close(file);
        return striped.status();
      }
      // Whatever the file grew by since the fstat is read on, as a plain download would.
      total = *striped;
      libssh2_sftp_seek64(file, static_cast<libssh2_uint64_t>(total));
    }
    std::string buffer(kIoBufferSize, '\0');
    for (;;) {
      SendKeepaliveIfDue();
      ssize_t n = libssh2_sftp_read(file, buffer.data(), buffer.size());
      if (n == 0) break;
      if (n < 0) {
        status = Fail("download", absl::StrCat("read \"", path, "\" at byte ", total));
        break;
      }
      total += n;
      SftpMetrics::Get().AddDownloadBytes(static_cast<double>(n));
      status = sink(std::string_view(buffer.data(), static_cast<size_t>(n)));
      if (!status.ok()) break;
    }
    libssh2_sftp_close(file);
    if (!status.ok()) return status;
    return total;
  }

  absl::StatusOr<int64_t> Upload(const std::string& folder, const std::string& name,
                                 const v1::UploadOptions& options,
                                 const ByteProducer& producer) override {
    const std::string temp = JoinRemotePath(folder, TempUploadName(name, options));
    const std::string target = JoinRemotePath(folder, name);
    LIBSSH2_SFTP_HANDLE* file = libssh2_sftp_open_ex(
        sftp_, temp.c_str(), static_cast<unsigned int>(temp.size()),
        LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_TRUNC,
        LIBSSH2_SFTP_S_IRUSR | LIBSSH2_SFTP_S_IWUSR | LIBSSH2_SFTP_S_IRGRP | LIBSSH2_SFTP_S_IROTH,
        LIBSSH2_SFTP_OPENFILE);
    if (file == nullptr) {
      return Fail("upload", absl::StrCat("create \"", temp, "\" in folder \"",
                                         folder.empty() ? "." : folder, "\""));
    }
    if (stripe_uploads_ && max_streams_ > 1 && open_sibling_) {
      return StripedUpload(file, temp, target, producer);
    }

    // A sliding window over the bytes not yet acknowledged. libssh2 1.10's sftp_write sends a
    // buffer as pipelined requests of ~30 KB and returns once the first are acknowledged; the
    // unacknowledged rest must be passed again (it is not sent twice), followed by new bytes.
    // Topping the window up to kIoBufferSize before every call keeps that much in flight all
    // the time instead of letting the pipeline drain at each buffer's end.
    int64_t total = 0;  // acknowledged bytes
    std::string window;
    size_t start = 0;  // window[start..] is in flight or not yet sent
    window.reserve(2 * kIoBufferSize);
    auto write_some = [&]() -> absl::Status {
      SendKeepaliveIfDue();
      ssize_t n = libssh2_sftp_write(file, window.data() + start, window.size() - start);
      if (n < 0) return Fail("upload", absl::StrCat("write \"", temp, "\" at byte ", total));
      start += static_cast<size_t>(n);
      total += n;
      SftpMetrics::Get().AddUploadBytes(static_cast<double>(n));
      if (start == window.size()) {
        window.clear();
        start = 0;
      } else if (start >= kIoBufferSize) {
        window.erase(0, start);  // at most kIoBufferSize bytes move, once per kIoBufferSize sent
        start = 0;
      }
      return absl::OkStatus();
    };
    auto flush = [&]() -> absl::Status {
      while (start < window.size()) {
        absl::Status st = write_some();
        if (!st.ok()) return st;
      }
      return absl::OkStatus();
    };
    ByteSink sink = [&](std::string_view bytes) -> absl::Status {
      while (!bytes.empty()) {
        const size_t in_window = window.size() - start;
        if (in_window >= kIoBufferSize) {
          absl::Status st = write_some();
          if (!st.ok()) return st;
          continue;
        }
        const size_t take = std::min(bytes.size(), kIoBufferSize - in_window);
        window.append(bytes.data(), take);
        bytes.remove_prefix(take);
      }
      return absl::OkStatus();
    };
    absl::Status status = producer(sink);
    if (status.ok()) status = flush();
    int close_rc = libssh2_sftp_close(file);
    if (status.ok() && close_rc != 0) {
      status = Fail("upload", absl::StrCat("close \"", temp, "\""));
    }
    return PlaceUpload(status, temp, target, total);
  }

  absl::Status Remove(const std::string& path) override {
    if (libssh2_sftp_unlink_ex(sftp_, path.c_str(), static_cast<unsigned int>(path.size())) != 0) {
      return Fail("remove", absl::StrCat("remove \"", path, "\""));
    }
    return absl::OkStatus();
  }

  absl::Status Rename(const std::string& from, const std::string& to) override {
    return RenameReplacing(from, to, "rename");
  }

  absl::Status KeepAlive() override {
    if (SendKeepaliveIfDue() != 0) return Fail("keepalive", "send a keepalive");
    return absl::OkStatus();
  }

 private:
  LIBSSH2_SFTP_HANDLE* OpenForRead(const std::string& path) {
    return libssh2_sftp_open_ex(sftp_, path.c_str(), static_cast<unsigned int>(path.size()),
                                LIBSSH2_FXF_READ, 0, LIBSSH2_SFTP_OPENFILE);
  }

  // One open file of a session, as a stripe stream uses it.
  class StripeHandle {
   protected:
    StripeHandle(Libssh2Session& session, LIBSSH2_SFTP_HANDLE* file, std::string path)
        : session_(session), file_(file), path_(std::move(path)) {}
    Libssh2Session& session_;
    LIBSSH2_SFTP_HANDLE* file_;
    std::string path_;
  };

  // Reads whole stripes of one open file for StripedRead.
  class StripeHandleReader : public StripeReader, private StripeHandle {
   public:
    // Closes `file` when destroyed unless `owns_file` is false.
    StripeHandleReader(Libssh2Session& session, LIBSSH2_SFTP_HANDLE* file, std::string path,
                       bool owns_file = true)
        : StripeHandle(session, file, std::move(path)), owns_file_(owns_file) {}
    ~StripeHandleReader() override {
      if (owns_file_) libssh2_sftp_close(file_);
    }
    absl::Status ReadAt(int64_t offset, char* out, size_t len) override {
      libssh2_sftp_seek64(file_, static_cast<libssh2_uint64_t>(offset));
      size_t got = 0;
      while (got < len) {
        session_.SendKeepaliveIfDue();
        // libssh2 1.10 asks the server for up to 4x the buffer ahead of the offset; a buffer of
        // a quarter of what is left keeps every request inside this stripe, so nothing is read
        // twice and the seek to the next stripe has no requests to throw away.
        const size_t ask = std::max<size_t>(1, std::min(kIoBufferSize, (len - got) / 4));
        ssize_t n = libssh2_sftp_read(file_, out + got, ask);
        if (n < 0) {
          return session_.Fail("download", absl::StrCat("read \"", path_, "\" at byte ",
                                                        offset + static_cast<int64_t>(got)));
        }
        if (n == 0) {
          return absl::UnavailableError(absl::StrCat(
              "remote file \"", path_, "\" on ", session_.where_, " ended at byte ",
              offset + static_cast<int64_t>(got),
              " while more was expected: it shrank while downloading; will retry"));
        }
        got += static_cast<size_t>(n);
        SftpMetrics::Get().AddDownloadBytes(static_cast<double>(n));
      }
      return absl::OkStatus();
    }
    void Idle() override { session_.SendKeepaliveIfDue(); }

   private:
    bool owns_file_;
  };

  // Writes whole stripes into one open file for StripedWrite; Close() closes the file.
  class StripeHandleWriter : public StripeWriter, private StripeHandle {
   public:
    // Always owns `file`: closes it in Close() or, failing that, when destroyed.
    StripeHandleWriter(Libssh2Session& session, LIBSSH2_SFTP_HANDLE* file, std::string path)
        : StripeHandle(session, file, std::move(path)) {}
    ~StripeHandleWriter() override {
      if (file_ != nullptr) libssh2_sftp_close(file_);
    }
    absl::Status WriteAt(int64_t offset, const char* data, size_t len) override {
      libssh2_sftp_seek64(file_, static_cast<libssh2_uint64_t>(offset));
      size_t done = 0;
      while (done < len) {
        session_.SendKeepaliveIfDue();
        // Sends the rest as pipelined requests and returns once the first are acknowledged;
        // the unacknowledged rest is passed again (libssh2 does not send it twice).
        ssize_t n = libssh2_sftp_write(file_, data + done, len - done);
        if (n < 0) {
          return session_.Fail("upload", absl::StrCat("write \"", path_, "\" at byte ",
                                                      offset + static_cast<int64_t>(done)));
        }
        done += static_cast<size_t>(n);
        SftpMetrics::Get().AddUploadBytes(static_cast<double>(n));
      }
      return absl::OkStatus();
    }
    absl::Status Close() override {
      if (file_ == nullptr) return absl::OkStatus();
      int rc = libssh2_sftp_close(file_);
      file_ = nullptr;
      if (rc != 0) return session_.Fail("upload", absl::StrCat("close \"", path_, "\""));
      return absl::OkStatus();
    }
    void Idle() override { session_.SendKeepaliveIfDue(); }
  };

  // A reader or writer on a session of its own (an extra stream). The session is a base listed
  // first, so it is built before the stream and destroyed after it (which closes its file).
  struct SessionHolder {
    std::unique_ptr<Libssh2Session> session;
  };
  template <typename Stream>
  class SiblingStream : private SessionHolder, public Stream {
   public:
    SiblingStream(std::unique_ptr<Libssh2Session> owned, LIBSSH2_SFTP_HANDLE* file,
                  std::string path)
        : SessionHolder{std::move(owned)}, Stream(*session, file, std::move(path)) {}
  };

  StripeOptions Striping() const {
    StripeOptions options;
    options.streams = max_streams_;
    options.max_ahead = max_streams_ + 1;
    options.open_more_after = kStripedMinBytes;
    return options;
  }

  // True when two fstat results describe the same file (as far as SFTP v3 can tell).
  static bool SameFile(const LIBSSH2_SFTP_ATTRIBUTES& a, const LIBSSH2_SFTP_ATTRIBUTES& b) {
    auto same = [&](unsigned long flag, auto field) {
      return !(a.flags & flag) || !(b.flags & flag) || a.*field == b.*field;
    };
    return (b.flags & LIBSSH2_SFTP_ATTR_SIZE) &&
           same(LIBSSH2_SFTP_ATTR_SIZE, &LIBSSH2_SFTP_ATTRIBUTES::filesize) &&
           same(LIBSSH2_SFTP_ATTR_ACMODTIME, &LIBSSH2_SFTP_ATTRIBUTES::mtime) &&
           same(LIBSSH2_SFTP_ATTR_UIDGID, &LIBSSH2_SFTP_ATTRIBUTES::uid) &&
           same(LIBSSH2_SFTP_ATTR_UIDGID, &LIBSSH2_SFTP_ATTRIBUTES::gid) &&
           same(LIBSSH2_SFTP_ATTR_PERMISSIONS, &LIBSSH2_SFTP_ATTRIBUTES::permissions);
  }

  absl::StatusOr<int64_t> StripedDownload(LIBSSH2_SFTP_HANDLE* file, const std::string& path,
                                          const LIBSSH2_SFTP_ATTRIBUTES& attrs,
                                          const ByteSink& sink) {
    StripeHandleReader first(*this, file, path, /*owns_file=*/false);
    OpenStripeReader open_more = [&]() -> absl::StatusOr<std::unique_ptr<StripeReader>> {
      auto session = open_sibling_();
      if (!session.ok()) return session.status();
      LIBSSH2_SFTP_HANDLE* handle = (*session)->OpenForRead(path);
      if (handle == nullptr) {
        return (*session)->SessionError(absl::StrCat("open \"", path, "\""));
      }
      LIBSSH2_SFTP_ATTRIBUTES other{};
      const bool statted = libssh2_sftp_fstat_ex(handle, &other, 0) == 0;
      auto stream = std::unique_ptr<StripeReader>(
          new SiblingStream<StripeHandleReader>(std::move(*session), handle, path));
      // The path may name another file by now (replaced by a rename): reading stripes of it
      // would mix two files. The transfer stops and is retried.
      if (!statted || !SameFile(attrs, other)) {
        return absl::AbortedError(absl::StrCat(
            "remote file \"", path, "\" on ", where_,
            " changed while downloading (an extra connection found a different file under its "
            "name); will retry"));
      }
      return stream;
    };
    StripeStats stats;
    auto read = StripedRead(Striping(), static_cast<int64_t>(attrs.filesize), first, open_more,
                            sink, &stats);
    ReportStreams("download", stats);
    return read;
  }

  absl::StatusOr<int64_t> StripedUpload(LIBSSH2_SFTP_HANDLE* file, const std::string& temp,
                                        const std::string& target, const ByteProducer& producer) {
    auto writer = std::make_unique<StripeHandleWriter>(*this, file, temp);
    OpenStripeWriter open_more = [&]() -> absl::StatusOr<std::unique_ptr<StripeWriter>> {
      auto session = open_sibling_();
      if (!session.ok()) return session.status();
      LIBSSH2_SFTP_HANDLE* handle = libssh2_sftp_open_ex(
          (*session)->sftp_, temp.c_str(), static_cast<unsigned int>(temp.size()),
          LIBSSH2_FXF_WRITE, 0, LIBSSH2_SFTP_OPENFILE);
      if (handle == nullptr) {
        return (*session)->SessionError(absl::StrCat("open \"", temp, "\" for writing"));
      }
      return std::unique_ptr<StripeWriter>(
          new SiblingStream<StripeHandleWriter>(std::move(*session), handle, temp));
    };
    StripeStats stats;
    auto written = StripedWrite(Striping(), *writer, open_more, producer, &stats);
    ReportStreams("upload", stats);
    writer.reset();  // closed by StripedWrite already
    return PlaceUpload(written.status(), temp, target, written.ok() ? *written : 0);
  }

  void ReportStreams(std::string_view direction, const StripeStats& stats) {
    SftpMetrics::Get().ExtraStreams(direction, stats.streams_used - 1, stats.streams_refused);
    if (stats.streams_refused > 0) {
      log::Info("SFTP server refused an extra connection; the transfer used fewer streams",
                {{"remote", where_},
                 {"direction", std::string(direction)},
                 {"streams", std::to_string(stats.streams_used)},
                 {"refused", std::to_string(stats.streams_refused)},
                 {"reason", stats.refused_reason}});
    }
  }

  // After the temp file is written and closed (`status` says how that went): renames it into
  // place and checks the remote size, or removes it.
  absl::StatusOr<int64_t> PlaceUpload(absl::Status status, const std::string& temp,
                                      const std::string& target, int64_t total) {
    if (status.ok()) status = RenameReplacing(temp, target);
    if (!status.ok()) {
      libssh2_sftp_unlink_ex(sftp_, temp.c_str(), static_cast<unsigned int>(temp.size()));
      return status;
    }
    LIBSSH2_SFTP_ATTRIBUTES attrs{};
    if (libssh2_sftp_stat_ex(sftp_, target.c_str(), static_cast<unsigned int>(target.size()),
                             LIBSSH2_SFTP_STAT, &attrs) != 0) {
      return Fail("upload", absl::StrCat("stat \"", target, "\" after the upload"));
    }
    if ((attrs.flags & LIBSSH2_SFTP_ATTR_SIZE) && static_cast<int64_t>(attrs.filesize) != total) {
      SftpMetrics::Get().Error("upload");
      return absl::DataLossError(absl::StrCat("uploaded ", total, " bytes to \"", target, "\" on ",
                                              where_, " but the server reports ", attrs.filesize,
                                              " bytes"));
    }
    return total;
  }

  // Sends a keepalive when the keepalive interval passed since the last one, but only while the
  // socket's send queue is empty: libssh2 1.10 ignores EAGAIN on a keepalive, leaving it half
  // sent, and the next write of other data then fails with LIBSSH2_ERROR_BAD_USE. With an
  // empty queue the small packet always goes out whole; with a non-empty one the connection is
  // not idle anyway. A failure shows up on the next read or write.
  int SendKeepaliveIfDue() {
    int queued = 0;
    if (ioctl(fd_, SIOCOUTQ, &queued) != 0 || queued != 0) return 0;
    int next = 0;
    return libssh2_keepalive_send(session_, &next);
  }

  // SFTP v3 rename refuses an existing target and libssh2 1.10 has no posix-rename: when the
  // plain rename fails and the target exists, remove the target and rename again.
  absl::Status RenameReplacing(const std::string& from, const std::string& to,
                               std::string_view op = "upload") {
    auto rename = [&] {
      return libssh2_sftp_rename_ex(
          sftp_, from.c_str(), static_cast<unsigned int>(from.size()), to.c_str(),
          static_cast<unsigned int>(to.size()),
          LIBSSH2_SFTP_RENAME_OVERWRITE | LIBSSH2_SFTP_RENAME_ATOMIC | LIBSSH2_SFTP_RENAME_NATIVE);
    };
    if (rename() == 0) return absl::OkStatus();
    absl::Status first = Fail(op, absl::StrCat("rename \"", from, "\" to \"", to, "\""));
    if (IsTransient(first)) return first;
    LIBSSH2_SFTP_ATTRIBUTES attrs{};
    if (libssh2_sftp_stat_ex(sftp_, to.c_str(), static_cast<unsigned int>(to.size()),
                             LIBSSH2_SFTP_STAT, &attrs) != 0) {
      return first;  // the target does not exist: the rename failed for another reason
    }
    if (libssh2_sftp_unlink_ex(sftp_, to.c_str(), static_cast<unsigned int>(to.size())) != 0) {
      return Fail(op, absl::StrCat("remove the existing \"", to, "\" before renaming"));
    }
    if (rename() != 0) {
      return Fail(op, absl::StrCat("rename \"", from, "\" to \"", to, "\""));
    }
    return absl::OkStatus();
  }

  absl::Status SessionError(std::string_view what) {
    int rc = libssh2_session_last_errno(session_);
    std::string msg = absl::StrCat("SFTP on ", where_, ": cannot ", std::string(what), ": ");
    if (rc == LIBSSH2_ERROR_TIMEOUT) {
      return absl::UnavailableError(
          absl::StrCat(msg, "no answer within ", ToMillis(operation_timeout_), " ms"));
    }
    if (rc == LIBSSH2_ERROR_SFTP_PROTOCOL && sftp_ != nullptr) {
      unsigned long fx = libssh2_sftp_last_error(sftp_);
      std::string text = absl::StrCat(msg, FxName(fx));
      switch (fx) {
        case LIBSSH2_FX_NO_SUCH_FILE:
        case LIBSSH2_FX_NO_SUCH_PATH:
          return absl::NotFoundError(text);
        case LIBSSH2_FX_PERMISSION_DENIED:
        case LIBSSH2_FX_WRITE_PROTECT:
          return absl::PermissionDeniedError(text);
        case LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM:
        case LIBSSH2_FX_QUOTA_EXCEEDED:
          return absl::ResourceExhaustedError(text);
        case LIBSSH2_FX_FILE_ALREADY_EXISTS:
          return absl::AlreadyExistsError(text);
        default:
          return absl::FailedPreconditionError(text);
      }
    }
    return absl::UnavailableError(absl::StrCat(msg, LastError(session_)));
  }

  absl::Status Fail(std::string_view operation, std::string_view what) {
    SftpMetrics::Get().Error(operation);
    return SessionError(what);
  }

  int fd_;
  LIBSSH2_SESSION* session_;
  LIBSSH2_SFTP* sftp_ = nullptr;
  HostKeyInfo host_key_;
  std::string where_;
  absl::Duration operation_timeout_;
  int max_streams_ = 1;
  bool stripe_uploads_ = false;
  SiblingFactory open_sibling_;
};

// Owns a half-built connection until it is handed to a session.
struct PendingConnection {
  int fd = -1;
  LIBSSH2_SESSION* session = nullptr;
  ~PendingConnection() {
    if (session != nullptr) {
      libssh2_session_set_timeout(session, 1000);
      libssh2_session_disconnect(session, "rostersync: giving up");
      libssh2_session_free(session);
    }
    if (fd >= 0) close(fd);
  }
};

}  // namespace

std::string JoinRemotePath(std::string_view folder, std::string_view name) {
  while (folder.size() > 1 && folder.back() == '/') folder.remove_suffix(1);
  if (folder.empty() || folder == ".") return std::string(name);
  if (folder == "/") return "/" + std::string(name);
  return std::string(folder) + "/" + std::string(name);
}

std::string TempUploadName(const std::string& name, const v1::UploadOptions& options) {
  if (options.temp_prefix().empty() && options.temp_suffix().empty()) {
    return absl::StrCat(".", name, ".part");
  }
  return absl::StrCat(options.temp_prefix(), name, options.temp_suffix());
}

std::string Sha256Fingerprint(std::string_view digest) {
  std::string b64 = Base64(digest);
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  return absl::StrCat("SHA256:", b64);
}

bool IsTransient(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

Libssh2Connector::Libssh2Connector(absl::Duration keepalive_interval)
    : keepalive_interval_(keepalive_interval) {
  InitLibssh2Once();
}

namespace {

// Connect's steps; with `scan_only` it stops after reading the host key (no pin check, no
// authentication) and returns a null session.
// `sibling`: an extra stream of a striped transfer, whose failures are not counted as errors
// (the transfer goes on without it).
absl::StatusOr<std::unique_ptr<Libssh2Session>> ConnectOrScan(const v1::SftpEndpoint& endpoint,
                                                             const v1::Credentials& credentials,
                                                             ConnectReport* report,
                                                             bool scan_only,
                                                             absl::Duration keepalive_interval,
                                                             bool sibling = false) {
  using C = Libssh2Connector;
  const int kDefaultPort = C::kDefaultPort;
  const absl::Duration kDefaultConnectTimeout = C::kDefaultConnectTimeout;
  const absl::Duration kDefaultOperationTimeout = C::kDefaultOperationTimeout;
  ConnectReport local_report;
  if (report == nullptr) report = &local_report;
  const int port = endpoint.port() > 0 ? endpoint.port() : kDefaultPort;
  const absl::Duration connect_timeout = endpoint.connect_timeout_ms() > 0
                                             ? absl::Milliseconds(endpoint.connect_timeout_ms())
                                             : kDefaultConnectTimeout;
  const absl::Duration operation_timeout = endpoint.operation_timeout_ms() > 0
                                               ? absl::Milliseconds(endpoint.operation_timeout_ms())
                                               : kDefaultOperationTimeout;
  const std::string where = absl::StrCat(endpoint.host(), ":", port);

  absl::Time step_start = absl::Now();
  auto record = [&](const std::string& name, const absl::Status& status, std::string detail) {
    ConnectStep step;
    step.name = name;
    step.ok = status.ok();
    step.detail = status.ok() ? std::move(detail) : std::string(status.message());
    step.duration = absl::Now() - step_start;
    report->steps.push_back(std::move(step));
    step_start = absl::Now();
  };
  auto fail = [&](const std::string& step, const std::string& metric_op, absl::Status status) {
    if (!sibling) SftpMetrics::Get().Error(metric_op);
    record(step, status, "");
    return status;
  };

  if (endpoint.host().empty()) {
    return fail("resolve", "connect", absl::InvalidArgumentError("SFTP endpoint: host is empty"));
  }
  if (endpoint.username().empty() && !scan_only) {
    return fail("resolve", "connect",
                absl::InvalidArgumentError("SFTP endpoint: username is empty"));
  }

  // resolve
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* addresses = nullptr;
  const std::string port_text = std::to_string(port);
  int gai = getaddrinfo(endpoint.host().c_str(), port_text.c_str(), &hints, &addresses);
  if (gai != 0) {
    return fail("resolve", "connect",
                absl::UnavailableError(absl::StrCat("cannot resolve SFTP host \"", endpoint.host(),
                                                    "\": ", gai_strerror(gai))));
  }
  char first_ip[INET6_ADDRSTRLEN] = "?";
  if (addresses->ai_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(addresses->ai_addr)->sin_addr, first_ip,
              sizeof(first_ip));
  } else if (addresses->ai_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(addresses->ai_addr)->sin6_addr, first_ip,
              sizeof(first_ip));
  }
  record("resolve", absl::OkStatus(), absl::StrCat(endpoint.host(), " -> ", first_ip));

  // tcp
  auto fd = ConnectTcp(addresses, where, connect_timeout);
  freeaddrinfo(addresses);
  if (!fd.ok()) return fail("tcp", "connect", fd.status());
  PendingConnection conn;
  conn.fd = *fd;
  record("tcp", absl::OkStatus(), absl::StrCat("connected to ", where));

  // handshake, bounded by the connect timeout
  conn.session = libssh2_session_init();
  if (conn.session == nullptr) {
    return fail("handshake", "connect", absl::InternalError("libssh2_session_init failed"));
  }
  libssh2_session_set_blocking(conn.session, 1);
  libssh2_session_set_timeout(conn.session, static_cast<long>(ToMillis(connect_timeout)));
  int rc = libssh2_session_handshake(conn.session, conn.fd);
  if (rc != 0) {
    std::string why = rc == LIBSSH2_ERROR_TIMEOUT
                          ? absl::StrCat("the server did not complete the SSH handshake within ",
                                         ToMillis(connect_timeout), " ms")
                          : LastError(conn.session);
    return fail(
        "handshake", "connect",
        absl::UnavailableError(absl::StrCat("SSH handshake with ", where, " failed: ", why)));
  }
  // want_reply 0: libssh2 never consumes the replies, which would pile up in its packet queue;
  // a dead peer is caught by the operation timeout instead.
  libssh2_keepalive_config(
      conn.session, 0,
      static_cast<unsigned>(std::max<int64_t>(2, absl::ToInt64Seconds(keepalive_interval))));
  record("handshake", absl::OkStatus(), "SSH session established");

  // host_key
  size_t key_len = 0;
  int key_type = 0;
  libssh2_session_hostkey(conn.session, &key_len, &key_type);
  const char* hash = libssh2_hostkey_hash(conn.session, LIBSSH2_HOSTKEY_HASH_SHA256);
  if (hash == nullptr) {
    return fail("host_key", "host_key",
                absl::InternalError(absl::StrCat("cannot compute the SHA-256 fingerprint of ",
                                                 where, "'s host key")));
  }
  report->host_key.type = HostKeyTypeName(key_type);
  report->host_key.sha256 = Sha256Fingerprint(std::string_view(hash, 32));
  const std::string& actual = report->host_key.sha256;
  if (scan_only) {
    record("host_key", absl::OkStatus(), absl::StrCat(report->host_key.type, " ", actual));
    return std::unique_ptr<Libssh2Session>();
  }
  if (NormalizePin(endpoint.host_key_sha256()).empty()) {
    if (!endpoint.trust_on_first_use()) {
      return fail(
          "host_key", "host_key",
          absl::FailedPreconditionError(absl::StrCat(
              "no host key is pinned for ", where,
              " (SftpEndpoint.host_key_sha256 is empty) "
              "and trust on first use is off; the server presents ",
              report->host_key.type, " ", actual,
              ": verify it with the server's operator (`rosterctl integrations "
              "scan-host-key --host ",
              endpoint.host(), " --port ", port,
              "`) and pin it, or opt into trust on first use (SftpEndpoint.trust_on_first_use)")));
    }
    log::Info(
        "SFTP host key trusted on first use (no pin)",
        {{"remote", where}, {"host_key_type", report->host_key.type}, {"host_key_sha256", actual}});
    record("host_key", absl::OkStatus(),
           absl::StrCat(report->host_key.type, " ", actual,
                        " not pinned; trusted on first use (pin it to detect a change)"));
  } else if (NormalizePin(endpoint.host_key_sha256()) != NormalizePin(actual)) {
    SftpMetrics::Get().HostKeyMismatch();
    log::Warn("SFTP host key mismatch; connection refused",
              {{"remote", where},
               {"user", endpoint.username()},
               {"pinned_sha256", endpoint.host_key_sha256()},
               {"presented_type", report->host_key.type},
               {"presented_sha256", actual}});
    return fail("host_key", "host_key",
                absl::FailedPreconditionError(absl::StrCat(
                    "host key mismatch for ", where, ": expected ", endpoint.host_key_sha256(),
                    " but the server presents ", report->host_key.type, " ", actual,
                    "; refusing to connect (the server may have been replaced or its key "
                    "rotated)")));
  } else {
    record("host_key", absl::OkStatus(),
           absl::StrCat(report->host_key.type, " ", actual, " matches the pin"));
  }

  // auth, bounded by the operation timeout
  libssh2_session_set_timeout(conn.session, static_cast<long>(ToMillis(operation_timeout)));
  const std::string& user = endpoint.username();
  auto auth_error = [&](std::string message) -> absl::Status {
    int last = libssh2_session_last_errno(conn.session);
    if (IsNetworkError(last)) {
      return absl::UnavailableError(
          absl::StrCat("authentication with ", where, " interrupted: ", LastError(conn.session)));
    }
    return absl::PermissionDeniedError(std::move(message));
  };
  if (credentials.kind_case() == v1::Credentials::kPassword) {
    const std::string& password = credentials.password();
    rc = libssh2_userauth_password_ex(conn.session, user.c_str(),
                                      static_cast<unsigned int>(user.size()), password.c_str(),
                                      static_cast<unsigned int>(password.size()), nullptr);
    if (rc != 0) {
      return fail("auth", "auth",
                  auth_error(absl::StrCat("SFTP server ", where,
                                          " rejected the password for user \"", user, "\"")));
    }
    record("auth", absl::OkStatus(), absl::StrCat("password accepted for user \"", user, "\""));
  } else if (credentials.kind_case() == v1::Credentials::kPrivateKey) {
    const std::string& key = credentials.private_key().key_pem();
    const std::string& passphrase = credentials.private_key().passphrase();
    if (absl::StrContains(key, "---- BEGIN SSH2")) {
      return fail("auth", "auth",
                  absl::InvalidArgumentError(
                      "the private key is in SSH2 (RFC 4716) format, which is not supported: "
                      "convert it to OpenSSH format with `ssh-keygen -i -f key > key.openssh` "
                      "and use that"));
    }
    if (absl::StrContains(key, "PuTTY-User-Key-File-")) {
      return fail("auth", "auth",
                  absl::InvalidArgumentError(
                      "the private key is in PuTTY (.ppk) format, which is not supported: "
                      "convert it to OpenSSH format with "
                      "`puttygen key.ppk -O private-openssh -o key` and use that"));
    }
    KeyFacts facts = InspectPrivateKey(key);
    if (!facts.recognized) {
      return fail("auth", "auth",
                  absl::PermissionDeniedError(
                      "the private key is not in a recognized format (expected an OpenSSH "
                      "\"BEGIN OPENSSH PRIVATE KEY\" or a PEM key)"));
    }
    if (facts.encrypted && passphrase.empty()) {
      return fail(
          "auth", "auth",
          absl::PermissionDeniedError("the private key is encrypted but no passphrase was given"));
    }
    // Never pass a null passphrase: libssh2's OpenSSL backend would dereference it.
    rc = libssh2_userauth_publickey_frommemory(conn.session, user.c_str(), user.size(), nullptr, 0,
                                               key.data(), key.size(), passphrase.c_str());
    if (rc != 0) {
      std::string message;
      if (rc == LIBSSH2_ERROR_AUTHENTICATION_FAILED || rc == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED) {
        message = absl::StrCat("SFTP server ", where, " rejected the ",
                               facts.type.empty() ? "" : facts.type + " ", "public key for user \"",
                               user, "\"");
        if (facts.type == "ssh-rsa") {
          absl::StrAppend(&message,
                          "; note: libssh2 1.10 signs RSA authentication only with ssh-rsa "
                          "(SHA-1), which OpenSSH 8.8 and later refuse by default: use an "
                          "Ed25519 or ECDSA key");
        }
      } else {
        message = absl::StrCat("the private key could not be used (",
                               facts.encrypted ? "wrong passphrase, or " : "",
                               "unsupported or damaged key; libssh2 error ", rc, ")");
      }
      return fail("auth", "auth", auth_error(std::move(message)));
    }
    record("auth", absl::OkStatus(),
           absl::StrCat(facts.type.empty() ? "key" : facts.type, " key accepted for user \"", user,
                        "\""));
  } else {
    return fail("auth", "auth",
                absl::InvalidArgumentError("credentials hold neither a password nor a key"));
  }

  auto session = std::make_unique<Libssh2Session>(conn.fd, conn.session, report->host_key, where,
                                                  operation_timeout);
  conn.fd = -1;
  conn.session = nullptr;
  absl::Status sftp = session->StartSftp();
  if (!sftp.ok()) {
    if (!sibling) SftpMetrics::Get().Error("connect");
    return sftp;
  }
  const int streams = endpoint.max_streams() > 0
                          ? std::min(endpoint.max_streams(), kMaxStreams)
                          : kDefaultMaxStreams;
  if (!sibling && streams > 1) {
    // Extra streams connect the same way, to the address this session reached (not another
    // node behind a round-robin name), pinned to the key this session verified (or, under
    // trust on first use, accepted), so they can only reach the same server.
    v1::SftpEndpoint same = endpoint;
    same.set_host_key_sha256(actual);
    same.set_trust_on_first_use(false);
    if (std::string peer = session->PeerAddress(); !peer.empty()) same.set_host(peer);
    // The session's own copy of the credentials, wiped when the session goes.
    std::shared_ptr<const v1::Credentials> secret(new v1::Credentials(credentials),
                                                  [](v1::Credentials* c) {
                                                    WipeCredentials(*c);
                                                    delete c;
                                                  });
    // Uploads stripe only when asked for explicitly: every server reads at any offset, but
    // some (object-store backed ones) accept only sequential writes.
    session->EnableStriping(
        streams, endpoint.max_streams() > 1, [same, secret, keepalive_interval] {
          return ConnectOrScan(same, *secret, nullptr, /*scan_only=*/false, keepalive_interval,
                               /*sibling=*/true);
        });
  }
  return session;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SftpSession>> Libssh2Connector::Connect(
    const v1::SftpEndpoint& endpoint, const v1::Credentials& credentials, ConnectReport* report) {
  auto session =
      ConnectOrScan(endpoint, credentials, report, /*scan_only=*/false, keepalive_interval_);
  if (!session.ok()) return session.status();
  return std::unique_ptr<SftpSession>(std::move(*session));
}

absl::StatusOr<HostKeyInfo> Libssh2Connector::ScanHostKey(const v1::SftpEndpoint& endpoint) {
  ConnectReport report;
  auto scanned =
      ConnectOrScan(endpoint, v1::Credentials(), &report, /*scan_only=*/true, keepalive_interval_);
  if (!scanned.ok()) return scanned.status();
  return report.host_key;
}

absl::StatusOr<HostKeyInfo> SftpConnector::ScanHostKey(const v1::SftpEndpoint& endpoint) {
  return absl::UnimplementedError("this connector cannot scan host keys");
}

}  // namespace rostersync::transfer
