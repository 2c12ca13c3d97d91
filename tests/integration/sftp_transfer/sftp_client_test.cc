// The libssh2 SFTP client against a real OpenSSH sshd started by the SshdServer fixture.
#include "services/sftp_transfer/sftp_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

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
  endpoint.set_port(rostersync::testing::PickFreePort());
  ConnectReport report;
  auto session = connector_.Connect(endpoint, Password("irrelevant"), &report);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), absl::StatusCode::kUnavailable);
  const ConnectStep* tcp = FindStep(report, "tcp");
  ASSERT_NE(tcp, nullptr);
  EXPECT_FALSE(tcp->ok);
}

}  // namespace
}  // namespace rostersync::transfer
