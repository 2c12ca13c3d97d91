// TransferService.TestConnection against a real sshd, through a real gRPC server; and the
// PostgreSQL ledger against a real PostgreSQL.
#include "services/sftp_transfer/transfer_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include "common/pg.h"
#include "common/server.h"
#include "services/sftp_transfer/credentials.h"
#include "services/sftp_transfer/transfer_ledger.h"
#include "services/sftp_transfer/transfer_worker.h"
#include "tests/fixtures/postgres_server.h"
#include "tests/fixtures/sshd_server.h"
#include "tests/unit/sftp_transfer/transfer_fakes.h"

namespace rostersync::transfer {
namespace {

using ::rostersync::testing::PostgresServer;
using ::rostersync::testing::SshdServer;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kKey[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

class TransferServiceTest : public ::testing::Test {
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
    ASSERT_NE(sshd_, nullptr);
    ServerOptions options;
    options.service_name = "sftp-transfer-test";
    options.grpc_address = "127.0.0.1:0";
    options.grace = absl::Seconds(1);
    auto runner = ServiceRunner::Start(options, {&service_});
    ASSERT_TRUE(runner.ok()) << runner.status();
    runner_ = *std::move(runner);
    stub_ = v1::TransferService::NewStub(
        MakeChannel("127.0.0.1:" + std::to_string(runner_->grpc_port())));
  }
  void TearDown() override {
    if (runner_) runner_->Stop();
  }

  v1::TestConnectionRequest Request(v1::RunDirection direction, const std::string& folder) {
    v1::TestConnectionRequest req;
    req.set_tenant_id("tenant_a");
    req.mutable_endpoint()->set_host("127.0.0.1");
    req.mutable_endpoint()->set_port(sshd_->port());
    req.mutable_endpoint()->set_username(sshd_->user());
    req.mutable_endpoint()->set_host_key_sha256(sshd_->host_key_sha256());
    req.mutable_endpoint()->set_connect_timeout_ms(5000);
    v1::Credentials creds;
    creds.set_password(sshd_->password());
    *req.mutable_credentials() = SealCredentials(sealer_, creds, "tenant_a/int_1").value();
    req.set_remote_folder(folder);
    req.set_direction(direction);
    return req;
  }

  grpc::Status Call(const v1::TestConnectionRequest& req, v1::TestConnectionResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return stub_->TestConnection(&ctx, req, resp);
  }

  static SshdServer* sshd_;
  Sealer sealer_ = Sealer::FromKeyMaterial(kKey).value();
  Libssh2Connector connector_;
  ConnectionTester tester_{&connector_, &sealer_};
  TransferServiceImpl service_{&tester_};
  std::unique_ptr<ServiceRunner> runner_;
  std::unique_ptr<v1::TransferService::Stub> stub_;
};

SshdServer* TransferServiceTest::sshd_ = nullptr;

TEST_F(TransferServiceTest, ImportFolderIsListable) {
  ASSERT_TRUE(sshd_->WriteHomeFile("in/a.csv", "x").ok());
  v1::TestConnectionResponse resp;
  grpc::Status st = Call(Request(v1::RUN_DIRECTION_IMPORT, "in"), &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_TRUE(resp.ok());
  std::vector<std::string> names;
  for (const auto& step : resp.steps()) {
    names.push_back(step.name());
    EXPECT_TRUE(step.ok()) << step.name() << ": " << step.detail();
    EXPECT_GE(step.duration_ms(), 0);
  }
  EXPECT_THAT(names,
              ::testing::ElementsAre("resolve", "tcp", "handshake", "host_key", "auth", "folder"));
  EXPECT_EQ(resp.host_key_type(), "ssh-ed25519");
  EXPECT_EQ(resp.host_key_sha256(), sshd_->host_key_sha256());
  EXPECT_THAT(resp.DebugString(), Not(HasSubstr(sshd_->password())));
}

TEST_F(TransferServiceTest, ExportFolderIsWritableAndTheProbeIsRemoved) {
  ASSERT_TRUE(sshd_->MakeHomeDir("outbox").ok());
  v1::TestConnectionResponse resp;
  grpc::Status st = Call(Request(v1::RUN_DIRECTION_EXPORT, "outbox"), &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_TRUE(resp.ok()) << resp.DebugString();
  EXPECT_THAT(resp.steps(resp.steps_size() - 1).detail(), HasSubstr("writable"));
  // Nothing left behind.
  auto listing = std::system(("test -z \"$(ls -A " + sshd_->home() + "/outbox)\"").c_str());
  EXPECT_EQ(listing, 0);
}

TEST_F(TransferServiceTest, ExportFolderThatIsNotWritableFailsTheFolderStepNamingIt) {
  ASSERT_TRUE(sshd_->MakeHomeDir("locked").ok());
  ASSERT_EQ(chmod((sshd_->home() + "/locked").c_str(), 0555), 0);
  v1::TestConnectionResponse resp;
  grpc::Status st = Call(Request(v1::RUN_DIRECTION_EXPORT, "locked"), &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_FALSE(resp.ok());
  ASSERT_EQ(resp.steps_size(), 6) << resp.DebugString();
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(resp.steps(i).ok()) << resp.steps(i).name();
  const v1::ConnectionStep& folder = resp.steps(5);
  EXPECT_EQ(folder.name(), "folder");
  EXPECT_FALSE(folder.ok());
  EXPECT_THAT(folder.detail(), HasSubstr("in folder \"locked\""));
  EXPECT_THAT(folder.detail(), HasSubstr("permission denied"));
  // The same folder is fine for an import (listable).
  v1::TestConnectionResponse import_resp;
  ASSERT_TRUE(Call(Request(v1::RUN_DIRECTION_IMPORT, "locked"), &import_resp).ok());
  EXPECT_TRUE(import_resp.ok()) << import_resp.DebugString();
}

TEST_F(TransferServiceTest, NoPinWithTrustOnFirstUsePassesTheHostKeyStepAndReportsTheKey) {
  v1::TestConnectionRequest req = Request(v1::RUN_DIRECTION_IMPORT, "");
  req.mutable_endpoint()->clear_host_key_sha256();
  v1::TestConnectionResponse refused;
  ASSERT_TRUE(Call(req, &refused).ok());
  EXPECT_FALSE(refused.ok());
  ASSERT_EQ(refused.steps_size(), 4);
  EXPECT_THAT(refused.steps(3).detail(), HasSubstr("rosterctl integrations scan-host-key"));

  req.mutable_endpoint()->set_trust_on_first_use(true);
  v1::TestConnectionResponse resp;
  ASSERT_TRUE(Call(req, &resp).ok());
  EXPECT_TRUE(resp.ok()) << resp.DebugString();
  EXPECT_THAT(resp.steps(3).detail(), HasSubstr("trusted on first use"));
  EXPECT_EQ(resp.host_key_sha256(), sshd_->host_key_sha256());
}

TEST_F(TransferServiceTest, MissingFolderFailsTheFolderStep) {
  v1::TestConnectionResponse resp;
  ASSERT_TRUE(Call(Request(v1::RUN_DIRECTION_IMPORT, "does/not/exist"), &resp).ok());
  EXPECT_FALSE(resp.ok());
  ASSERT_GT(resp.steps_size(), 0);
  EXPECT_EQ(resp.steps(resp.steps_size() - 1).name(), "folder");
  EXPECT_FALSE(resp.steps(resp.steps_size() - 1).ok());
}

TEST_F(TransferServiceTest, WrongHostKeyStopsAtTheHostKeyStepAndReportsTheKey) {
  v1::TestConnectionRequest req = Request(v1::RUN_DIRECTION_IMPORT, "");
  req.mutable_endpoint()->set_host_key_sha256("SHA256:notthisone");
  v1::TestConnectionResponse resp;
  ASSERT_TRUE(Call(req, &resp).ok());
  EXPECT_FALSE(resp.ok());
  ASSERT_EQ(resp.steps_size(), 4);
  EXPECT_EQ(resp.steps(3).name(), "host_key");
  EXPECT_FALSE(resp.steps(3).ok());
  EXPECT_THAT(resp.steps(3).detail(), HasSubstr("SHA256:notthisone"));
  EXPECT_EQ(resp.host_key_sha256(), sshd_->host_key_sha256());
}

TEST_F(TransferServiceTest, WrongPasswordFailsTheAuthStepWithoutEchoingIt) {
  v1::TestConnectionRequest req = Request(v1::RUN_DIRECTION_IMPORT, "");
  v1::Credentials creds;
  creds.set_password("definitely-wrong-pw");
  *req.mutable_credentials() = SealCredentials(sealer_, creds, "tenant_a/int_1").value();
  v1::TestConnectionResponse resp;
  ASSERT_TRUE(Call(req, &resp).ok());
  EXPECT_FALSE(resp.ok());
  EXPECT_EQ(resp.steps(resp.steps_size() - 1).name(), "auth");
  EXPECT_THAT(resp.DebugString(), Not(HasSubstr("definitely-wrong-pw")));
}

TEST_F(TransferServiceTest, CredentialsOfAnotherTenantAreRefused) {
  v1::TestConnectionRequest req = Request(v1::RUN_DIRECTION_IMPORT, "");
  req.set_tenant_id("tenant_b");
  v1::TestConnectionResponse resp;
  grpc::Status st = Call(req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
}

TEST_F(TransferServiceTest, MalformedRequestIsInvalidArgument) {
  v1::TestConnectionRequest req = Request(v1::RUN_DIRECTION_IMPORT, "");
  req.mutable_endpoint()->clear_host();
  v1::TestConnectionResponse resp;
  EXPECT_EQ(Call(req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(TransferServiceTest, ScanHostKeyReturnsTheServersKeyWithoutCredentials) {
  v1::ScanHostKeyRequest req;
  req.set_host("127.0.0.1");
  req.set_port(sshd_->port());
  req.set_connect_timeout_ms(5000);
  v1::ScanHostKeyResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  grpc::Status st = stub_->ScanHostKey(&ctx, req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.host_key_type(), "ssh-ed25519");
  EXPECT_EQ(resp.host_key_sha256(), sshd_->host_key_sha256());
}

TEST_F(TransferServiceTest, ScanHostKeyOfAClosedPortIsUnavailableAndEmptyHostInvalid) {
  v1::ScanHostKeyRequest req;
  req.set_host("127.0.0.1");
  rostersync::testing::ClosedPort closed;
  req.set_port(closed.port());
  req.set_connect_timeout_ms(2000);
  v1::ScanHostKeyResponse resp;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    EXPECT_EQ(stub_->ScanHostKey(&ctx, req, &resp).error_code(), grpc::StatusCode::UNAVAILABLE);
  }
  req.clear_host();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  EXPECT_EQ(stub_->ScanHostKey(&ctx, req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// ---- ledger ------------------------------------------------------------------------------

// A file imported, Reprocess through the gRPC service, and the next fetch hands it over again:
// real sshd, real PostgreSQL ledger (archive and publisher are in-memory fakes).
TEST_F(TransferServiceTest, ReprocessForgetsAFileSoTheNextFetchHandsItOverAgain) {
  auto pg = PostgresServer::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  auto conninfo = (*pg)->CreateDatabase("transfer_reprocess");
  ASSERT_TRUE(conninfo.ok()) << conninfo.status();
  auto pool = PgPool::Connect(*conninfo, 2);
  ASSERT_TRUE(pool.ok()) << pool.status();
  auto ledger = PgTransferLedger::Open(pool->get());
  ASSERT_TRUE(ledger.ok()) << ledger.status();

  // A service that has the ledger (the fixture's service_ has none).
  TransferServiceImpl service(&tester_, ledger->get());
  ServerOptions options;
  options.service_name = "sftp-transfer-reprocess-test";
  options.grpc_address = "127.0.0.1:0";
  options.grace = absl::Seconds(1);
  auto runner = ServiceRunner::Start(options, {&service});
  ASSERT_TRUE(runner.ok()) << runner.status();
  auto stub = v1::TransferService::NewStub(
      MakeChannel("127.0.0.1:" + std::to_string((*runner)->grpc_port())));
  auto reprocess = [&](const v1::ReprocessRequest& req, v1::ReprocessResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return stub->Reprocess(&ctx, req, resp);
  };

  const std::string content = "id,name\n1,Ada\n2,Grace\n";
  ASSERT_TRUE(sshd_->WriteHomeFile("reprocess/roster_1.csv", content).ok());
  testing::FakeArchive archive;
  testing::FakePublisher publisher;
  TransferWorker worker(&connector_, &archive, &publisher, ledger->get(), &sealer_);
  int run = 0;
  auto fetch = [&]() -> v1::RunEvent {
    ++run;
    v1::TransferJob job;
    job.set_job_id(absl::StrCat("run_", run, ":fetch"));
    job.set_tenant_id("tenant_a");
    job.set_run_id(absl::StrCat("run_", run));
    job.set_integration_id("int_1");
    job.set_op(v1::TransferJob::OP_FETCH);
    *job.mutable_endpoint() = Request(v1::RUN_DIRECTION_IMPORT, "").endpoint();
    *job.mutable_credentials() = Request(v1::RUN_DIRECTION_IMPORT, "").credentials();
    job.set_remote_folder("reprocess");
    job.set_file_glob("roster_*");
    EXPECT_TRUE(worker.Handle(job).ok());
    auto events = publisher.Events();
    return events.empty() ? v1::RunEvent() : events.back();
  };

  v1::RunEvent first = fetch();
  ASSERT_EQ(first.type(), v1::RunEvent::TYPE_FETCHED) << first.DebugString();
  EXPECT_EQ(fetch().type(), v1::RunEvent::TYPE_NO_NEW_FILE) << "the ledger remembers it";
  // The same content under a new name is skipped (and recorded as a duplicate).
  ASSERT_TRUE(sshd_->WriteHomeFile("reprocess/roster_copy.csv", content).ok());
  EXPECT_EQ(fetch().type(), v1::RunEvent::TYPE_NO_NEW_FILE);

  v1::ReprocessRequest req;
  req.set_tenant_id("tenant_a");
  req.set_integration_id("int_1");
  req.set_remote_path("reprocess/roster_1.csv");
  v1::ReprocessResponse resp;
  grpc::Status st = reprocess(req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  // The entry asked for and, with it, the duplicate holding the same content.
  ASSERT_EQ(resp.forgotten_size(), 2) << resp.DebugString();
  EXPECT_EQ(resp.forgotten(0).remote_path(), "reprocess/roster_1.csv");
  EXPECT_EQ(resp.forgotten(0).size_bytes(), static_cast<int64_t>(content.size()));
  EXPECT_EQ(resp.forgotten(0).file_id(), first.file_id());
  EXPECT_EQ(resp.forgotten(0).job_id(), "run_1:fetch");
  EXPECT_EQ(resp.forgotten(0).sha256().size(), 64u);
  EXPECT_GT(resp.forgotten(0).processed_at().seconds(), 1700000000);
  EXPECT_EQ(resp.forgotten(1).remote_path(), "reprocess/roster_copy.csv");
  EXPECT_EQ(resp.forgotten(1).sha256(), resp.forgotten(0).sha256());

  // The next fetch hands the content over again (the newest of the two names).
  v1::RunEvent again = fetch();
  ASSERT_EQ(again.type(), v1::RunEvent::TYPE_FETCHED) << again.DebugString();
  EXPECT_NE(again.file_id(), first.file_id());
  EXPECT_EQ(archive.files.at(again.file_id()).bytes, content);
  EXPECT_EQ(fetch().type(), v1::RunEvent::TYPE_NO_NEW_FILE) << "and remembers it again";

  // By SHA-256 alone.
  v1::ReprocessRequest by_sha;
  by_sha.set_tenant_id("tenant_a");
  by_sha.set_integration_id("int_1");
  by_sha.set_sha256(resp.forgotten(0).sha256());
  v1::ReprocessResponse by_sha_resp;
  ASSERT_TRUE(reprocess(by_sha, &by_sha_resp).ok());
  EXPECT_GE(by_sha_resp.forgotten_size(), 1);
  EXPECT_EQ(fetch().type(), v1::RunEvent::TYPE_FETCHED);

  // Nothing matching: NOT_FOUND naming what was asked; another tenant's entries are untouched.
  v1::ReprocessRequest none = req;
  none.set_remote_path("reprocess/never.csv");
  v1::ReprocessResponse none_resp;
  grpc::Status missing = reprocess(none, &none_resp);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND) << missing.error_message();
  EXPECT_THAT(missing.error_message(), HasSubstr("reprocess/never.csv"));
  v1::ReprocessRequest other_tenant = by_sha;
  other_tenant.set_tenant_id("tenant_b");
  EXPECT_EQ(reprocess(other_tenant, &none_resp).error_code(), grpc::StatusCode::NOT_FOUND);

  // Malformed requests.
  v1::ReprocessRequest empty = req;
  empty.clear_remote_path();
  EXPECT_EQ(reprocess(empty, &none_resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::ReprocessRequest bad_sha = by_sha;
  bad_sha.set_sha256("ABC");
  EXPECT_EQ(reprocess(bad_sha, &none_resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  (*runner)->Stop();
}

TEST_F(TransferServiceTest, ReprocessWithoutALedgerIsFailedPrecondition) {
  v1::ReprocessRequest req;
  req.set_tenant_id("tenant_a");
  req.set_integration_id("int_1");
  req.set_remote_path("in/a.csv");
  v1::ReprocessResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  EXPECT_EQ(stub_->Reprocess(&ctx, req, &resp).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST(PgTransferLedgerTest, RecordsFilesAndJobResults) {
  auto pg = PostgresServer::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  auto conninfo = (*pg)->CreateDatabase("transfer_ledger");
  ASSERT_TRUE(conninfo.ok()) << conninfo.status();
  auto pool = PgPool::Connect(*conninfo, 2);
  ASSERT_TRUE(pool.ok()) << pool.status();
  auto ledger = PgTransferLedger::Open(pool->get());
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  // Migrations are idempotent.
  ASSERT_TRUE(PgTransferLedger::Open(pool->get()).ok());

  RemoteFileKey key{"tenant_a", "int_1", "in/roster.csv", 120, 1700000000};
  EXPECT_FALSE((*ledger)->IsProcessed(key).value());
  EXPECT_FALSE((*ledger)->FindJobResult("run_1:fetch").value().has_value());

  v1::RunEvent event;
  event.set_event_id("run_1:fetch:TYPE_FETCHED");
  event.set_job_id("run_1:fetch");
  event.set_tenant_id("tenant_a");
  event.set_run_id("run_1");
  event.set_type(v1::RunEvent::TYPE_FETCHED);
  event.set_file_id("file_1");
  event.set_bytes(120);
  ProcessedFile file{key, std::string(64, 'a'), "file_1", "run_1:fetch"};
  auto recorded = (*ledger)->RecordJobResult(event, file);
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  EXPECT_EQ(recorded->SerializeAsString(), event.SerializeAsString());
  // Recording again (a redelivery racing) changes nothing.
  ASSERT_TRUE((*ledger)->RecordJobResult(event, file).ok());
  // A racing delivery that fetched ANOTHER file gets the first event back, and its file is not
  // marked processed (it must stay fetchable).
  v1::RunEvent late = event;
  late.set_file_id("file_2");
  late.set_remote_path("in/roster_newer.csv");
  RemoteFileKey late_key{"tenant_a", "int_1", "in/roster_newer.csv", 7, 1700000100};
  auto raced = (*ledger)->RecordJobResult(
      late, ProcessedFile{late_key, std::string(64, 'b'), "file_2", "run_1:fetch"});
  ASSERT_TRUE(raced.ok()) << raced.status();
  EXPECT_EQ(raced->SerializeAsString(), event.SerializeAsString());
  EXPECT_FALSE((*ledger)->IsProcessed(late_key).value());

  EXPECT_TRUE((*ledger)->IsProcessed(key).value());
  RemoteFileKey changed = key;
  changed.mtime += 1;
  EXPECT_FALSE((*ledger)->IsProcessed(changed).value());
  RemoteFileKey other_tenant = key;
  other_tenant.tenant_id = "tenant_b";
  EXPECT_FALSE((*ledger)->IsProcessed(other_tenant).value());

  auto stored = (*ledger)->FindJobResult("run_1:fetch");
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_TRUE(stored->has_value());
  EXPECT_EQ((*stored)->SerializeAsString(), event.SerializeAsString());

  // By content: the same SHA-256 under another name is found, for this integration only.
  auto same = (*ledger)->FindBySha256("tenant_a", "int_1", std::string(64, 'a'));
  ASSERT_TRUE(same.ok()) << same.status();
  ASSERT_TRUE(same->has_value());
  EXPECT_EQ((*same)->key.remote_path, "in/roster.csv");
  EXPECT_EQ((*same)->key.size, 120);
  EXPECT_EQ((*same)->key.mtime, 1700000000);
  EXPECT_EQ((*same)->file_id, "file_1");
  EXPECT_FALSE((*ledger)->FindBySha256("tenant_a", "int_2", std::string(64, 'a'))->has_value());
  EXPECT_FALSE((*ledger)->FindBySha256("tenant_b", "int_1", std::string(64, 'a'))->has_value());
  EXPECT_FALSE((*ledger)->FindBySha256("tenant_a", "int_1", std::string(64, 'c'))->has_value());
  // A duplicate recorded under its own name is processed (never downloaded again), twice is OK.
  RemoteFileKey dup_key{"tenant_a", "int_1", "in/roster_copy.csv", 120, 1700000200};
  ProcessedFile dup{dup_key, std::string(64, 'a'), "file_1", "run_2:fetch"};
  ASSERT_TRUE((*ledger)->RecordDuplicate(dup).ok());
  ASSERT_TRUE((*ledger)->RecordDuplicate(dup).ok());
  EXPECT_TRUE((*ledger)->IsProcessed(dup_key).value());
}

}  // namespace
}  // namespace rostersync::transfer
