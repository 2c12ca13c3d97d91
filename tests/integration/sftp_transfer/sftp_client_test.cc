// The libssh2 SFTP client against a real OpenSSH sshd started by the SshdServer fixture.
#include "services/sftp_transfer/sftp_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <random>

#include "absl/time/clock.h"
#include "common/metrics.h"
#include "common/status_macros.h"
#include "tests/fixtures/sshd_server.h"

namespace rostersync::transfer {
namespace {

using ::rostersync::testing::SshdServer;
using ::testing::HasSubstr;
using ::testing::Not;

double CounterValue(const std::string& name, const std::string& label = "",
                    const std::string& value = "") {
  for (const auto& family : MetricsRegistry()->Collect()) {
    if (family.name != name) continue;
    double total = 0;
    for (const auto& metric : family.metric) {
      bool match = label.empty();
      for (const auto& l : metric.label) {
        if (l.name == label && l.value == value) match = true;
      }
      if (match) total += metric.counter.value;
    }
    return total;
  }
  return 0;
}

std::string RandomBytes(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(gen() & 0xff);
  return out;
}

const ConnectStep* FindStep(const ConnectReport& report, const std::string& name) {
  for (const auto& step : report.steps) {
    if (step.name == name) return &step;
  }
  return nullptr;
}

class SftpClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    signal(SIGPIPE, SIG_IGN);
    auto started = SshdServer::Start();
    ASSERT_TRUE(started.ok()) << started.status();
    sshd_ = started->release();
  }
  static void TearDownTestSuite() {
    delete sshd_;
    sshd_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(sshd_, nullptr) << "sshd did not start"; }
  void TearDown() override {
    if (HasFailure() && sshd_ != nullptr) std::cerr << "sshd log:\n" << sshd_->Log() << "\n";
  }

  v1::SftpEndpoint Endpoint() const {
    v1::SftpEndpoint e;
    e.set_host("127.0.0.1");
    e.set_port(sshd_->port());
    e.set_username(sshd_->user());
    e.set_host_key_sha256(sshd_->host_key_sha256());
    e.set_connect_timeout_ms(5000);
    e.set_operation_timeout_ms(15000);
    return e;
  }
  static v1::Credentials Password(const std::string& password) {
    v1::Credentials c;
    c.set_password(password);
    return c;
  }
  static v1::Credentials Key(const std::string& pem, const std::string& passphrase = "") {
    v1::Credentials c;
    c.mutable_private_key()->set_key_pem(pem);
    c.mutable_private_key()->set_passphrase(passphrase);
    return c;
  }
  // Connects, lists the home folder and checks a marker file is there.
  void ExpectWorkingSession(const v1::Credentials& credentials) {
    ASSERT_TRUE(sshd_->WriteHomeFile("marker.txt", "here").ok());
    ConnectReport report;
    auto session = connector_.Connect(Endpoint(), credentials, &report);
    ASSERT_TRUE(session.ok()) << session.status();
    EXPECT_EQ((*session)->host_key().sha256, sshd_->host_key_sha256());
    EXPECT_EQ((*session)->host_key().type, "ssh-ed25519");
    std::vector<std::string> names;
    for (const auto& step : report.steps) {
      names.push_back(step.name);
      EXPECT_TRUE(step.ok) << step.name << ": " << step.detail;
    }
    EXPECT_THAT(names, ::testing::ElementsAre("resolve", "tcp", "handshake", "host_key", "auth"));
    auto entries = (*session)->List("");
    ASSERT_TRUE(entries.ok()) << entries.status();
    bool found = false;
    for (const auto& e : *entries) {
      if (e.name == "marker.txt") {
        found = true;
        EXPECT_EQ(e.size, 4);
        EXPECT_TRUE(e.is_regular);
        EXPECT_GT(e.mtime, 1600000000);
      }
    }
    EXPECT_TRUE(found);
  }

  static SshdServer* sshd_;
  Libssh2Connector connector_;
};

SshdServer* SftpClientTest::sshd_ = nullptr;

TEST_F(SftpClientTest, PasswordAuthWorks) { ExpectWorkingSession(Password(sshd_->password())); }

TEST_F(SftpClientTest, Ed25519KeyWorks) {
  auto pair = SshdServer::GenerateKeyPair("ed25519");
  ASSERT_TRUE(pair.ok()) << pair.status();
  ASSERT_TRUE(sshd_->AddAuthorizedKey(pair->public_line).ok());
  ExpectWorkingSession(Key(pair->private_key));
}

TEST_F(SftpClientTest, EcdsaKeyWorks) {
  auto pair = SshdServer::GenerateKeyPair("ecdsa");
  ASSERT_TRUE(pair.ok()) << pair.status();
  ASSERT_TRUE(sshd_->AddAuthorizedKey(pair->public_line).ok());
  ExpectWorkingSession(Key(pair->private_key));
}

TEST_F(SftpClientTest, EncryptedEd25519KeyWithPassphraseWorks) {
  auto pair = SshdServer::GenerateKeyPair("ed25519", "correct horse");
  ASSERT_TRUE(pair.ok()) << pair.status();
  ASSERT_TRUE(sshd_->AddAuthorizedKey(pair->public_line).ok());
  ExpectWorkingSession(Key(pair->private_key, "correct horse"));
}

TEST_F(SftpClientTest, EcdsaPemKeyWorks) {
  auto pair = SshdServer::GenerateKeyPair("ecdsa", "", "PEM");
  ASSERT_TRUE(pair.ok()) << pair.status();
  ASSERT_THAT(pair->private_key, HasSubstr("-----BEGIN EC PRIVATE KEY-----"));
  ASSERT_TRUE(sshd_->AddAuthorizedKey(pair->public_line).ok());
  ExpectWorkingSession(Key(pair->private_key));
}

TEST_F(SftpClientTest, EncryptedEcdsaPemKeyWithPassphraseWorks) {
  auto pair = SshdServer::GenerateKeyPair("ecdsa", "pem pass words", "PEM");
  ASSERT_TRUE(pair.ok()) << pair.status();
  ASSERT_THAT(pair->private_key, HasSubstr("-----BEGIN EC PRIVATE KEY-----"));
  ASSERT_THAT(pair->private_key, HasSubstr("ENCRYPTED"));
  ASSERT_TRUE(sshd_->AddAuthorizedKey(pair->public_line).ok());
  ExpectWorkingSession(Key(pair->private_key, "pem pass words"));
}

TEST_F(SftpClientTest, EncryptedEcdsaPemKeyWithWrongPassphraseIsRefused) {
  auto pair = SshdServer::GenerateKeyPair("ecdsa", "pem pass words", "PEM");
  ASSERT_TRUE(pair.ok()) << pair.status();
  ASSERT_TRUE(sshd_->AddAuthorizedKey(pair->public_line).ok());
  auto session = connector_.Connect(Endpoint(), Key(pair->private_key, "wrong-pem-pass"), nullptr);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), absl::StatusCode::kPermissionDenied) << session.status();
  EXPECT_THAT(session.status().message(), HasSubstr("passphrase"));
  EXPECT_THAT(session.status().message(), Not(HasSubstr("wrong-pem-pass")));
}

TEST_F(SftpClientTest, RsaPemKeyIsReadAndItsRefusalNamesTheFix) {
  auto pair = SshdServer::GenerateKeyPair("rsa", "", "PEM");
  ASSERT_TRUE(pair.ok()) << pair.status();
  ASSERT_THAT(pair->private_key, HasSubstr("-----BEGIN RSA PRIVATE KEY-----"));
  ASSERT_TRUE(sshd_->AddAuthorizedKey(pair->public_line).ok());
  auto session = connector_.Connect(Endpoint(), Key(pair->private_key), nullptr);
  // Parsed and offered (libssh2 can only sign ssh-rsa/SHA-1, which OpenSSH 9.2 refuses).
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), absl::StatusCode::kPermissionDenied) << session.status();
  EXPECT_THAT(session.status().message(), HasSubstr("rejected the ssh-rsa public key"));
  EXPECT_THAT(session.status().message(), HasSubstr("Ed25519 or ECDSA"));
}

TEST_F(SftpClientTest, Ssh2FormatKeyIsRejectedWithHowToConvertIt) {
  const std::string key =
      "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\n"
      "Comment: \"rsa-key-20240101\"\n"
      "P2/"
      "56wAAAi4AAAA3aWYtbW9kbntzaWdue3JzYS1wa2NzMS1zaGExfSxlbmNyeXB0e3JzYS1wa2NzMXYyLW9hZXB9fQ==\n"
      "---- END SSH2 ENCRYPTED PRIVATE KEY ----\n";
  ConnectReport report;
  auto session = connector_.Connect(Endpoint(), Key(key, "pw"), &report);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), absl::StatusCode::kInvalidArgument) << session.status();
  EXPECT_THAT(session.status().message(), HasSubstr("SSH2 (RFC 4716)"));
  EXPECT_THAT(session.status().message(), HasSubstr("ssh-keygen -i -f key"));
  const ConnectStep* auth = FindStep(report, "auth");
  ASSERT_NE(auth, nullptr);
  EXPECT_FALSE(auth->ok);
  EXPECT_THAT(auth->detail, HasSubstr("ssh-keygen -i -f key"));
}

TEST_F(SftpClientTest, PuttyKeyIsRejectedWithHowToConvertIt) {
  const std::string key =
      "PuTTY-User-Key-File-3: ssh-ed25519\n"
      "Encryption: none\n"
      "Comment: ed25519-key-20240101\n"
      "Public-Lines: 2\n"
      "AAAAC3NzaC1lZDI1NTE5AAAAIJx4i1m0nH3o1M8mS4Y0p2b8c3zQ0v1qJ9y8m5n6X7\n"
      "Private-Lines: 1\n"
      "AAAAIGq0n8z6n0y3m1xw2bq9r5mKk9Q2d7b1c3e5f7a9b1c3\n"
      "Private-MAC: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n";
  auto session = connector_.Connect(Endpoint(), Key(key), nullptr);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), absl::StatusCode::kInvalidArgument) << session.status();
  EXPECT_THAT(session.status().message(), HasSubstr("PuTTY"));
  EXPECT_THAT(session.status().message(), HasSubstr("puttygen key.ppk -O private-openssh -o key"));
}

TEST_F(SftpClientTest, WrongPasswordIsRefusedWithoutEchoingIt) {
  const std::string wrong = "Wr0ng-" + sshd_->password();
  ConnectReport report;
  auto session = connector_.Connect(Endpoint(), Password(wrong), &report);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), absl::StatusCode::kPermissionDenied) << session.status();
  EXPECT_THAT(session.status().message(), HasSubstr("rejected the password"));
  EXPECT_THAT(session.status().message(), HasSubstr(sshd_->user()));
  EXPECT_THAT(session.status().message(), Not(HasSubstr(wrong)));
  const ConnectStep* auth = FindStep(report, "auth");
  ASSERT_NE(auth, nullptr);
  EXPECT_FALSE(auth->ok);
  EXPECT_THAT(auth->detail, Not(HasSubstr(wrong)));
  const ConnectStep* host_key = FindStep(report, "host_key");
  ASSERT_NE(host_key, nullptr);
  EXPECT_TRUE(host_key->ok);
}

TEST_F(SftpClientTest, WrongPassphraseIsRefusedWithoutEchoingIt) {
  auto pair = SshdServer::GenerateKeyPair("ed25519", "the right one");
  ASSERT_TRUE(pair.ok()) << pair.status();
  ASSERT_TRUE(sshd_->AddAuthorizedKey(pair->public_line).ok());
  auto session =
      connector_.Connect(Endpoint(), Key(pair->private_key, "not-the-passphrase"), nullptr);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), absl::StatusCode::kPermissionDenied) << session.status();
  EXPECT_THAT(session.status().message(), HasSubstr("passphrase"));
  EXPECT_THAT(session.status().message(), Not(HasSubstr("not-the-passphrase")));
}

TEST_F(SftpClientTest, EncryptedKeyWithoutPassphraseIsRefused) {
  auto pair = SshdServer::GenerateKeyPair("ed25519", "secret words");
  ASSERT_TRUE(pair.ok()) << pair.status();
  auto session = connector_.Connect(Endpoint(), Key(pair->private_key, ""), nullptr);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(session.status().message(), HasSubstr("encrypted"));
}

TEST_F(SftpClientTest, UnauthorizedKeyIsRefused) {
  auto pair = SshdServer::GenerateKeyPair("ed25519");
  ASSERT_TRUE(pair.ok()) << pair.status();
  auto session = connector_.Connect(Endpoint(), Key(pair->private_key), nullptr);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), absl::StatusCode::kPermissionDenied) << session.status();
  EXPECT_THAT(session.status().message(), HasSubstr("rejected the ssh-ed25519 public key"));
}

TEST_F(SftpClientTest, RsaKeyRefusalNamesTheFix) {
  auto pair = SshdServer::GenerateKeyPair("rsa");
  ASSERT_TRUE(pair.ok()) << pair.status();
  ASSERT_TRUE(sshd_->AddAuthorizedKey(pair->public_line).ok());
  auto session = connector_.Connect(Endpoint(), Key(pair->private_key), nullptr);
  // OpenSSH 9.2 refuses ssh-rsa (SHA-1) signatures, the only kind libssh2 1.10 makes.
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), absl::StatusCode::kPermissionDenied) << session.status();
  EXPECT_THAT(session.status().message(), HasSubstr("Ed25519 or ECDSA"));
}

TEST_F(SftpClientTest, WrongPinnedHostKeyIsRefusedClearly) {
  const double before = CounterValue("rostersync_sftp_host_key_mismatches_total");
  v1::SftpEndpoint endpoint = Endpoint();
  const std::string wrong_pin = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  endpoint.set_host_key_sha256(wrong_pin);
  ConnectReport report;
  auto session = connector_.Connect(endpoint, Password(sshd_->password()), &report);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(session.status().message(), HasSubstr("host key mismatch"));
  EXPECT_THAT(session.status().message(), HasSubstr(wrong_pin));
  EXPECT_THAT(session.status().message(), HasSubstr(sshd_->host_key_sha256()));
  EXPECT_THAT(session.status().message(), Not(HasSubstr(sshd_->password())));
  EXPECT_EQ(FindStep(report, "auth"), nullptr) << "must not authenticate after a mismatch";
  EXPECT_EQ(report.host_key.sha256, sshd_->host_key_sha256());
  EXPECT_EQ(CounterValue("rostersync_sftp_host_key_mismatches_total"), before + 1);
}

TEST_F(SftpClientTest, MissingPinIsRefusedAndShowsTheServerKey) {
  v1::SftpEndpoint endpoint = Endpoint();
  endpoint.clear_host_key_sha256();
  auto session = connector_.Connect(endpoint, Password(sshd_->password()), nullptr);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(session.status().message(), HasSubstr("no host key is pinned"));
  EXPECT_THAT(session.status().message(), HasSubstr(sshd_->host_key_sha256()));
  EXPECT_THAT(session.status().message(), HasSubstr("SftpEndpoint.host_key_sha256"));
  EXPECT_THAT(session.status().message(), HasSubstr("rosterctl integrations scan-host-key"));
  EXPECT_THAT(session.status().message(), HasSubstr("trust_on_first_use"));
}

TEST_F(SftpClientTest, NoPinWithTrustOnFirstUseConnectsAndReportsTheKeyScanHostKeySees) {
  auto scanned = connector_.ScanHostKey(Endpoint());
  ASSERT_TRUE(scanned.ok()) << scanned.status();
  v1::SftpEndpoint endpoint = Endpoint();
  endpoint.clear_host_key_sha256();
  endpoint.set_trust_on_first_use(true);
  ConnectReport report;
  auto session = connector_.Connect(endpoint, Password(sshd_->password()), &report);
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ((*session)->host_key().sha256, scanned->sha256);
  EXPECT_EQ((*session)->host_key().type, scanned->type);
  EXPECT_EQ(scanned->sha256, sshd_->host_key_sha256());
  const ConnectStep* host_key = FindStep(report, "host_key");
  ASSERT_NE(host_key, nullptr);
  EXPECT_TRUE(host_key->ok);
  EXPECT_THAT(host_key->detail, HasSubstr("trusted on first use"));
  EXPECT_THAT(host_key->detail, HasSubstr(scanned->sha256));
  EXPECT_TRUE((*session)->List("").ok());
}

TEST_F(SftpClientTest, ChangedHostKeyIsRefusedEvenWithTrustOnFirstUseAndCounted) {
  // The same user and password, but the server now presents another host key (a second sshd
  // with a freshly generated key stands in for a replaced server).
  auto other = SshdServer::Start();
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_NE((*other)->host_key_sha256(), sshd_->host_key_sha256());
  const double before = CounterValue("rostersync_sftp_host_key_mismatches_total");
  const double errors_before =
      CounterValue("rostersync_sftp_errors_total", "operation", "host_key");
  v1::SftpEndpoint endpoint = Endpoint();  // pinned to sshd_'s key
  endpoint.set_port((*other)->port());
  endpoint.set_trust_on_first_use(true);  // never overrides a pin
  ConnectReport report;
  auto session = connector_.Connect(endpoint, Password((*other)->password()), &report);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), absl::StatusCode::kFailedPrecondition) << session.status();
  EXPECT_THAT(session.status().message(), HasSubstr("host key mismatch"));
  EXPECT_THAT(session.status().message(), HasSubstr(sshd_->host_key_sha256()));
  EXPECT_THAT(session.status().message(), HasSubstr((*other)->host_key_sha256()));
  EXPECT_THAT(session.status().message(), Not(HasSubstr((*other)->password())));
  EXPECT_EQ(FindStep(report, "auth"), nullptr) << "must not authenticate after a mismatch";
  EXPECT_EQ(report.host_key.sha256, (*other)->host_key_sha256());
  EXPECT_EQ(CounterValue("rostersync_sftp_host_key_mismatches_total"), before + 1);
  EXPECT_EQ(CounterValue("rostersync_sftp_errors_total", "operation", "host_key"),
            errors_before + 1);
  // sshd saw no login attempt at all.
  EXPECT_THAT((*other)->Log(), Not(HasSubstr("Accepted password")));
  EXPECT_THAT((*other)->Log(), Not(HasSubstr("Failed password")));
}

TEST_F(SftpClientTest, DownloadsAMultiMegabyteFile) {
  const std::string content = RandomBytes(5 * 1024 * 1024 + 123, 7);
  ASSERT_TRUE(sshd_->WriteHomeFile("in/big.bin", content).ok());
  const double before = CounterValue("rostersync_sftp_bytes_total", "direction", "download");
  auto session = connector_.Connect(Endpoint(), Password(sshd_->password()), nullptr);
  ASSERT_TRUE(session.ok()) << session.status();
  std::string received;
  int chunks = 0;
  auto bytes = (*session)->Download("in/big.bin", [&](std::string_view chunk) {
    received.append(chunk.data(), chunk.size());
    ++chunks;
    return absl::OkStatus();
  });
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, static_cast<int64_t>(content.size()));
  EXPECT_TRUE(received == content) << "content differs";
  EXPECT_LT(chunks, static_cast<int>(content.size() / 16384)) << "reads are too small";
  EXPECT_EQ(CounterValue("rostersync_sftp_bytes_total", "direction", "download"),
            before + static_cast<double>(content.size()));
}

// ---- striped transfers (files of 32 MiB or more, SftpEndpoint.max_streams) -------------

int CountInLog(const std::string& log, const std::string& what) {
  int n = 0;
  for (size_t at = log.find(what); at != std::string::npos; at = log.find(what, at + 1)) ++n;
  return n;
}

constexpr size_t kStripedSize = 40 * 1024 * 1024 + 4321;  // 6 stripes, the last one short

TEST_F(SftpClientTest, StripedDownloadUsesExtraConnectionsAndHandsOverTheExactBytes) {
  const std::string content = RandomBytes(kStripedSize, 41);
  ASSERT_TRUE(sshd_->WriteHomeFile("in/striped.bin", content).ok());
  v1::SftpEndpoint endpoint = Endpoint();
  endpoint.set_max_streams(3);
  const int logins = CountInLog(sshd_->Log(), "Accepted password");
  const double opened =
      CounterValue("rostersync_sftp_extra_streams_total", "outcome", "opened");
  const double bytes_before = CounterValue("rostersync_sftp_bytes_total", "direction", "download");
  auto session = connector_.Connect(endpoint, Password(sshd_->password()), nullptr);
  ASSERT_TRUE(session.ok()) << session.status();
  std::string received;
  auto bytes = (*session)->Download("in/striped.bin", [&](std::string_view chunk) {
    received.append(chunk.data(), chunk.size());
    return absl::OkStatus();
  });
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, static_cast<int64_t>(content.size()));
  EXPECT_TRUE(received == content) << "content differs";
  EXPECT_EQ(CountInLog(sshd_->Log(), "Accepted password"), logins + 3)
      << "the session and two extra streams";
  EXPECT_EQ(CounterValue("rostersync_sftp_extra_streams_total", "outcome", "opened"), opened + 2);
  EXPECT_EQ(CounterValue("rostersync_sftp_bytes_total", "direction", "download"),
            bytes_before + static_cast<double>(content.size()))
      << "every byte read once";
  // The session itself still works after a striped transfer.
  EXPECT_TRUE((*session)->List("in").ok());
}

TEST_F(SftpClientTest, StripedUploadWritesTheExactBytesOverExtraConnections) {
  ASSERT_TRUE(sshd_->MakeHomeDir("striped_out").ok());
  ASSERT_TRUE(sshd_->WriteHomeFile("striped_out/roster.csv", "older export\n").ok());
  const std::string content = RandomBytes(kStripedSize, 42);
  v1::SftpEndpoint endpoint = Endpoint();
  endpoint.set_max_streams(3);
  const int logins = CountInLog(sshd_->Log(), "Accepted password");
  auto session = connector_.Connect(endpoint, Password(sshd_->password()), nullptr);
  ASSERT_TRUE(session.ok()) << session.status();
  std::string target_mid_upload;
  auto bytes = (*session)->Upload("striped_out", "roster.csv", [&](const ByteSink& sink) {
    for (size_t off = 0; off < content.size(); off += 700 * 1024) {
      if (off > 36u * 1024 * 1024 && target_mid_upload.empty()) {
        target_mid_upload = sshd_->ReadHomeFile("striped_out/roster.csv").value_or("?");
      }
      RETURN_IF_ERROR(sink(std::string_view(content).substr(off, 700 * 1024)));
    }
    return absl::OkStatus();
  });
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, static_cast<int64_t>(content.size()));
  EXPECT_EQ(target_mid_upload, "older export\n") << "the target is only ever replaced whole";
  EXPECT_TRUE(sshd_->ReadHomeFile("striped_out/roster.csv").value_or("") == content);
  EXPECT_NE(access((sshd_->home() + "/striped_out/.roster.csv.part").c_str(), F_OK), 0);
  EXPECT_EQ(CountInLog(sshd_->Log(), "Accepted password"), logins + 3);
}

TEST_F(SftpClientTest, MaxStreamsOneMovesALargeFileOverOneConnection) {
  const std::string content = RandomBytes(kStripedSize, 43);
  ASSERT_TRUE(sshd_->WriteHomeFile("in/one.bin", content).ok());
  ASSERT_TRUE(sshd_->MakeHomeDir("one_out").ok());
  v1::SftpEndpoint endpoint = Endpoint();
  endpoint.set_max_streams(1);
  const int logins = CountInLog(sshd_->Log(), "Accepted password");
  auto session = connector_.Connect(endpoint, Password(sshd_->password()), nullptr);
  ASSERT_TRUE(session.ok()) << session.status();
  std::string received;
  auto down = (*session)->Download("in/one.bin", [&](std::string_view chunk) {
    received.append(chunk.data(), chunk.size());
    return absl::OkStatus();
  });
  ASSERT_TRUE(down.ok()) << down.status();
  EXPECT_TRUE(received == content);
  auto up = (*session)->Upload("one_out", "one.bin",
                               [&](const ByteSink& sink) { return sink(content); });
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_TRUE(sshd_->ReadHomeFile("one_out/one.bin").value_or("") == content);
  EXPECT_EQ(CountInLog(sshd_->Log(), "Accepted password"), logins + 1);
}

// A server that does not answer an extra connection (here: its listener is stopped once the
// first session is up) costs the connect timeout, not the transfer.
TEST_F(SftpClientTest, AnExtraConnectionTheServerDoesNotAnswerFallsBackToFewerStreams) {
  const std::string content = RandomBytes(kStripedSize, 44);
  ASSERT_TRUE(sshd_->WriteHomeFile("in/fallback.bin", content).ok());
  v1::SftpEndpoint endpoint = Endpoint();
  endpoint.set_max_streams(2);
  endpoint.set_connect_timeout_ms(3000);  // the extra stream waits this long
  const double refused =
      CounterValue("rostersync_sftp_extra_streams_total", "outcome", "refused");
  const double connect_errors = CounterValue("rostersync_sftp_errors_total", "operation", "connect");
  auto session = connector_.Connect(endpoint, Password(sshd_->password()), nullptr);
  ASSERT_TRUE(session.ok()) << session.status();
  sshd_->PauseListener();
  std::string received;
  auto bytes = (*session)->Download("in/fallback.bin", [&](std::string_view chunk) {
    received.append(chunk.data(), chunk.size());
    return absl::OkStatus();
  });
  sshd_->ResumeListener();
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_TRUE(received == content);
  EXPECT_EQ(CounterValue("rostersync_sftp_extra_streams_total", "outcome", "refused"),
            refused + 1);
  EXPECT_EQ(CounterValue("rostersync_sftp_errors_total", "operation", "connect"), connect_errors)
      << "a refused extra stream is not a connection error";
}

TEST_F(SftpClientTest, DefaultStreamsStripeDownloadsButNotUploads) {
  const std::string content = RandomBytes(kStripedSize, 46);
  ASSERT_TRUE(sshd_->WriteHomeFile("in/default.bin", content).ok());
  ASSERT_TRUE(sshd_->MakeHomeDir("default_out").ok());
  const int logins = CountInLog(sshd_->Log(), "Accepted password");
  auto session = connector_.Connect(Endpoint(), Password(sshd_->password()), nullptr);
  ASSERT_TRUE(session.ok()) << session.status();
  std::string received;
  auto down = (*session)->Download("in/default.bin", [&](std::string_view chunk) {
    received.append(chunk.data(), chunk.size());
    return absl::OkStatus();
  });
  ASSERT_TRUE(down.ok()) << down.status();
  EXPECT_TRUE(received == content);
  EXPECT_EQ(CountInLog(sshd_->Log(), "Accepted password"), logins + 2) << "two streams";
  // Some servers take only sequential writes: uploads stay on one connection by default.
  auto up = (*session)->Upload("default_out", "default.bin",
                               [&](const ByteSink& sink) { return sink(content); });
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_TRUE(sshd_->ReadHomeFile("default_out/default.bin").value_or("") == content);
  EXPECT_EQ(CountInLog(sshd_->Log(), "Accepted password"), logins + 2) << "no extra login";
}

// A file replaced (renamed over) while it downloads: the first stream keeps reading the file it
// opened, an extra stream opening the path now would find the new one. Bytes of two files must
// never be mixed: the download fails (and the worker retries it).
TEST_F(SftpClientTest, AFileReplacedDuringAStripedDownloadIsNeverMixed) {
  const std::string old_content = RandomBytes(kStripedSize, 47);
  const std::string new_content = RandomBytes(kStripedSize, 48);  // same size
  ASSERT_TRUE(sshd_->WriteHomeFile("in/replaced.bin", old_content).ok());
  ASSERT_TRUE(sshd_->WriteHomeFile("in/.replacement.tmp", new_content).ok());
  const std::string home = sshd_->home();
  struct timeval past[2] = {{1600000000, 0}, {1600000000, 0}};
  ASSERT_EQ(utimes((home + "/in/.replacement.tmp").c_str(), past), 0);
  auto session = connector_.Connect(Endpoint(), Password(sshd_->password()), nullptr);
  ASSERT_TRUE(session.ok()) << session.status();
  sshd_->PauseListener();  // the extra stream's connection waits for its greeting
  bool replaced = false;
  std::string received;
  auto bytes = (*session)->Download("in/replaced.bin", [&](std::string_view chunk) {
    received.append(chunk.data(), chunk.size());
    if (!replaced) {
      replaced = true;
      EXPECT_EQ(rename((home + "/in/.replacement.tmp").c_str(), (home + "/in/replaced.bin").c_str()),
                0);
      sshd_->ResumeListener();
      absl::SleepFor(absl::Seconds(1));  // the extra stream connects and opens the new file
    }
    return absl::OkStatus();
  });
  sshd_->ResumeListener();
  ASSERT_TRUE(replaced);
  ASSERT_FALSE(bytes.ok()) << "read " << *bytes << " bytes of two files";
  EXPECT_EQ(bytes.status().code(), absl::StatusCode::kAborted) << bytes.status();
  EXPECT_THAT(bytes.status().message(), HasSubstr("changed while downloading"));
  EXPECT_TRUE(received == old_content.substr(0, received.size())) << "only the old file's bytes";
}

TEST_F(SftpClientTest, AConnectionKilledMidStripedDownloadFailsIt) {
  ASSERT_TRUE(sshd_->WriteHomeFile("in/killed.bin", RandomBytes(kStripedSize, 45)).ok());
  v1::SftpEndpoint endpoint = Endpoint();
  endpoint.set_max_streams(2);
  auto session = connector_.Connect(endpoint, Password(sshd_->password()), nullptr);
  ASSERT_TRUE(session.ok()) << session.status();
  int killed = 0;
  int64_t received = 0;
  auto bytes = (*session)->Download("in/killed.bin", [&](std::string_view chunk) {
    received += static_cast<int64_t>(chunk.size());
    if (killed == 0) killed = sshd_->KillSessions();
    return absl::OkStatus();
  });
  ASSERT_GT(killed, 0) << "the fixture found no session process to kill";
  ASSERT_FALSE(bytes.ok()) << "read " << *bytes << " bytes from a killed server";
  EXPECT_EQ(bytes.status().code(), absl::StatusCode::kUnavailable) << bytes.status();
  EXPECT_LT(received, static_cast<int64_t>(kStripedSize));
}

TEST_F(SftpClientTest, DownloadOfAMissingFileIsNotFound) {
  auto session = connector_.Connect(Endpoint(), Password(sshd_->password()), nullptr);
  ASSERT_TRUE(session.ok()) << session.status();
  auto bytes =
      (*session)->Download("in/nope.csv", [](std::string_view) { return absl::OkStatus(); });
  EXPECT_EQ(bytes.status().code(), absl::StatusCode::kNotFound) << bytes.status();
  auto listed = (*session)->List("no/such/folder");
  EXPECT_EQ(listed.status().code(), absl::StatusCode::kNotFound) << listed.status();
}

TEST_F(SftpClientTest, UploadGoesThroughATempNameAndReplacesTheTarget) {
  ASSERT_TRUE(sshd_->MakeHomeDir("out").ok());
  ASSERT_TRUE(sshd_->WriteHomeFile("out/roster.csv", "old contents\n").ok());
  const std::string content = RandomBytes(3 * 1024 * 1024 + 17, 11);
  auto session = connector_.Connect(Endpoint(), Password(sshd_->password()), nullptr);
  ASSERT_TRUE(session.ok()) << session.status();

  bool saw_temp_file = false;
  auto bytes = (*session)->Upload("out", "roster.csv", [&](const ByteSink& sink) {
    for (size_t off = 0; off < content.size(); off += 100000) {
      RETURN_IF_ERROR(sink(std::string_view(content).substr(off, 100000)));
      if (off > 2 * 1024 * 1024 && !saw_temp_file) {
        // Mid-upload, the bytes go to the temp name and the target still holds the old file.
        saw_temp_file = access((sshd_->home() + "/out/.roster.csv.part").c_str(), F_OK) == 0;
        EXPECT_EQ(sshd_->ReadHomeFile("out/roster.csv").value_or(""), "old contents\n");
      }
    }
    return absl::OkStatus();
  });
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_TRUE(saw_temp_file);
  EXPECT_EQ(*bytes, static_cast<int64_t>(content.size()));
  EXPECT_TRUE(sshd_->ReadHomeFile("out/roster.csv").value_or("") == content);
  EXPECT_NE(access((sshd_->home() + "/out/.roster.csv.part").c_str(), F_OK), 0);

  // And a fresh name (no target to replace).
  auto fresh = (*session)->Upload("out", "fresh.csv",
                                  [](const ByteSink& sink) { return sink("a,b\n1,2\n"); });
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(*fresh, 8);
  EXPECT_EQ(sshd_->ReadHomeFile("out/fresh.csv").value_or(""), "a,b\n1,2\n");
}

TEST_F(SftpClientTest, UploadUsesTheConfiguredTempPrefixOrSuffix) {
  ASSERT_TRUE(sshd_->MakeHomeDir("out3").ok());
  auto session = connector_.Connect(Endpoint(), Password(sshd_->password()), nullptr);
  ASSERT_TRUE(session.ok()) << session.status();
  struct Case {
    std::string prefix, suffix, temp;
  };
  for (const Case& c : {Case{"", ".filepart", "a.csv.filepart"}, Case{"_tmp_", "", "_tmp_a.csv"},
                        Case{"", "", ".a.csv.part"}}) {
    v1::UploadOptions options;
    options.set_temp_prefix(c.prefix);
    options.set_temp_suffix(c.suffix);
    EXPECT_EQ(TempUploadName("a.csv", options), c.temp);
    bool saw_temp = false;
    auto bytes = (*session)->Upload("out3", "a.csv", options, [&](const ByteSink& sink) {
      RETURN_IF_ERROR(sink("x,y\n"));
      RETURN_IF_ERROR(sink(std::string(2 * 1024 * 1024, 'q')));  // forces a flush
      saw_temp = access((sshd_->home() + "/out3/" + c.temp).c_str(), F_OK) == 0;
      return absl::OkStatus();
    });
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    EXPECT_TRUE(saw_temp) << c.temp;
    EXPECT_NE(access((sshd_->home() + "/out3/" + c.temp).c_str(), F_OK), 0) << c.temp;
    EXPECT_EQ(sshd_->ReadHomeFile("out3/a.csv").value_or("").size(), 4u + 2 * 1024 * 1024);
  }
}

TEST_F(SftpClientTest, FailedUploadLeavesTheTargetAndNoTempFile) {
  ASSERT_TRUE(sshd_->WriteHomeFile("out2/keep.csv", "keep me\n").ok());
  auto session = connector_.Connect(Endpoint(), Password(sshd_->password()), nullptr);
  ASSERT_TRUE(session.ok()) << session.status();
  auto bytes = (*session)->Upload("out2", "keep.csv", [](const ByteSink& sink) {
    RETURN_IF_ERROR(sink(std::string(2 * 1024 * 1024, 'z')));
    return absl::DataLossError("archive checksum mismatch");
  });
  EXPECT_EQ(bytes.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(sshd_->ReadHomeFile("out2/keep.csv").value_or(""), "keep me\n");
  EXPECT_NE(access((sshd_->home() + "/out2/.keep.csv.part").c_str(), F_OK), 0);
}

TEST_F(SftpClientTest, UploadIntoAFolderThatIsNotWritableFailsNamingTheFolder) {
  ASSERT_TRUE(sshd_->MakeHomeDir("readonly").ok());
  ASSERT_EQ(chmod((sshd_->home() + "/readonly").c_str(), 0555), 0);
  auto session = connector_.Connect(Endpoint(), Password(sshd_->password()), nullptr);
  ASSERT_TRUE(session.ok()) << session.status();
  auto bytes = (*session)->Upload("readonly", "roster.csv",
                                  [](const ByteSink& sink) { return sink("id\n1\n"); });
  ASSERT_FALSE(bytes.ok());
  EXPECT_EQ(bytes.status().code(), absl::StatusCode::kPermissionDenied) << bytes.status();
  EXPECT_THAT(bytes.status().message(), HasSubstr("in folder \"readonly\""));
  EXPECT_THAT(bytes.status().message(), HasSubstr("permission denied"));
  EXPECT_FALSE(IsTransient(bytes.status())) << "retrying cannot help";
  EXPECT_NE(access((sshd_->home() + "/readonly/roster.csv").c_str(), F_OK), 0);
}

// A server that stops answering in the middle of a transfer (its session processes SIGSTOPped:
// the TCP connection stays up, nothing more arrives) fails within the operation timeout.
TEST_F(SftpClientTest, ServerStallingMidDownloadFailsWithinTheOperationTimeout) {
  ASSERT_TRUE(sshd_->WriteHomeFile("in/stall.bin", RandomBytes(32 * 1024 * 1024, 21)).ok());
  v1::SftpEndpoint endpoint = Endpoint();
  endpoint.set_operation_timeout_ms(1500);
  auto session = connector_.Connect(endpoint, Password(sshd_->password()), nullptr);
  ASSERT_TRUE(session.ok()) << session.status();
  int stopped = 0;
  int64_t received = 0;
  absl::Time stalled_at;
  auto bytes = (*session)->Download("in/stall.bin", [&](std::string_view chunk) {
    received += static_cast<int64_t>(chunk.size());
    if (stopped == 0) {
      stopped = sshd_->StopSessions();
      stalled_at = absl::Now();
    }
    return absl::OkStatus();
  });
  absl::Duration waited = absl::Now() - stalled_at;
  sshd_->KillSessions();
  ASSERT_GT(stopped, 0) << "the fixture found no session process to stop";
  ASSERT_FALSE(bytes.ok()) << "read " << *bytes << " bytes from a stopped server";
  EXPECT_EQ(bytes.status().code(), absl::StatusCode::kUnavailable) << bytes.status();
  EXPECT_THAT(bytes.status().message(), HasSubstr("no answer within 1500 ms"));
  EXPECT_LT(received, 32 * 1024 * 1024);
  EXPECT_LT(waited, absl::Seconds(20)) << "bounded by the operation timeout, not hung";
}

TEST_F(SftpClientTest, ServerStallingMidUploadFailsWithinTheOperationTimeout) {
  ASSERT_TRUE(sshd_->MakeHomeDir("stall_out").ok());
  v1::SftpEndpoint endpoint = Endpoint();
  endpoint.set_operation_timeout_ms(1500);
  auto session = connector_.Connect(endpoint, Password(sshd_->password()), nullptr);
  ASSERT_TRUE(session.ok()) << session.status();
  int stopped = 0;
  const std::string chunk(1024 * 1024, 'u');
  auto bytes = (*session)->Upload("stall_out", "big.csv", [&](const ByteSink& sink) {
    for (int i = 0; i < 256; ++i) {
      RETURN_IF_ERROR(sink(chunk));
      if (i == 2) stopped = sshd_->StopSessions();
    }
    return absl::OkStatus();
  });
  sshd_->KillSessions();
  ASSERT_GT(stopped, 0) << "the fixture found no session process to stop";
  ASSERT_FALSE(bytes.ok());
  EXPECT_EQ(bytes.status().code(), absl::StatusCode::kUnavailable) << bytes.status();
  EXPECT_THAT(bytes.status().message(), HasSubstr("no answer within 1500 ms"));
  EXPECT_NE(access((sshd_->home() + "/stall_out/big.csv").c_str(), F_OK), 0)
      << "a stalled upload must never appear under the final name";
}

// Keepalives go out while a transfer waits on a slow consumer or producer, and do not disturb
// it (libssh2 1.10 breaks the next write if a keepalive is left half sent).
TEST_F(SftpClientTest, KeepalivesGoOutDuringSlowTransfersWithoutBreakingThem) {
  auto count_keepalives = [] {
    const std::string log = sshd_->Log();
    size_t n = 0;
    for (size_t pos = 0; (pos = log.find("rtype keepalive@libssh2.org", pos)) != std::string::npos;
         ++pos) {
      ++n;
    }
    return n;
  };
  Libssh2Connector connector(absl::Seconds(2));
  const std::string content = RandomBytes(8 * 1024 * 1024, 31);
  ASSERT_TRUE(sshd_->WriteHomeFile("in/slow.bin", content).ok());
  auto session = connector.Connect(Endpoint(), Password(sshd_->password()), nullptr);
  ASSERT_TRUE(session.ok()) << session.status();
  const size_t before = count_keepalives();
  std::string received;
  int chunks = 0;
  auto bytes = (*session)->Download("in/slow.bin", [&](std::string_view chunk) {
    received.append(chunk.data(), chunk.size());
    if (++chunks <= 2) absl::SleepFor(absl::Milliseconds(2500));  // a slow archive write
    return absl::OkStatus();
  });
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_TRUE(received == content);

  ASSERT_TRUE(sshd_->MakeHomeDir("slow_out").ok());
  int produced = 0;
  auto uploaded = (*session)->Upload("slow_out", "slow.bin", [&](const ByteSink& sink) {
    for (size_t off = 0; off < content.size(); off += 1024 * 1024) {
      RETURN_IF_ERROR(sink(std::string_view(content).substr(off, 1024 * 1024)));
      if (++produced <= 3) absl::SleepFor(absl::Milliseconds(2500));  // a slow archive read
    }
    return absl::OkStatus();
  });
  ASSERT_TRUE(uploaded.ok()) << uploaded.status();
  EXPECT_TRUE(sshd_->ReadHomeFile("slow_out/slow.bin").value_or("") == content);
  // sshd logs each global request it receives (LogLevel DEBUG1).
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (count_keepalives() < before + 3 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_GE(count_keepalives(), before + 3);
}

TEST_F(SftpClientTest, KeepAliveOnAnIdleSessionKeepsItUsable) {
  auto session = connector_.Connect(Endpoint(), Password(sshd_->password()), nullptr);
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_TRUE((*session)->KeepAlive().ok());
  EXPECT_TRUE((*session)->List("").ok());
  sshd_->KillSessions();
  absl::SleepFor(absl::Milliseconds(200));
  // On a dead connection the keepalive (or the next operation) reports it.
  absl::Status alive = (*session)->KeepAlive();
  absl::Status listed = (*session)->List("").status();
  EXPECT_FALSE(alive.ok() && listed.ok());
}

TEST_F(SftpClientTest, SilentListenerFailsWithinTheConnectTimeout) {
  // Accepts TCP (the kernel completes the handshake from the backlog) but never speaks SSH.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);

  v1::SftpEndpoint endpoint = Endpoint();
  endpoint.set_port(ntohs(addr.sin_port));
  endpoint.set_connect_timeout_ms(1000);
  endpoint.set_operation_timeout_ms(1000);
  ConnectReport report;
  absl::Time start = absl::Now();
  auto session = connector_.Connect(endpoint, Password("irrelevant"), &report);
  absl::Duration took = absl::Now() - start;
  close(fd);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), absl::StatusCode::kUnavailable) << session.status();
  EXPECT_LT(took, absl::Seconds(5));
  EXPECT_GE(took, absl::Milliseconds(900));
  const ConnectStep* handshake = FindStep(report, "handshake");
  ASSERT_NE(handshake, nullptr);
  EXPECT_FALSE(handshake->ok);
  EXPECT_TRUE(FindStep(report, "tcp")->ok);
}

TEST_F(SftpClientTest, ClosedPortIsUnavailable) {
  v1::SftpEndpoint endpoint = Endpoint();
  rostersync::testing::ClosedPort closed;
  endpoint.set_port(closed.port());
  ConnectReport report;
  auto session = connector_.Connect(endpoint, Password("irrelevant"), &report);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), absl::StatusCode::kUnavailable);
  const ConnectStep* tcp = FindStep(report, "tcp");
  ASSERT_NE(tcp, nullptr);
  EXPECT_FALSE(tcp->ok);
}

// ---- a chrooted user (sshd ChrootDirectory) ----------------------------------------------

TEST(SftpChrootTest, ChrootedUserSeesOnlyTheChrootAndCanFetchAndUpload) {
  signal(SIGPIPE, SIG_IGN);
  SshdServer::Options options;
  options.chroot = true;
  auto sshd = SshdServer::Start(options);
  ASSERT_TRUE(sshd.ok()) << sshd.status();
  ASSERT_EQ((*sshd)->chroot_path(), "/run/rostersync-chroot");
  ASSERT_TRUE((*sshd)->WriteHomeFile("in/roster.csv", "id,name\n1,Ada\n").ok());
  ASSERT_TRUE((*sshd)->MakeHomeDir("out").ok());

  v1::SftpEndpoint endpoint;
  endpoint.set_host("127.0.0.1");
  endpoint.set_port((*sshd)->port());
  endpoint.set_username((*sshd)->user());
  endpoint.set_host_key_sha256((*sshd)->host_key_sha256());
  endpoint.set_connect_timeout_ms(5000);
  endpoint.set_operation_timeout_ms(15000);
  v1::Credentials credentials;
  credentials.set_password((*sshd)->password());
  Libssh2Connector connector;
  auto session = connector.Connect(endpoint, credentials, nullptr);
  ASSERT_TRUE(session.ok()) << session.status() << "\nsshd log:\n" << (*sshd)->Log();

  // The root of the session is the chroot: only "home" is there, no /etc, /tmp or /usr.
  auto root = (*session)->List("/");
  ASSERT_TRUE(root.ok()) << root.status();
  std::vector<std::string> names;
  for (const auto& e : *root) names.push_back(e.name);
  EXPECT_THAT(names, ::testing::ElementsAre("home"));
  auto etc = (*session)->Download("/etc/passwd", [](std::string_view) { return absl::OkStatus(); });
  EXPECT_EQ(etc.status().code(), absl::StatusCode::kNotFound) << etc.status();
  auto escape = (*session)->Download("../../../etc/passwd",
                                     [](std::string_view) { return absl::OkStatus(); });
  EXPECT_EQ(escape.status().code(), absl::StatusCode::kNotFound) << escape.status();

  // Relative paths start in the home folder inside the chroot; absolute ones at its root.
  std::string fetched;
  auto bytes = (*session)->Download("in/roster.csv", [&](std::string_view chunk) {
    fetched.append(chunk.data(), chunk.size());
    return absl::OkStatus();
  });
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(fetched, "id,name\n1,Ada\n");
  auto absolute = (*session)->List("/home/in");
  ASSERT_TRUE(absolute.ok()) << absolute.status();
  ASSERT_EQ(absolute->size(), 1u);
  EXPECT_EQ((*absolute)[0].name, "roster.csv");

  auto uploaded =
      (*session)->Upload("out", "export.csv", [](const ByteSink& sink) { return sink("a,b\n"); });
  ASSERT_TRUE(uploaded.ok()) << uploaded.status();
  EXPECT_EQ((*sshd)->ReadHomeFile("out/export.csv").value_or(""), "a,b\n");
  // The chroot root itself is root-owned: not writable for the user.
  auto at_root = (*session)->Upload("/", "x.csv", [](const ByteSink& sink) { return sink("x"); });
  EXPECT_EQ(at_root.status().code(), absl::StatusCode::kPermissionDenied) << at_root.status();
  EXPECT_THAT((*sshd)->Log(), HasSubstr("Accepted password"));
}

}  // namespace
}  // namespace rostersync::transfer
