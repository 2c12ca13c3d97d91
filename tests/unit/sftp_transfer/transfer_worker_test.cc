#include "services/sftp_transfer/transfer_worker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <tuple>

#include "common/queue_codec.h"
#include "services/sftp_transfer/credentials.h"
#include "tests/unit/sftp_transfer/transfer_fakes.h"

namespace rostersync::transfer {
namespace {

using ::testing::ElementsAre;
using testing::FakeArchive;
using testing::FakeLedger;
using testing::FakePublisher;
using ::testing::HasSubstr;
using ::testing::Not;

// ---- fakes -------------------------------------------------------------------------------

struct RemoteFs {
  std::vector<RemoteEntry> entries;          // of the listed folder
  std::map<std::string, std::string> files;  // path -> content
  absl::Status list_error;
  int64_t report_size_delta = 0;  // pretend the file grows between listing and reading
};

class FakeSession : public SftpSession {
 public:
  explicit FakeSession(RemoteFs* fs) : fs_(fs) { key_ = {"ssh-ed25519", "SHA256:fake"}; }
  const HostKeyInfo& host_key() const override { return key_; }
  absl::StatusOr<std::vector<RemoteEntry>> List(const std::string& folder) override {
    if (!fs_->list_error.ok()) return fs_->list_error;
    return fs_->entries;
  }
  absl::StatusOr<int64_t> Download(const std::string& path, const ByteSink& sink) override {
    auto it = fs_->files.find(path);
    if (it == fs_->files.end()) return absl::NotFoundError("no such file: " + path);
    std::string content = it->second + std::string(fs_->report_size_delta, 'x');
    // Two chunks, to exercise streaming.
    size_t half = content.size() / 2;
    if (auto st = sink(std::string_view(content).substr(0, half)); !st.ok()) return st;
    if (auto st = sink(std::string_view(content).substr(half)); !st.ok()) return st;
    return static_cast<int64_t>(content.size());
  }
  absl::StatusOr<int64_t> Upload(const std::string& folder, const std::string& name,
                                 const v1::UploadOptions& options,
                                 const ByteProducer& producer) override {
    std::string content;
    absl::Status st = producer([&](std::string_view b) {
      content.append(b.data(), b.size());
      return absl::OkStatus();
    });
    if (!st.ok()) return st;
    fs_->files[JoinRemotePath(folder, name)] = content;
    return static_cast<int64_t>(content.size());
  }
  absl::Status Remove(const std::string& path) override {
    fs_->files.erase(path);
    return absl::OkStatus();
  }
  absl::Status Rename(const std::string& from, const std::string& to) override {
    auto it = fs_->files.find(from);
    if (it == fs_->files.end()) return absl::NotFoundError("no such file: " + from);
    fs_->files[to] = it->second;
    fs_->files.erase(from);
    return absl::OkStatus();
  }

 private:
  RemoteFs* fs_;
  HostKeyInfo key_;
};

class FakeConnector : public SftpConnector {
 public:
  absl::StatusOr<std::unique_ptr<SftpSession>> Connect(const v1::SftpEndpoint& endpoint,
                                                       const v1::Credentials& credentials,
                                                       ConnectReport* report) override {
    ++connects;
    last_credentials = credentials;
    if (!connect_error.ok()) return connect_error;
    return std::unique_ptr<SftpSession>(new FakeSession(&fs));
  }
  RemoteFs fs;
  absl::Status connect_error;
  int connects = 0;
  v1::Credentials last_credentials;
};

// ---- fixture -----------------------------------------------------------------------------

constexpr char kKey[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr char kPassword[] = "s3cret-Pa55";

class TransferWorkerTest : public ::testing::Test {
 protected:
  TransferWorkerTest()
      : sealer_(Sealer::FromKeyMaterial(kKey).value()),
        worker_(&connector_, &archive_, &publisher_, &ledger_, &sealer_, Options()) {}

  WorkerOptions Options() {
    WorkerOptions o;
    o.sleep = [this](absl::Duration d) { sleeps_.push_back(d); };
    return o;
  }
  std::vector<absl::Duration> sleeps_;

  v1::TransferJob Job(v1::TransferJob::Op op, const std::string& step) {
    v1::TransferJob job;
    job.set_job_id("run_1:" + step);
    job.set_tenant_id("tenant_a");
    job.set_run_id("run_1");
    job.set_integration_id("int_1");
    job.set_op(op);
    job.mutable_endpoint()->set_host("sftp.example.test");
    job.mutable_endpoint()->set_port(2222);
    job.mutable_endpoint()->set_username("acme");
    job.mutable_endpoint()->set_host_key_sha256("SHA256:fake");
    v1::Credentials creds;
    creds.set_password(kPassword);
    *job.mutable_credentials() = SealCredentials(sealer_, creds, "tenant_a/int_1").value();
    job.set_remote_folder("in");
    job.set_file_glob("roster_*.csv");
    return job;
  }

  void AddRemote(const std::string& name, int64_t mtime, const std::string& content,
                 bool regular = true) {
    connector_.fs.entries.push_back(
        RemoteEntry{name, static_cast<int64_t>(content.size()), mtime, regular});
    connector_.fs.files[JoinRemotePath("in", name)] = content;
  }

  FakeConnector connector_;
  FakeArchive archive_;
  FakePublisher publisher_;
  FakeLedger ledger_;
  Sealer sealer_;
  TransferWorker worker_;
};

// ---- tests -------------------------------------------------------------------------------

TEST(FetchCandidatesTest, FiltersIgnoredAndNonMatchingAndSortsNewestFirst) {
  std::vector<RemoteEntry> entries = {
      {"roster_a.csv", 10, 100, true},          {"roster_b.csv", 10, 300, true},
      {".roster_c.csv", 10, 900, true},         {"roster_d.csv.part", 10, 900, true},
      {"roster_e.csv.filepart", 10, 900, true}, {"roster_f.csv.tmp", 10, 900, true},
      {"roster_g.csv", 0, 900, false},          {"other.csv", 10, 900, true},
      {"roster_h.csv", 10, 300, true},
  };
  std::vector<std::string> names;
  for (const auto& e : FetchCandidates(entries, "roster_*.csv")) names.push_back(e.name);
  EXPECT_THAT(names, ElementsAre("roster_h.csv", "roster_b.csv", "roster_a.csv"));
}

TEST(FetchCandidatesTest, IgnoredNames) {
  EXPECT_TRUE(IsIgnoredRemoteName(".hidden.csv"));
  EXPECT_TRUE(IsIgnoredRemoteName("x.csv.PART"));
  EXPECT_TRUE(IsIgnoredRemoteName("x.csv.filepart"));
  EXPECT_TRUE(IsIgnoredRemoteName("x.tmp"));
  EXPECT_FALSE(IsIgnoredRemoteName("roster.csv"));
}

TEST_F(TransferWorkerTest, FetchPicksNewestUnprocessedMatchingFile) {
  AddRemote("roster_old.csv", 100, "old\n");
  AddRemote("roster_mid.csv", 200, "id,first\n1,Ada\n");
  AddRemote("roster_new.csv", 300, "already processed\n");
  AddRemote("roster_newer.csv.part", 400, "partial\n");
  AddRemote(".roster_hidden.csv", 500, "hidden\n");
  AddRemote("notes.txt", 600, "not matching\n");
  AddRemote("roster_dir.csv", 700, "", /*regular=*/false);
  ledger_.processed.insert({"tenant_a", "int_1", "in/roster_new.csv", int64_t{18}, int64_t{300}});

  ASSERT_TRUE(worker_.Handle(Job(v1::TransferJob::OP_FETCH, "fetch")).ok());

  auto events = publisher_.Events();
  ASSERT_EQ(events.size(), 1u);
  const v1::RunEvent& e = events[0];
  EXPECT_EQ(e.type(), v1::RunEvent::TYPE_FETCHED) << e.error();
  EXPECT_EQ(e.event_id(), "run_1:fetch:TYPE_FETCHED");
  EXPECT_EQ(e.job_id(), "run_1:fetch");
  EXPECT_EQ(e.run_id(), "run_1");
  EXPECT_EQ(e.tenant_id(), "tenant_a");
  EXPECT_EQ(e.remote_path(), "in/roster_mid.csv");
  EXPECT_EQ(e.bytes(), 15);
  ASSERT_EQ(archive_.files.count(e.file_id()), 1u);
  const auto& stored = archive_.files[e.file_id()];
  EXPECT_EQ(stored.bytes, "id,first\n1,Ada\n");
  EXPECT_EQ(stored.info.kind(), v1::FILE_KIND_SOURCE);
  EXPECT_EQ(stored.info.name(), "roster_mid.csv");
  ASSERT_EQ(ledger_.files.size(), 1u);
  EXPECT_EQ(ledger_.files[0].key.remote_path, "in/roster_mid.csv");
  EXPECT_EQ(ledger_.files[0].key.mtime, 200);
  EXPECT_EQ(ledger_.files[0].sha256.size(), 64u);
  EXPECT_EQ(connector_.last_credentials.password(), kPassword);  // opened from the seal
}

TEST_F(TransferWorkerTest, FetchWithOnlyProcessedFilesReportsNoNewFile) {
  AddRemote("roster_1.csv", 100, "abc");
  AddRemote("roster_1.csv.part", 500, "abcdef");
  ledger_.processed.insert({"tenant_a", "int_1", "in/roster_1.csv", int64_t{3}, int64_t{100}});

  ASSERT_TRUE(worker_.Handle(Job(v1::TransferJob::OP_FETCH, "fetch")).ok());
  auto events = publisher_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type(), v1::RunEvent::TYPE_NO_NEW_FILE);
  EXPECT_TRUE(archive_.files.empty());
}

TEST_F(TransferWorkerTest, ChangedFileWithSameNameIsFetchedAgain) {
  AddRemote("roster_1.csv", 100, "abc");
  // Same path, but the ledger saw it with another size and mtime.
  ledger_.processed.insert({"tenant_a", "int_1", "in/roster_1.csv", int64_t{2}, int64_t{50}});
  ASSERT_TRUE(worker_.Handle(Job(v1::TransferJob::OP_FETCH, "fetch")).ok());
  EXPECT_EQ(publisher_.Events().at(0).type(), v1::RunEvent::TYPE_FETCHED);
}

TEST_F(TransferWorkerTest, RedeliveredJobRepublishesTheStoredEvent) {
  AddRemote("roster_1.csv", 100, "abc");
  v1::TransferJob job = Job(v1::TransferJob::OP_FETCH, "fetch");
  ASSERT_TRUE(worker_.Handle(job).ok());
  // A new file shows up meanwhile; the redelivered job must not fetch it.
  AddRemote("roster_2.csv", 200, "defg");
  ASSERT_TRUE(worker_.Handle(job).ok());

  EXPECT_EQ(connector_.connects, 1);
  ASSERT_EQ(publisher_.published.size(), 2u);
  EXPECT_EQ(publisher_.published[0].second, publisher_.published[1].second);
  EXPECT_EQ(archive_.files.size(), 1u);
  EXPECT_EQ(publisher_.Events()[1].remote_path(), "in/roster_1.csv");
}

TEST_F(TransferWorkerTest, ConcurrentDeliveryPublishesTheFirstRecordedEventNotItsOwn) {
  // Delivery A of the job fetched roster_1.csv and recorded its FETCHED event; delivery B (a
  // reclaim racing A) looked before A recorded, and meanwhile a newer file appeared.
  AddRemote("roster_1.csv", 100, "abc");
  v1::TransferJob job = Job(v1::TransferJob::OP_FETCH, "fetch");
  v1::RunEvent first = NewEvent(job, v1::RunEvent::TYPE_FETCHED);
  first.set_file_id("file_from_a");
  first.set_remote_path("in/roster_1.csv");
  first.set_bytes(3);
  ledger_.results.emplace(job.job_id(), first);
  ledger_.processed.insert({"tenant_a", "int_1", "in/roster_1.csv", int64_t{3}, int64_t{100}});
  AddRemote("roster_2.csv", 200, "defg");
  ledger_.hide_results_once = true;

  ASSERT_TRUE(worker_.Handle(job).ok());

  // B publishes A's event (same file), not one for the file it fetched itself...
  ASSERT_EQ(publisher_.published.size(), 1u);
  EXPECT_EQ(publisher_.published[0].second, EncodeQueueMessage(first));
  // ...and does not mark its own file processed: roster_2.csv stays fetchable.
  EXPECT_TRUE(ledger_.files.empty());
  EXPECT_EQ(
      ledger_.processed.count({"tenant_a", "int_1", "in/roster_2.csv", int64_t{4}, int64_t{200}}),
      0u);
}

TEST_F(TransferWorkerTest, PublishFailureReturnsErrorAndRedeliveryPublishesSameEvent) {
  AddRemote("roster_1.csv", 100, "abc");
  v1::TransferJob job = Job(v1::TransferJob::OP_FETCH, "fetch");
  publisher_.error = absl::UnavailableError("redis down");
  EXPECT_EQ(worker_.Handle(job).code(), absl::StatusCode::kUnavailable);
  publisher_.error = absl::OkStatus();
  ASSERT_TRUE(worker_.Handle(job).ok());
  EXPECT_EQ(connector_.connects, 1);
  ASSERT_EQ(publisher_.Events().size(), 1u);
  EXPECT_EQ(publisher_.Events()[0].type(), v1::RunEvent::TYPE_FETCHED);
}

TEST_F(TransferWorkerTest, NetworkFailureAfterTheAttemptsIsARetryableFailure) {
  connector_.connect_error = absl::UnavailableError("TCP connect to x:22 timed out");
  ASSERT_TRUE(worker_.Handle(Job(v1::TransferJob::OP_FETCH, "fetch")).ok());
  // The scheduler retries the step (with its backoff, as a new job): FAILED + retryable.
  ASSERT_EQ(publisher_.Events().size(), 1u);
  EXPECT_EQ(publisher_.Events()[0].type(), v1::RunEvent::TYPE_FAILED);
  EXPECT_TRUE(publisher_.Events()[0].retryable());
  EXPECT_THAT(publisher_.Events()[0].error(), ::testing::HasSubstr("timed out"));
  EXPECT_EQ(ledger_.results.size(), 1u);
  // Retried within the job first, with growing waits, up to the limit.
  EXPECT_EQ(connector_.connects, RetryPolicy().max_attempts);
  ASSERT_EQ(sleeps_.size(), static_cast<size_t>(RetryPolicy().max_attempts - 1));
  EXPECT_GE(sleeps_[0], absl::Milliseconds(500));
  EXPECT_LE(sleeps_[0], absl::Seconds(1));
  EXPECT_GE(sleeps_[2], absl::Seconds(2));
  EXPECT_LE(sleeps_[2], absl::Seconds(4));
}

TEST(RetryBackoffTest, GrowsExponentiallyWithJitterUpToTheCap) {
  RetryPolicy p;
  p.initial_backoff = absl::Seconds(1);
  p.max_backoff = absl::Seconds(10);
  EXPECT_EQ(RetryBackoff(p, 1, 1.0), absl::Seconds(1));
  EXPECT_EQ(RetryBackoff(p, 1, 0.0), absl::Milliseconds(500));
  EXPECT_EQ(RetryBackoff(p, 3, 1.0), absl::Seconds(4));
  EXPECT_EQ(RetryBackoff(p, 10, 1.0), absl::Seconds(10));
  EXPECT_EQ(RetryBackoff(p, 10, 0.0), absl::Seconds(5));
}

TEST(RenderDatedNameTest, RendersInTheTimeZone) {
  absl::Time late =
      absl::FromCivil(absl::CivilSecond(2026, 11, 21, 23, 30, 5), absl::UTCTimeZone());
  EXPECT_EQ(RenderDatedName("roster_{yyyyMMdd}.csv", "", late).value(), "roster_20261121.csv");
  EXPECT_EQ(RenderDatedName("roster_{yyyyMMdd}.csv", "Europe/Berlin", late).value(),
            "roster_20261122.csv");
  EXPECT_EQ(RenderDatedName("r_{yyyy-MM-dd_HHmmss}.csv", "UTC", late).value(),
            "r_2026-11-21_233005.csv");
  EXPECT_EQ(RenderDatedName("plain.csv", "UTC", late).value(), "plain.csv");
  auto bad = RenderDatedName("roster_{yyyyQQ}.csv", "UTC", late);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("yyyyQQ"));
  EXPECT_FALSE(RenderDatedName("roster_{yyyy.csv", "UTC", late).ok());
  EXPECT_FALSE(RenderDatedName("roster_{}.csv", "UTC", late).ok());
  EXPECT_FALSE(RenderDatedName("roster.csv", "Mars/Olympus", late).ok());
}

TEST(SelectFetchCandidatesTest, MarkerAgeAndOrder) {
  std::vector<RemoteEntry> entries = {
      {"roster_a.csv", 10, 100, true},         {"roster_a.csv.done", 0, 100, true},
      {"roster_b.csv", 10, 300, true},         {"roster_b.csv.done", 0, 300, true},
      {"roster_c.csv", 10, 200, true},         {"roster_young.csv", 10, 995, true},
      {"roster_young.csv.done", 0, 995, true},
  };
  absl::Time now = absl::FromUnixSeconds(1000);
  v1::FetchOptions o;
  auto names = [&] {
    std::vector<std::string> out;
    for (const auto& e : SelectFetchCandidates(entries, "roster_*", o, now)) out.push_back(e.name);
    return out;
  };
  o.set_done_marker_suffix(".done");
  o.set_min_age_s(60);
  EXPECT_THAT(names(), ElementsAre("roster_b.csv", "roster_a.csv"));
  o.set_order(v1::FetchOptions::ORDER_OLDEST_FIRST);
  EXPECT_THAT(names(), ElementsAre("roster_a.csv", "roster_b.csv"));
  o.clear_done_marker_suffix();
  o.set_min_age_s(0);
  EXPECT_THAT(names(),
              ElementsAre("roster_a.csv", "roster_a.csv.done", "roster_c.csv", "roster_b.csv",
                          "roster_b.csv.done", "roster_young.csv", "roster_young.csv.done"));
}

TEST_F(TransferWorkerTest, HostKeyMismatchIsAPermanentFailure) {
  connector_.connect_error =
      absl::FailedPreconditionError("host key mismatch: expected SHA256:a but got SHA256:b");
  ASSERT_TRUE(worker_.Handle(Job(v1::TransferJob::OP_FETCH, "fetch")).ok());
  auto events = publisher_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type(), v1::RunEvent::TYPE_FAILED);
  EXPECT_EQ(events[0].event_id(), "run_1:fetch:TYPE_FAILED");
  EXPECT_THAT(events[0].error(), HasSubstr("host key mismatch"));
  EXPECT_THAT(events[0].error(), Not(HasSubstr(kPassword)));
}

TEST_F(TransferWorkerTest, AuthFailureIsAPermanentFailure) {
  connector_.connect_error = absl::PermissionDeniedError("server rejected the password");
  ASSERT_TRUE(worker_.Handle(Job(v1::TransferJob::OP_UPLOAD, "upload")).ok());
  ASSERT_EQ(publisher_.Events().size(), 1u);
  EXPECT_EQ(publisher_.Events()[0].type(), v1::RunEvent::TYPE_FAILED);
}

TEST_F(TransferWorkerTest, CredentialsSealedForAnotherIntegrationAreRefused) {
  v1::TransferJob job = Job(v1::TransferJob::OP_FETCH, "fetch");
  job.set_integration_id("int_2");
  ASSERT_TRUE(worker_.Handle(job).ok());
  EXPECT_EQ(connector_.connects, 0);
  ASSERT_EQ(publisher_.Events().size(), 1u);
  EXPECT_EQ(publisher_.Events()[0].type(), v1::RunEvent::TYPE_FAILED);
  EXPECT_THAT(publisher_.Events()[0].error(), HasSubstr("tenant_a/int_1"));
}

// The job's context is a full "<tenant>/<integration>": it must match exactly, not as a prefix.
TEST_F(TransferWorkerTest, CredentialsSealedForAnIntegrationWithALongerIdAreRefused) {
  v1::TransferJob job = Job(v1::TransferJob::OP_FETCH, "fetch");
  v1::Credentials creds;
  creds.set_password(kPassword);
  *job.mutable_credentials() = SealCredentials(sealer_, creds, "tenant_a/int_12").value();
  ASSERT_TRUE(worker_.Handle(job).ok());
  EXPECT_EQ(connector_.connects, 0);
  ASSERT_EQ(publisher_.Events().size(), 1u);
  EXPECT_EQ(publisher_.Events()[0].type(), v1::RunEvent::TYPE_FAILED);
  EXPECT_THAT(publisher_.Events()[0].error(), HasSubstr("tenant_a/int_12"));
  EXPECT_THAT(publisher_.Events()[0].error(), Not(HasSubstr(kPassword)));
}

TEST(OpenCredentialsTest, TenantPrefixAdmitsTheTenantsIntegrationsOnly) {
  Sealer sealer = Sealer::FromKeyMaterial(std::string(32, 'k')).value();
  v1::Credentials creds;
  creds.set_password("pw");
  auto sealed = SealCredentials(sealer, creds, "tenant_a/int_1").value();
  EXPECT_TRUE(OpenCredentials(sealer, sealed, "tenant_a/").ok());
  EXPECT_TRUE(OpenCredentials(sealer, sealed, "tenant_a/int_1").ok());
  EXPECT_EQ(OpenCredentials(sealer, sealed, "tenant_a/int_").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(OpenCredentials(sealer, sealed, "tenant_ab/").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(WipeCredentialsTest, ClearsEverySecret) {
  v1::Credentials creds;
  creds.mutable_private_key()->set_key_pem("-----BEGIN OPENSSH PRIVATE KEY-----");
  creds.mutable_private_key()->set_passphrase("pp");
  WipeCredentials(creds);
  EXPECT_EQ(creds.kind_case(), v1::Credentials::KIND_NOT_SET);
  creds.set_password("pw");
  WipeCredentials(creds);
  EXPECT_EQ(creds.kind_case(), v1::Credentials::KIND_NOT_SET);
}

TEST_F(TransferWorkerTest, MissingRemoteFolderIsAPermanentFailure) {
  connector_.fs.list_error = absl::NotFoundError("SFTP: cannot open folder \"in\": no such file");
  ASSERT_TRUE(worker_.Handle(Job(v1::TransferJob::OP_FETCH, "fetch")).ok());
  EXPECT_EQ(publisher_.Events().at(0).type(), v1::RunEvent::TYPE_FAILED);
  EXPECT_FALSE(publisher_.Events().at(0).retryable());
}

TEST_F(TransferWorkerTest, FileGrowingDuringDownloadIsRetried) {
  AddRemote("roster_1.csv", 100, "abc");
  connector_.fs.report_size_delta = 5;
  ASSERT_TRUE(worker_.Handle(Job(v1::TransferJob::OP_FETCH, "fetch")).ok());
  ASSERT_EQ(publisher_.Events().size(), 1u);
  EXPECT_EQ(publisher_.Events()[0].type(), v1::RunEvent::TYPE_FAILED);
  EXPECT_TRUE(publisher_.Events()[0].retryable());
  EXPECT_TRUE(archive_.files.empty());
  EXPECT_TRUE(ledger_.files.empty());
}

TEST_F(TransferWorkerTest, UploadSendsTheArchivedFile) {
  archive_.files["file_9"] = {[] {
                                v1::FileInfo info;
                                info.set_tenant_id("tenant_a");
                                info.set_file_id("file_9");
                                return info;
                              }(),
                              "id,seat\n1,A-12\n"};
  v1::TransferJob job = Job(v1::TransferJob::OP_UPLOAD, "upload");
  job.set_remote_folder("out");
  job.set_file_id("file_9");
  job.set_remote_name("roster_export.csv");
  ASSERT_TRUE(worker_.Handle(job).ok());
  auto events = publisher_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type(), v1::RunEvent::TYPE_UPLOADED) << events[0].error();
  EXPECT_EQ(events[0].remote_path(), "out/roster_export.csv");
  EXPECT_EQ(events[0].bytes(), 15);
  EXPECT_EQ(connector_.fs.files["out/roster_export.csv"], "id,seat\n1,A-12\n");
}

TEST_F(TransferWorkerTest, UploadOfAMissingArchiveFileFails) {
  v1::TransferJob job = Job(v1::TransferJob::OP_UPLOAD, "upload");
  job.set_file_id("file_missing");
  job.set_remote_name("x.csv");
  ASSERT_TRUE(worker_.Handle(job).ok());
  EXPECT_EQ(publisher_.Events().at(0).type(), v1::RunEvent::TYPE_FAILED);
  EXPECT_THAT(publisher_.Events().at(0).error(), HasSubstr("file_missing"));
}

TEST_F(TransferWorkerTest, UploadRejectsANameWithAPath) {
  v1::TransferJob job = Job(v1::TransferJob::OP_UPLOAD, "upload");
  job.set_file_id("file_1");
  job.set_remote_name("../etc/passwd");
  ASSERT_TRUE(worker_.Handle(job).ok());
  EXPECT_EQ(connector_.connects, 0);
  EXPECT_EQ(publisher_.Events().at(0).type(), v1::RunEvent::TYPE_FAILED);
}

TEST_F(TransferWorkerTest, UndecodablePayloadIsAnError) {
  Delivery d;
  d.id = "1-0";
  d.payload = "\xff\xff not a proto";
  EXPECT_FALSE(worker_.HandleDelivery(d).ok());
  EXPECT_TRUE(publisher_.published.empty());
}

TEST(JoinRemotePathTest, Joins) {
  EXPECT_EQ(JoinRemotePath("", "a.csv"), "a.csv");
  EXPECT_EQ(JoinRemotePath(".", "a.csv"), "a.csv");
  EXPECT_EQ(JoinRemotePath("in/", "a.csv"), "in/a.csv");
  EXPECT_EQ(JoinRemotePath("/", "a.csv"), "/a.csv");
  EXPECT_EQ(JoinRemotePath("/srv/in", "a.csv"), "/srv/in/a.csv");
}

TEST(Sha256FingerprintTest, MatchesOpenSshForm) {
  // SHA-256 of the empty string, base64 without padding.
  std::string digest =
      "\xe3\xb0\xc4\x42\x98\xfc\x1c\x14\x9a\xfb\xf4\xc8\x99\x6f\xb9\x24\x27\xae\x41\xe4\x64\x9b"
      "\x93\x4c\xa4\x95\x99\x1b\x78\x52\xb8\x55";
  EXPECT_EQ(Sha256Fingerprint(digest), "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU");
}

}  // namespace
}  // namespace rostersync::transfer
