// TransferWorker with the real libssh2 client against a real OpenSSH sshd (SshdServer fixture):
// finding the right files (stability check, .done marker, content ledger, order, after-fetch
// move/delete), uploads (temp naming, dated names) and dropped connections mid-transfer.
// The archive, ledger and publisher are in-memory fakes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/sftp_transfer/credentials.h"
#include "services/sftp_transfer/transfer_worker.h"
#include "tests/fixtures/sshd_server.h"
#include "tests/unit/sftp_transfer/transfer_fakes.h"

namespace rostersync::transfer {
namespace {

using ::rostersync::testing::SshdServer;
using ::testing::HasSubstr;
using FakeArchive = ::rostersync::transfer::testing::FakeArchive;
using FakeLedger = ::rostersync::transfer::testing::FakeLedger;
using FakePublisher = ::rostersync::transfer::testing::FakePublisher;

constexpr char kKey[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

std::string RandomBytes(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(gen() & 0xff);
  return out;
}

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// Sets a home file's mtime to `seconds_ago` before now.
void Age(const std::string& path, int seconds_ago) {
  timeval times[2];
  times[0].tv_sec = times[1].tv_sec = time(nullptr) - seconds_ago;
  times[0].tv_usec = times[1].tv_usec = 0;
  ASSERT_EQ(utimes(path.c_str(), times), 0) << path;
}

class TransferWorkerSftpTest : public ::testing::Test {
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
  void SetUp() override {
    ASSERT_NE(sshd_, nullptr) << "sshd did not start";
    // Each test gets its own folder.
    folder_ = std::string("t_") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    ASSERT_TRUE(sshd_->MakeHomeDir(folder_).ok());
    options_.retry.initial_backoff = absl::Milliseconds(50);
    options_.retry.max_backoff = absl::Milliseconds(200);
    options_.sleep = [this](absl::Duration d) {
      sleeps_.push_back(d);
      absl::SleepFor(d);
    };
  }
  void TearDown() override {
    if (HasFailure() && sshd_ != nullptr) std::cerr << "sshd log:\n" << sshd_->Log() << "\n";
  }

  TransferWorker Worker() {
    return TransferWorker(&connector_, &archive_, &publisher_, &ledger_, &sealer_, options_);
  }

  v1::TransferJob Job(v1::TransferJob::Op op, const std::string& step) {
    v1::TransferJob job;
    job.set_job_id("run_" + std::to_string(++job_counter_) + ":" + step);
    job.set_tenant_id("tenant_a");
    job.set_run_id("run_" + std::to_string(job_counter_));
    job.set_integration_id("int_1");
    job.set_op(op);
    job.mutable_endpoint()->set_host("127.0.0.1");
    job.mutable_endpoint()->set_port(sshd_->port());
    job.mutable_endpoint()->set_username(sshd_->user());
    job.mutable_endpoint()->set_host_key_sha256(sshd_->host_key_sha256());
    job.mutable_endpoint()->set_connect_timeout_ms(5000);
    job.mutable_endpoint()->set_operation_timeout_ms(15000);
    v1::Credentials creds;
    creds.set_password(sshd_->password());
    *job.mutable_credentials() = SealCredentials(sealer_, creds, "tenant_a/int_1").value();
    job.set_remote_folder(folder_);
    job.set_file_glob("roster_*");
    return job;
  }

  // A connection killed midway through a transfer of `size` bytes: retried, nothing partial.
  void ExpectKilledDownloadRetried(size_t size);
  void ExpectKilledUploadRetried(size_t size);

  // Runs a job to completion and returns the one event it published.
  v1::RunEvent Run(const v1::TransferJob& job) {
    size_t before = publisher_.published.size();
    absl::Status st = Worker().Handle(job);
    EXPECT_TRUE(st.ok()) << st;
    auto events = publisher_.Events();
    EXPECT_EQ(events.size(), before + 1);
    if (events.size() != before + 1) return v1::RunEvent();
    return events.back();
  }

  std::string Home(const std::string& name) const {
    return sshd_->home() + "/" + folder_ + "/" + name;
  }
  void Write(const std::string& name, const std::string& content) {
    ASSERT_TRUE(sshd_->WriteHomeFile(folder_ + "/" + name, content).ok());
  }
  std::string Archived(const v1::RunEvent& e) {
    auto it = archive_.files.find(e.file_id());
    return it == archive_.files.end() ? "<not archived>" : it->second.bytes;
  }

  static SshdServer* sshd_;
  std::string folder_;
  Libssh2Connector connector_;
  FakeArchive archive_;
  FakePublisher publisher_;
  FakeLedger ledger_;
  Sealer sealer_ = Sealer::FromKeyMaterial(kKey).value();
  WorkerOptions options_;
  std::vector<absl::Duration> sleeps_;
  int job_counter_ = 0;
};

SshdServer* TransferWorkerSftpTest::sshd_ = nullptr;

// ---- finding the right files -------------------------------------------------------------

TEST_F(TransferWorkerSftpTest, GrowingFileIsNotPickedUntilStable) {
  Write("roster_1.csv", "id,name\n");
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    // Appends like a slow HR export until told to stop.
    for (int i = 0; !stop.load(); ++i) {
      std::ofstream out(Home("roster_1.csv"), std::ios::app);
      out << i << ",person " << i << "\n";
      out.close();
      absl::SleepFor(absl::Milliseconds(50));
    }
  });
  v1::TransferJob job = Job(v1::TransferJob::OP_FETCH, "fetch");
  job.mutable_fetch()->set_stability_interval_ms(700);
  v1::RunEvent growing = Run(job);
  stop = true;
  writer.join();
  EXPECT_EQ(growing.type(), v1::RunEvent::TYPE_NO_NEW_FILE) << growing.DebugString();
  EXPECT_THAT(growing.note(), HasSubstr("roster_1.csv is still changing"));
  EXPECT_TRUE(archive_.files.empty());
  EXPECT_EQ(archive_.abandoned, 0) << "an unstable file must not even be downloaded";

  // Once the writer is done, the next run takes the whole file.
  v1::TransferJob again = Job(v1::TransferJob::OP_FETCH, "fetch");
  again.mutable_fetch()->set_stability_interval_ms(700);
  v1::RunEvent fetched = Run(again);
  ASSERT_EQ(fetched.type(), v1::RunEvent::TYPE_FETCHED) << fetched.DebugString();
  EXPECT_EQ(Archived(fetched), sshd_->ReadHomeFile(folder_ + "/roster_1.csv").value());
  EXPECT_GT(fetched.bytes(), 100);
}

TEST_F(TransferWorkerSftpTest, FileYoungerThanTheMinimumAgeIsNotPicked) {
  Write("roster_1.csv", "id\n1\n");
  v1::TransferJob job = Job(v1::TransferJob::OP_FETCH, "fetch");
  job.mutable_fetch()->set_min_age_s(600);
  EXPECT_EQ(Run(job).type(), v1::RunEvent::TYPE_NO_NEW_FILE);
  Age(Home("roster_1.csv"), 601);
  v1::TransferJob later = Job(v1::TransferJob::OP_FETCH, "fetch");
  later.mutable_fetch()->set_min_age_s(600);
  v1::RunEvent e = Run(later);
  EXPECT_EQ(e.type(), v1::RunEvent::TYPE_FETCHED) << e.DebugString();
  EXPECT_EQ(Archived(e), "id\n1\n");
}

TEST_F(TransferWorkerSftpTest, SameContentUnderANewNameIsNotImportedTwice) {
  const std::string content = "id,first\n1,Ada\n2,Grace\n";
  Write("roster_monday.csv", content);
  Age(Home("roster_monday.csv"), 100);
  v1::RunEvent first = Run(Job(v1::TransferJob::OP_FETCH, "fetch"));
  ASSERT_EQ(first.type(), v1::RunEvent::TYPE_FETCHED) << first.DebugString();
  EXPECT_EQ(first.remote_path(), folder_ + "/roster_monday.csv");

  // The HR system drops the very same export again under a new name.
  Write("roster_tuesday.csv", content);
  v1::RunEvent second = Run(Job(v1::TransferJob::OP_FETCH, "fetch"));
  EXPECT_EQ(second.type(), v1::RunEvent::TYPE_NO_NEW_FILE) << second.DebugString();
  EXPECT_THAT(second.note(), HasSubstr("roster_tuesday.csv has the same content"));
  EXPECT_THAT(second.note(), HasSubstr("roster_monday.csv"));
  EXPECT_EQ(archive_.files.size(), 1u) << "the duplicate must not be handed over";
  EXPECT_EQ(archive_.abandoned, 1) << "the duplicate's archive upload must be abandoned";
  ASSERT_EQ(ledger_.duplicates.size(), 1u);
  EXPECT_EQ(ledger_.duplicates[0].key.remote_path, folder_ + "/roster_tuesday.csv");
  EXPECT_EQ(ledger_.duplicates[0].sha256, ledger_.files[0].sha256);
  EXPECT_TRUE(Exists(Home("roster_tuesday.csv"))) << "a skipped duplicate is left in place";

  // Later runs do not even download it again.
  EXPECT_EQ(Run(Job(v1::TransferJob::OP_FETCH, "fetch")).type(), v1::RunEvent::TYPE_NO_NEW_FILE);
  EXPECT_EQ(archive_.abandoned, 1);

  // New content is fetched as usual.
  Write("roster_wednesday.csv", content + "3,Edsger\n");
  v1::RunEvent third = Run(Job(v1::TransferJob::OP_FETCH, "fetch"));
  EXPECT_EQ(third.type(), v1::RunEvent::TYPE_FETCHED);
  EXPECT_EQ(third.remote_path(), folder_ + "/roster_wednesday.csv");
}

TEST_F(TransferWorkerSftpTest, DuplicateIsSkippedAndTheNextNewFileTakenInTheSameRun) {
  Write("roster_a.csv", "same\n");
  Age(Home("roster_a.csv"), 300);
  ASSERT_EQ(Run(Job(v1::TransferJob::OP_FETCH, "fetch")).type(), v1::RunEvent::TYPE_FETCHED);
  Write("roster_b.csv", "different\n");
  Age(Home("roster_b.csv"), 200);
  Write("roster_c.csv", "same\n");  // newest, a duplicate of a
  v1::RunEvent e = Run(Job(v1::TransferJob::OP_FETCH, "fetch"));
  ASSERT_EQ(e.type(), v1::RunEvent::TYPE_FETCHED) << e.DebugString();
  EXPECT_EQ(e.remote_path(), folder_ + "/roster_b.csv");
  EXPECT_THAT(e.note(), HasSubstr("roster_c.csv has the same content"));
}

TEST_F(TransferWorkerSftpTest, DoneMarkerIsHonoured) {
  Write("roster_1.csv", "id\n1\n");
  v1::TransferJob job = Job(v1::TransferJob::OP_FETCH, "fetch");
  job.mutable_fetch()->set_done_marker_suffix(".done");
  EXPECT_EQ(Run(job).type(), v1::RunEvent::TYPE_NO_NEW_FILE);
  EXPECT_TRUE(archive_.files.empty());

  Write("roster_1.csv.done", "");
  v1::TransferJob again = Job(v1::TransferJob::OP_FETCH, "fetch");
  again.mutable_fetch()->set_done_marker_suffix(".done");
  v1::RunEvent e = Run(again);
  ASSERT_EQ(e.type(), v1::RunEvent::TYPE_FETCHED) << e.DebugString();
  EXPECT_EQ(e.remote_path(), folder_ + "/roster_1.csv");  // never the marker itself
  EXPECT_EQ(Archived(e), "id\n1\n");
}

TEST_F(TransferWorkerSftpTest, ProcessedFileAndMarkerAreMovedToTheArchiveFolder) {
  ASSERT_TRUE(sshd_->MakeHomeDir(folder_ + "/processed").ok());
  Write("roster_1.csv", "id\n1\n");
  Write("roster_1.csv.done", "");
  v1::TransferJob job = Job(v1::TransferJob::OP_FETCH, "fetch");
  job.mutable_fetch()->set_done_marker_suffix(".done");
  job.mutable_fetch()->set_after_fetch(v1::FetchOptions::AFTER_FETCH_MOVE);
  job.mutable_fetch()->set_archive_folder(folder_ + "/processed");
  v1::RunEvent e = Run(job);
  ASSERT_EQ(e.type(), v1::RunEvent::TYPE_FETCHED) << e.DebugString();
  EXPECT_FALSE(Exists(Home("roster_1.csv")));
  EXPECT_FALSE(Exists(Home("roster_1.csv.done")));
  EXPECT_EQ(sshd_->ReadHomeFile(folder_ + "/processed/roster_1.csv").value_or(""), "id\n1\n");
  EXPECT_TRUE(Exists(Home("processed/roster_1.csv.done")));
}

TEST_F(TransferWorkerSftpTest, ProcessedFileIsDeleted) {
  Write("roster_1.csv", "id\n1\n");
  Write("other_keep.txt", "not matching\n");
  v1::TransferJob job = Job(v1::TransferJob::OP_FETCH, "fetch");
  job.mutable_fetch()->set_after_fetch(v1::FetchOptions::AFTER_FETCH_DELETE);
  v1::RunEvent e = Run(job);
  ASSERT_EQ(e.type(), v1::RunEvent::TYPE_FETCHED) << e.DebugString();
  EXPECT_EQ(Archived(e), "id\n1\n");
  EXPECT_FALSE(Exists(Home("roster_1.csv")));
  EXPECT_TRUE(Exists(Home("other_keep.txt")));
}

TEST_F(TransferWorkerSftpTest, FileIsLeftByDefault) {
  Write("roster_1.csv", "id\n1\n");
  ASSERT_EQ(Run(Job(v1::TransferJob::OP_FETCH, "fetch")).type(), v1::RunEvent::TYPE_FETCHED);
  EXPECT_TRUE(Exists(Home("roster_1.csv")));
}

TEST_F(TransferWorkerSftpTest, MoveWithoutArchiveFolderIsAPermanentFailure) {
  v1::TransferJob job = Job(v1::TransferJob::OP_FETCH, "fetch");
  job.mutable_fetch()->set_after_fetch(v1::FetchOptions::AFTER_FETCH_MOVE);
  v1::RunEvent e = Run(job);
  EXPECT_EQ(e.type(), v1::RunEvent::TYPE_FAILED);
  EXPECT_THAT(e.error(), HasSubstr("fetch.archive_folder"));
}

TEST_F(TransferWorkerSftpTest, OldestFirstTakesEveryNewFileInOrderOnePerRun) {
  Write("roster_c.csv", "c\n");
  Age(Home("roster_c.csv"), 100);
  Write("roster_a.csv", "a\n");
  Age(Home("roster_a.csv"), 300);
  Write("roster_b.csv", "b\n");
  Age(Home("roster_b.csv"), 200);
  std::vector<std::string> order;
  for (int i = 0; i < 4; ++i) {
    v1::TransferJob job = Job(v1::TransferJob::OP_FETCH, "fetch");
    job.mutable_fetch()->set_order(v1::FetchOptions::ORDER_OLDEST_FIRST);
    v1::RunEvent e = Run(job);
    order.push_back(e.type() == v1::RunEvent::TYPE_FETCHED ? Archived(e) : "none");
  }
  EXPECT_THAT(order, ::testing::ElementsAre("a\n", "b\n", "c\n", "none"));
}

TEST_F(TransferWorkerSftpTest, NewestIsTheDefaultOrder) {
  Write("roster_a.csv", "a\n");
  Age(Home("roster_a.csv"), 300);
  Write("roster_b.csv", "b\n");
  v1::RunEvent e = Run(Job(v1::TransferJob::OP_FETCH, "fetch"));
  EXPECT_EQ(Archived(e), "b\n");
}

// ---- uploads -----------------------------------------------------------------------------

TEST_F(TransferWorkerSftpTest, UploadRendersTheDateInTheIntegrationsTimeZone) {
  // 2026-11-21 23:30 UTC is already the 22nd in Berlin.
  options_.now = [] {
    return absl::FromCivil(absl::CivilSecond(2026, 11, 21, 23, 30, 0), absl::UTCTimeZone());
  };
  std::string file_id = archive_.Add("tenant_a", "export.csv", "id\n1\n");
  v1::TransferJob job = Job(v1::TransferJob::OP_UPLOAD, "upload");
  job.set_file_id(file_id);
  job.set_remote_name("roster_{yyyyMMdd}.csv");
  job.set_time_zone("Europe/Berlin");
  v1::RunEvent e = Run(job);
  ASSERT_EQ(e.type(), v1::RunEvent::TYPE_UPLOADED) << e.DebugString();
  EXPECT_EQ(e.remote_path(), folder_ + "/roster_20261122.csv");
  EXPECT_EQ(sshd_->ReadHomeFile(folder_ + "/roster_20261122.csv").value_or(""), "id\n1\n");
}

TEST_F(TransferWorkerSftpTest, UploadWithABadDatePatternFailsNamingIt) {
  std::string file_id = archive_.Add("tenant_a", "export.csv", "id\n1\n");
  v1::TransferJob job = Job(v1::TransferJob::OP_UPLOAD, "upload");
  job.set_file_id(file_id);
  job.set_remote_name("roster_{yyyyXX}.csv");
  v1::RunEvent e = Run(job);
  EXPECT_EQ(e.type(), v1::RunEvent::TYPE_FAILED);
  EXPECT_THAT(e.error(), HasSubstr("{yyyyXX}"));
}

TEST_F(TransferWorkerSftpTest, UploadUsesTheConfiguredTempName) {
  const std::string content = RandomBytes(4 * 1024 * 1024, 5);
  std::string file_id = archive_.Add("tenant_a", "export.csv", content);
  archive_.read_chunk = 1024 * 1024;
  bool saw_temp = false;
  bool saw_default_temp = false;
  archive_.on_read_chunk = [&] {
    saw_temp = saw_temp || Exists(Home("tmp_roster.csv.uploading"));
    saw_default_temp = saw_default_temp || Exists(Home(".roster.csv.part"));
  };
  v1::TransferJob job = Job(v1::TransferJob::OP_UPLOAD, "upload");
  job.set_file_id(file_id);
  job.set_remote_name("roster.csv");
  job.mutable_upload()->set_temp_prefix("tmp_");
  job.mutable_upload()->set_temp_suffix(".uploading");
  v1::RunEvent e = Run(job);
  ASSERT_EQ(e.type(), v1::RunEvent::TYPE_UPLOADED) << e.DebugString();
  EXPECT_TRUE(saw_temp);
  EXPECT_FALSE(saw_default_temp);
  EXPECT_FALSE(Exists(Home("tmp_roster.csv.uploading")));
  EXPECT_TRUE(sshd_->ReadHomeFile(folder_ + "/roster.csv").value_or("") == content);
}

// ---- host keys ---------------------------------------------------------------------------

TEST_F(TransferWorkerSftpTest, FetchReportsTheHostKeyItSaw) {
  Write("roster_1.csv", "id\n1\n");
  v1::RunEvent e = Run(Job(v1::TransferJob::OP_FETCH, "fetch"));
  ASSERT_EQ(e.type(), v1::RunEvent::TYPE_FETCHED) << e.DebugString();
  EXPECT_EQ(e.host_key_type(), "ssh-ed25519");
  EXPECT_EQ(e.host_key_sha256(), sshd_->host_key_sha256());
}

TEST_F(TransferWorkerSftpTest, NoPinWithoutTrustOnFirstUseFailsPermanentlyNamingTheFix) {
  Write("roster_1.csv", "id\n1\n");
  v1::TransferJob job = Job(v1::TransferJob::OP_FETCH, "fetch");
  job.mutable_endpoint()->clear_host_key_sha256();
  v1::RunEvent e = Run(job);
  EXPECT_EQ(e.type(), v1::RunEvent::TYPE_FAILED) << e.DebugString();
  EXPECT_THAT(e.error(), HasSubstr("SftpEndpoint.host_key_sha256"));
  EXPECT_THAT(e.error(), HasSubstr("rosterctl integrations scan-host-key"));
  EXPECT_TRUE(archive_.files.empty());
  EXPECT_TRUE(sleeps_.empty()) << "a refused host key is not retried";
}

TEST_F(TransferWorkerSftpTest, NoPinWithTrustOnFirstUseFetchesAndReportsTheKeyToPin) {
  auto scanned = connector_.ScanHostKey(Job(v1::TransferJob::OP_FETCH, "scan").endpoint());
  ASSERT_TRUE(scanned.ok()) << scanned.status();
  Write("roster_1.csv", "id\n1\n");
  v1::TransferJob job = Job(v1::TransferJob::OP_FETCH, "fetch");
  job.mutable_endpoint()->clear_host_key_sha256();
  job.mutable_endpoint()->set_trust_on_first_use(true);
  v1::RunEvent e = Run(job);
  ASSERT_EQ(e.type(), v1::RunEvent::TYPE_FETCHED) << e.DebugString();
  EXPECT_EQ(Archived(e), "id\n1\n");
  EXPECT_EQ(e.host_key_sha256(), scanned->sha256);
  EXPECT_EQ(e.host_key_type(), scanned->type);

  // An upload reports it too.
  std::string file_id = archive_.Add("tenant_a", "export.csv", "a\n");
  v1::TransferJob up = Job(v1::TransferJob::OP_UPLOAD, "upload");
  up.mutable_endpoint()->clear_host_key_sha256();
  up.mutable_endpoint()->set_trust_on_first_use(true);
  up.set_file_id(file_id);
  up.set_remote_name("out.csv");
  v1::RunEvent u = Run(up);
  ASSERT_EQ(u.type(), v1::RunEvent::TYPE_UPLOADED) << u.DebugString();
  EXPECT_EQ(u.host_key_sha256(), scanned->sha256);
}

TEST_F(TransferWorkerSftpTest, UploadIntoAFolderThatIsNotWritableFailsNamingTheFolder) {
  ASSERT_EQ(chmod((sshd_->home() + "/" + folder_).c_str(), 0555), 0);
  std::string file_id = archive_.Add("tenant_a", "export.csv", "id\n1\n");
  v1::TransferJob job = Job(v1::TransferJob::OP_UPLOAD, "upload");
  job.set_file_id(file_id);
  job.set_remote_name("roster.csv");
  v1::RunEvent e = Run(job);
  EXPECT_EQ(e.type(), v1::RunEvent::TYPE_FAILED) << e.DebugString();
  EXPECT_THAT(e.error(), HasSubstr(absl::StrCat("in folder \"", folder_, "\"")));
  EXPECT_THAT(e.error(), HasSubstr("permission denied"));
  EXPECT_TRUE(sleeps_.empty()) << "a permission problem is not retried";
}

// ---- dropped connections -----------------------------------------------------------------

// 24 MiB moves over one connection; 40 MiB is striped over two (SftpEndpoint.max_streams
// defaults to 2 for downloads of 32 MiB or more; the upload sets it), and the kill takes both
// down.
constexpr size_t kOneStreamBytes = 24 * 1024 * 1024;
constexpr size_t kStripedBytes = 40 * 1024 * 1024 + 4321;

void TransferWorkerSftpTest::ExpectKilledDownloadRetried(size_t size) {
  const std::string content = RandomBytes(size, 9);
  Write("roster_big.csv", content);
  int kills = 0;
  archive_.on_write = [&] {
    if (kills == 0) kills += sshd_->KillSessions() > 0 ? 1 : 0;
  };
  v1::RunEvent e = Run(Job(v1::TransferJob::OP_FETCH, "fetch"));
  ASSERT_EQ(kills, 1) << "the fixture found no session process to kill";
  ASSERT_EQ(e.type(), v1::RunEvent::TYPE_FETCHED) << e.DebugString();
  EXPECT_EQ(archive_.files.size(), 1u);
  EXPECT_EQ(archive_.abandoned, 1) << "the partial download must be abandoned, not stored";
  EXPECT_TRUE(Archived(e) == content) << "archived content differs";
  EXPECT_EQ(e.bytes(), static_cast<int64_t>(content.size()));
  ASSERT_EQ(sleeps_.size(), 1u);
  EXPECT_GE(sleeps_[0], absl::Milliseconds(25));
  EXPECT_LE(sleeps_[0], absl::Milliseconds(50));
}

void TransferWorkerSftpTest::ExpectKilledUploadRetried(size_t size) {
  const std::string content = RandomBytes(size, 10);
  Write("roster.csv", "previous export\n");
  std::string file_id = archive_.Add("tenant_a", "export.csv", content);
  archive_.read_chunk = 1024 * 1024;
  int kills = 0;
  int chunks = 0;
  std::string target_mid_upload;
  // Past the first stripes (and, striped, past the point the second stream opens).
  const int kill_at = size > kOneStreamBytes ? 36 : 3;
  archive_.on_read_chunk = [&] {
    if (++chunks == kill_at && kills == 0) {
      target_mid_upload = sshd_->ReadHomeFile(folder_ + "/roster.csv").value_or("");
      kills += sshd_->KillSessions() > 0 ? 1 : 0;
    }
  };
  v1::TransferJob job = Job(v1::TransferJob::OP_UPLOAD, "upload");
  job.set_file_id(file_id);
  job.set_remote_name("roster.csv");
  // Uploads stripe only when max_streams is set explicitly.
  if (size > kOneStreamBytes) job.mutable_endpoint()->set_max_streams(2);
  v1::RunEvent e = Run(job);
  ASSERT_EQ(kills, 1) << "the fixture found no session process to kill";
  ASSERT_EQ(e.type(), v1::RunEvent::TYPE_UPLOADED) << e.DebugString();
  EXPECT_EQ(target_mid_upload, "previous export\n") << "the target is only ever replaced whole";
  EXPECT_TRUE(sshd_->ReadHomeFile(folder_ + "/roster.csv").value_or("") == content);
  EXPECT_FALSE(Exists(Home(".roster.csv.part"))) << "a partial temp file was left behind";
  EXPECT_EQ(sleeps_.size(), 1u);
}

TEST_F(TransferWorkerSftpTest, ConnectionKilledMidDownloadIsRetriedAndNoPartialIsHandedOver) {
  ExpectKilledDownloadRetried(kOneStreamBytes);
}

TEST_F(TransferWorkerSftpTest, StripedDownloadKilledMidwayIsRetriedAndNoPartialIsHandedOver) {
  ExpectKilledDownloadRetried(kStripedBytes);
}

TEST_F(TransferWorkerSftpTest, ConnectionKilledMidUploadIsRetriedAndLeavesNoPartialFile) {
  ExpectKilledUploadRetried(kOneStreamBytes);
}

TEST_F(TransferWorkerSftpTest, StripedUploadKilledMidwayIsRetriedAndLeavesNoPartialFile) {
  ExpectKilledUploadRetried(kStripedBytes);
}

TEST_F(TransferWorkerSftpTest, ConnectionKilledOnEveryAttemptEndsInARetryableFailure) {
  const std::string content = RandomBytes(24 * 1024 * 1024, 11);
  Write("roster_big.csv", content);
  options_.retry.max_attempts = 2;
  archive_.on_write = [&] { sshd_->KillSessions(); };
  absl::Status st = Worker().Handle(Job(v1::TransferJob::OP_FETCH, "fetch"));
  ASSERT_TRUE(st.ok()) << st;
  // Handed to the scheduler's step retry: a FAILED event marked retryable, and nothing fetched.
  auto events = publisher_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type(), v1::RunEvent::TYPE_FAILED);
  EXPECT_TRUE(events[0].retryable());
  EXPECT_TRUE(archive_.files.empty()) << "no partial download is ever handed over";
  EXPECT_EQ(archive_.abandoned, 2);
  EXPECT_TRUE(ledger_.files.empty());
  EXPECT_EQ(sleeps_.size(), 1u);
}

}  // namespace
}  // namespace rostersync::transfer
