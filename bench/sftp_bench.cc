// sftp_bench: rostersync's SftpClient against OpenSSH's own `sftp` client, in one run.
//
// Starts a throwaway OpenSSH sshd on loopback (the SshdServer test fixture; needs root),
// authorizes a fresh Ed25519 key, and moves the same file (256 MiB of random bytes by default)
// both ways with both clients, alternating, several rounds:
//   - rostersync: Libssh2Connector::Connect (key auth, pinned host key) + Download into a local
//     file / Upload from a local file (temp name, rename, size check, as in production), with
//     the default SftpEndpoint.max_streams (2: the file is striped over two connections) or
//     --max_streams N;
//   - OpenSSH: `sftp -b batch` with the same key, StrictHostKeyChecking=yes and a known_hosts
//     file holding the server's key, `get` / `put` of the same file.
// Both timings include connecting and authenticating. Prints MB/s (10^6 bytes/s, the median
// of the rounds) and rostersync's ratio to OpenSSH, with PASS/MISS against the goals of issue 4
// (download >= 0.9x, upload >= 1.0x). A miss does not fail; a broken setup (or a transfer
// whose bytes differ) does.
//
//   sftp_bench [--size_mib N] [--rounds N] [--max_streams N] [--keep]
// (plus one warm-up round that is not counted)
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "services/sftp_transfer/sftp_client.h"
#include "tests/fixtures/sshd_server.h"
#include "tests/fixtures/subprocess.h"

namespace rostersync::bench {
namespace {

using ::rostersync::testing::MakeTempDir;
using ::rostersync::testing::RemoveTree;
using ::rostersync::testing::RunCommand;
using ::rostersync::testing::SshdServer;
using ::rostersync::transfer::ByteSink;
using ::rostersync::transfer::Libssh2Connector;

constexpr double kGoalDownload = 0.9;
constexpr double kGoalUpload = 1.0;
constexpr char kSftp[] = "/usr/bin/sftp";
constexpr size_t kChunk = 1 << 20;

absl::Status Errno(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// Writes `size` pseudo-random bytes (incompressible) to `path`.
absl::Status WriteRandomFile(const std::string& path, int64_t size) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("create " + path);
  std::mt19937_64 gen(42);
  std::vector<uint64_t> block(kChunk / 8);
  for (int64_t done = 0; done < size;) {
    for (auto& w : block) w = gen();
    size_t n = static_cast<size_t>(std::min<int64_t>(kChunk, size - done));
    if (write(fd, block.data(), n) != static_cast<ssize_t>(n)) {
      close(fd);
      return Errno("write " + path);
    }
    done += static_cast<int64_t>(n);
  }
  close(fd);
  return absl::OkStatus();
}

// True when both files hold the same bytes.
absl::StatusOr<bool> SameContent(const std::string& a, const std::string& b) {
  struct stat sa {
  }, sb{};
  if (stat(a.c_str(), &sa) != 0) return Errno("stat " + a);
  if (stat(b.c_str(), &sb) != 0) return Errno("stat " + b);
  if (sa.st_size != sb.st_size) return false;
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  std::string ba(kChunk, '\0'), bb(kChunk, '\0');
  for (off_t left = sa.st_size; left > 0;) {
    std::streamsize n = static_cast<std::streamsize>(std::min<off_t>(left, kChunk));
    if (!fa.read(ba.data(), n) || !fb.read(bb.data(), n)) {
      return absl::InternalError(absl::StrCat("cannot read ", a, " or ", b));
    }
    if (std::memcmp(ba.data(), bb.data(), static_cast<size_t>(n)) != 0) return false;
    left -= n;
  }
  return true;
}

// Wall time, and the CPU time of the client side (this process for rostersync; sftp and its
// ssh child for OpenSSH).
struct Timing {
  absl::Duration wall;
  double cpu_s = 0;
};

double CpuSeconds(int who) {
  rusage u{};
  getrusage(who, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Setup {
  SshdServer* sshd;
  std::string dir;          // local scratch folder
  std::string key_path;     // the private key, 0600
  std::string known_hosts;  // "[127.0.0.1]:PORT ssh-ed25519 AAAA..."
  std::string private_key;
  std::string source;  // local copy of the remote file (the upload source, the reference)
  int64_t size = 0;
  int max_streams = 0;  // SftpEndpoint.max_streams; 0 = the default
};

v1::SftpEndpoint Endpoint(const Setup& s) {
  v1::SftpEndpoint e;
  e.set_host("127.0.0.1");
  e.set_port(s.sshd->port());
  e.set_username(s.sshd->user());
  e.set_host_key_sha256(s.sshd->host_key_sha256());
  e.set_connect_timeout_ms(10000);
  e.set_operation_timeout_ms(60000);
  e.set_max_streams(s.max_streams);
  return e;
}

v1::Credentials Key(const Setup& s) {
  v1::Credentials c;
  c.mutable_private_key()->set_key_pem(s.private_key);
  return c;
}

// The timing of a rostersync transfer started at `start`, once it moved all `size` bytes.
absl::StatusOr<Timing> Took(absl::Time start, double cpu_start,
                            const absl::StatusOr<int64_t>& bytes, int64_t size,
                            const char* verb) {
  Timing took{absl::Now() - start, CpuSeconds(RUSAGE_SELF) - cpu_start};
  if (!bytes.ok()) return bytes.status();
  if (*bytes != size) return absl::DataLossError(absl::StrCat(verb, " ", *bytes, " bytes"));
  return took;
}

absl::StatusOr<Timing> RostersyncDownload(const Setup& s, const std::string& to) {
  Libssh2Connector connector;
  int fd = open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("create " + to);
  absl::Time start = absl::Now();
  const double cpu_start = CpuSeconds(RUSAGE_SELF);
  auto session = connector.Connect(Endpoint(s), Key(s), nullptr);
  if (!session.ok()) {
    close(fd);
    return session.status();
  }
  auto bytes = (*session)->Download("bench.bin", [&](std::string_view chunk) -> absl::Status {
    if (write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) {
      return Errno("write " + to);
    }
    return absl::OkStatus();
  });
  close(fd);
  return Took(start, cpu_start, bytes, s.size, "downloaded");
}

absl::StatusOr<Timing> RostersyncUpload(const Setup& s, const std::string& name) {
  Libssh2Connector connector;
  int fd = open(s.source.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("open " + s.source);
  absl::Time start = absl::Now();
  const double cpu_start = CpuSeconds(RUSAGE_SELF);
  auto session = connector.Connect(Endpoint(s), Key(s), nullptr);
  if (!session.ok()) {
    close(fd);
    return session.status();
  }
  std::string buffer(kChunk, '\0');
  auto bytes = (*session)->Upload("up", name, [&](const ByteSink& sink) -> absl::Status {
    for (;;) {
      ssize_t n = read(fd, buffer.data(), buffer.size());
      if (n < 0) return Errno("read " + s.source);
      if (n == 0) return absl::OkStatus();
      absl::Status st = sink(std::string_view(buffer.data(), static_cast<size_t>(n)));
      if (!st.ok()) return st;
    }
  });
  close(fd);
  return Took(start, cpu_start, bytes, s.size, "uploaded");
}

// Runs OpenSSH's sftp in batch mode with one command.
absl::StatusOr<Timing> OpenSshBatch(const Setup& s, const std::string& command) {
  const std::string batch = s.dir + "/batch";
  testing::WriteFileOrDie(batch, command + "\n");
  const std::string log = s.dir + "/sftp.log";
  unlink(log.c_str());
  std::vector<std::string> argv = {kSftp,
                                   "-q",
                                   "-b",
                                   batch,
                                   "-i",
                                   s.key_path,
                                   "-P",
                                   std::to_string(s.sshd->port()),
                                   "-o",
                                   "StrictHostKeyChecking=yes",
                                   "-o",
                                   "UserKnownHostsFile=" + s.known_hosts,
                                   "-o",
                                   "GlobalKnownHostsFile=/dev/null",
                                   "-o",
                                   "IdentitiesOnly=yes",
                                   "-o",
                                   "BatchMode=yes",
                                   "-o",
                                   "PasswordAuthentication=no",
                                   absl::StrCat(s.sshd->user(), "@127.0.0.1")};
  absl::Time start = absl::Now();
  const double cpu_start = CpuSeconds(RUSAGE_CHILDREN);
  int rc = RunCommand(argv, log);
  Timing took{absl::Now() - start, CpuSeconds(RUSAGE_CHILDREN) - cpu_start};
  if (rc != 0) {
    std::ifstream in(log);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return absl::InternalError(absl::StrCat("sftp \"", command, "\" exited with ", rc, ": ", text));
  }
  return took;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return absl::StrCat(a, " ", b, " ", c);
}

double MBps(int64_t bytes, const Timing& t) {
  return static_cast<double>(bytes) / 1e6 / absl::ToDoubleSeconds(t.wall);
}
// Client CPU seconds per GB moved.
double CpuPerGB(int64_t bytes, const Timing& t) {
  return t.cpu_s / (static_cast<double>(bytes) / 1e9);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

absl::Status Check(absl::StatusOr<bool> same, const std::string& what) {
  if (!same.ok()) return same.status();
  if (!*same) return absl::DataLossError(absl::StrCat(what, ": the bytes differ from the source"));
  return absl::OkStatus();
}

int Main(int argc, char** argv) {
  int64_t size_mib = 256;
  int rounds = 3;
  bool keep = false;
  int max_streams = 0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if ((arg == "--size_mib" || arg == "--rounds" || arg == "--max_streams") && i + 1 < argc) {
      int64_t v = 0;
      if (!absl::SimpleAtoi(argv[++i], &v) || v <= 0) {
        std::cerr << "sftp_bench: " << arg << " needs a positive integer\n";
        return 2;
      }
      if (arg == "--size_mib")
        size_mib = v;
      else if (arg == "--rounds")
        rounds = static_cast<int>(v);
      else
        max_streams = static_cast<int>(std::min<int64_t>(v, 8));
    } else if (arg == "--keep") {
      keep = true;
    } else {
      std::cerr << "usage: sftp_bench [--size_mib N] [--rounds N] [--max_streams N] [--keep]\n";
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  if (access(kSftp, X_OK) != 0) {
    std::cerr << "sftp_bench: " << kSftp << " is missing (openssh-client)\n";
    return 1;
  }
  auto sshd = SshdServer::Start();
  if (!sshd.ok()) {
    std::cerr << "sftp_bench: cannot start sshd: " << sshd.status() << "\n";
    return 1;
  }
  Setup s;
  s.sshd = sshd->get();
  s.size = size_mib * 1024 * 1024;
  s.max_streams = max_streams;
  s.dir = MakeTempDir("rs-sftp-bench");
  auto fail = [&](const absl::Status& st) {
    std::cerr << "sftp_bench: " << st << "\n";
    if (!keep) RemoveTree(s.dir);
    return 1;
  };
  auto pair = SshdServer::GenerateKeyPair("ed25519");
  if (!pair.ok()) return fail(pair.status());
  s.private_key = pair->private_key;
  s.key_path = s.dir + "/id_ed25519";
  testing::WriteFileOrDie(s.key_path, s.private_key, 0600);
  if (auto st = s.sshd->AddAuthorizedKey(pair->public_line); !st.ok()) return fail(st);
  s.known_hosts = s.dir + "/known_hosts";
  testing::WriteFileOrDie(s.known_hosts, absl::StrCat("[127.0.0.1]:", s.sshd->port(), " ",
                                                      s.sshd->host_public_key(), "\n"));
  if (auto st = s.sshd->MakeHomeDir("up"); !st.ok()) return fail(st);
  // The remote file, and its local twin (upload source and reference).
  const std::string remote = s.sshd->home() + "/bench.bin";
  s.source = s.dir + "/source.bin";
  if (auto st = WriteRandomFile(s.source, s.size); !st.ok()) return fail(st);
  if (auto st = WriteRandomFile(remote, s.size); !st.ok()) return fail(st);
  if (chown(remote.c_str(), SshdServer::kUid, SshdServer::kGid) != 0) {
    return fail(Errno("chown " + remote));
  }

  std::cout << absl::StrFormat(
      "sftp bench: %d MiB file, %d rounds, loopback, sshd %s, rostersync max_streams %s\n",
      size_mib, rounds, "OpenSSH (internal-sftp)",
      max_streams > 0 ? std::to_string(max_streams) : "default (2)");
  std::vector<double> rs_down, ssh_down, rs_up, ssh_up;
  std::vector<double> rs_down_cpu, ssh_down_cpu, rs_up_cpu, ssh_up_cpu;
  // Round 0 warms caches and sshd up and is not counted.
  for (int round = 0; round <= rounds; ++round) {
    const std::string rs_file = s.dir + "/rs.bin";
    const std::string ssh_file = s.dir + "/ssh.bin";
    auto d1 = RostersyncDownload(s, rs_file);
    if (!d1.ok()) return fail(d1.status());
    if (auto st = Check(SameContent(rs_file, s.source), "rostersync download"); !st.ok()) {
      return fail(st);
    }
    unlink(rs_file.c_str());
    auto d2 = OpenSshBatch(s, absl::StrCat("get bench.bin ", ssh_file));
    if (!d2.ok()) return fail(d2.status());
    if (auto st = Check(SameContent(ssh_file, s.source), "OpenSSH download"); !st.ok()) {
      return fail(st);
    }
    unlink(ssh_file.c_str());
    auto u1 = RostersyncUpload(s, "rs.bin");
    if (!u1.ok()) return fail(u1.status());
    if (auto st = Check(SameContent(s.sshd->home() + "/up/rs.bin", s.source), "rostersync upload");
        !st.ok()) {
      return fail(st);
    }
    auto u2 = OpenSshBatch(s, absl::StrCat("put ", s.source, " up/ssh.bin"));
    if (!u2.ok()) return fail(u2.status());
    if (auto st = Check(SameContent(s.sshd->home() + "/up/ssh.bin", s.source), "OpenSSH upload");
        !st.ok()) {
      return fail(st);
    }
    unlink((s.sshd->home() + "/up/rs.bin").c_str());
    unlink((s.sshd->home() + "/up/ssh.bin").c_str());
    if (round == 0) {
      std::cout << "  warm-up round done (not counted)\n";
      continue;
    }
    rs_down_cpu.push_back(CpuPerGB(s.size, *d1));
    ssh_down_cpu.push_back(CpuPerGB(s.size, *d2));
    rs_up_cpu.push_back(CpuPerGB(s.size, *u1));
    ssh_up_cpu.push_back(CpuPerGB(s.size, *u2));
    rs_down.push_back(MBps(s.size, *d1));
    ssh_down.push_back(MBps(s.size, *d2));
    rs_up.push_back(MBps(s.size, *u1));
    ssh_up.push_back(MBps(s.size, *u2));
    std::cout << absl::StrFormat(
        "  round %d: download rostersync %7.1f MB/s, OpenSSH %7.1f MB/s; upload rostersync "
        "%7.1f MB/s, OpenSSH %7.1f MB/s\n",
        round, rs_down.back(), ssh_down.back(), rs_up.back(), ssh_up.back());
  }
  // What each client negotiated (sshd logs it at DEBUG1), e.g. "kex: client->server cipher:
  // aes128-ctr MAC: hmac-sha2-256 compression: none".
  {
    std::set<std::string> seen;
    std::istringstream log(s.sshd->Log());
    for (std::string line; std::getline(log, line);) {
      size_t at = line.find("kex: client->server cipher:");
      if (at != std::string::npos && seen.insert(line.substr(at)).second) {
        std::cout << "  negotiated: " << line.substr(at) << "\n";
      }
    }
  }
  const double down_ratio = Median(rs_down) / Median(ssh_down);
  const double up_ratio = Median(rs_up) / Median(ssh_up);
  std::cout << "\n"
            << absl::StrFormat("%-10s %16s %16s %8s %8s %s\n", "direction", "rostersync MB/s",
                               "OpenSSH MB/s", "ratio", "goal", "verdict")
            << absl::StrFormat("%-10s %16.1f %16.1f %7.2fx %7.2fx %s\n", "download",
                               Median(rs_down), Median(ssh_down), down_ratio, kGoalDownload,
                               down_ratio >= kGoalDownload ? "PASS" : "MISS")
            << absl::StrFormat("%-10s %16.1f %16.1f %7.2fx %7.2fx %s\n", "upload", Median(rs_up),
                               Median(ssh_up), up_ratio, kGoalUpload,
                               up_ratio >= kGoalUpload ? "PASS" : "MISS")
            << absl::StrFormat(
                   "client CPU s/GB: download rostersync %.2f, OpenSSH %.2f; upload rostersync "
                   "%.2f, OpenSSH %.2f\n",
                   Median(rs_down_cpu), Median(ssh_down_cpu), Median(rs_up_cpu), Median(ssh_up_cpu))
            << "(medians of " << rounds
            << " rounds after a warm-up; each timing includes connect and auth; load "
            << LoadAverage() << ")\n";
  if (!keep) {
    RemoveTree(s.dir);
    unlink(remote.c_str());
  } else {
    std::cout << "kept " << s.dir << "\n";
  }
  return 0;
}

}  // namespace
}  // namespace rostersync::bench

int main(int argc, char** argv) { return rostersync::bench::Main(argc, argv); }
