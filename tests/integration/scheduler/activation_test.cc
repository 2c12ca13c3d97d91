// Activation and key rotation against the real things: PostgreSQL, an OpenSSH sshd, and the
// rostersync TransferService (ConnectionTester over libssh2) served over gRPC on a loopback
// port, as the scheduler binary calls it.
//  - activation needs a pinned host key (or trust on first use, which pins what the test saw)
//    and a passing TestConnection; refusals are FAILED_PRECONDITION naming the failing step;
//  - ResealCredentials moves every integration from master key A to B, idempotently, and the
//    credentials then open under B alone.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "common/pg.h"
#include "common/sealing.h"
#include "common/status_macros.h"
#include "common/server.h"
#include "common/time_util.h"
#include "rostersync/v1/transfer.grpc.pb.h"
#include "services/scheduler/clock.h"
#include "services/scheduler/integration_service.h"
#include "services/scheduler/integration_store.h"
#include "services/scheduler/run_orchestrator.h"
#include "services/scheduler/run_store.h"
#include "services/sftp_transfer/credentials.h"
#include "services/sftp_transfer/sftp_client.h"
#include "services/sftp_transfer/transfer_service.h"
#include "tests/integration/scheduler/scheduler_test_support.h"
#include "tests/fixtures/sshd_server.h"

namespace rostersync::scheduler {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::SshdServer;

constexpr char kKeyA[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
constexpr char kKeyB[] = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
constexpr char kOtherFingerprint[] = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";

// A TransferService that records the calls it gets, in order, and passes every test; it can
// run `during_test` inside TestConnection (to act while an activation is checking).
class RecordingTransfer final : public v1::TransferService::CallbackService {
 public:
  grpc::ServerUnaryReactor* ScanHostKey(grpc::CallbackServerContext* context,
                                        const v1::ScanHostKeyRequest*,
                                        v1::ScanHostKeyResponse* response) override {
    calls.push_back("scan");
    response->set_host_key_type("ssh-ed25519");
    response->set_host_key_sha256(kOtherFingerprint);
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  grpc::ServerUnaryReactor* TestConnection(grpc::CallbackServerContext* context,
                                           const v1::TestConnectionRequest* request,
                                           v1::TestConnectionResponse* response) override {
    calls.push_back(absl::StrCat("test pinned=", request->endpoint().host_key_sha256()));
    if (during_test) during_test();
    response->set_ok(true);
    response->set_host_key_sha256(request->endpoint().host_key_sha256());
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  std::vector<std::string> calls;
  std::function<void()> during_test;
};

// A TransferService (the real one) on 127.0.0.1:0 opening credentials with `sealer`.
class TransferHarness {
 public:
  explicit TransferHarness(const Sealer& sealer) : sealer_(sealer) {
    ServerOptions options;
    options.service_name = "sftp-transfer-test";
    options.grpc_address = "127.0.0.1:0";
    options.grace = absl::Seconds(1);
    auto runner = ServiceRunner::Start(options, {&service_});
    EXPECT_TRUE(runner.ok()) << runner.status();
    if (!runner.ok()) return;
    runner_ = *std::move(runner);
    stub_ =
        v1::TransferService::NewStub(MakeChannel(absl::StrCat("127.0.0.1:", runner_->grpc_port())));
  }
  ~TransferHarness() {
    if (runner_) runner_->Stop();
  }
  v1::TransferService::StubInterface* stub() { return stub_.get(); }
  transfer::ConnectionTester& tester() { return tester_; }

 private:
  Sealer sealer_;
  transfer::Libssh2Connector connector_;
  transfer::ConnectionTester tester_{&connector_, &sealer_};
  transfer::TransferServiceImpl service_{&tester_};
  std::unique_ptr<ServiceRunner> runner_;
  std::unique_ptr<v1::TransferService::Stub> stub_;
};

class ActivationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    signal(SIGPIPE, SIG_IGN);
    test_support::SuitePostgres::Start();
    auto sshd = SshdServer::Start();
    ASSERT_TRUE(sshd.ok()) << sshd.status();
    sshd_ = sshd->release();
    ASSERT_TRUE(sshd_->MakeHomeDir("outgoing").ok());
  }
  static void TearDownTestSuite() {
    delete sshd_;
    sshd_ = nullptr;
    test_support::SuitePostgres::Stop();
  }

  void SetUp() override {
    ASSERT_NE(sshd_, nullptr);
    pool_ = test_support::SuitePostgres::FreshDatabase("activation");
    ASSERT_NE(pool_, nullptr);
    clock_ = std::make_unique<FakeClock>(
        absl::FromCivil(absl::CivilMinute(2026, 3, 1, 9, 0), absl::UTCTimeZone()));
    sealer_a_ = std::make_unique<Sealer>(Sealer::FromKeyMaterial(kKeyA).value());
    transfer_ = std::make_unique<TransferHarness>(*sealer_a_);
    integrations_ = std::make_unique<IntegrationService>(pool_.get(), sealer_a_.get(), clock_.get(),
                                                         transfer_->stub());
  }

  v1::CreateIntegrationRequest Request(const std::string& password = "") {
    v1::CreateIntegrationRequest req;
    v1::Integration* in = req.mutable_integration();
    in->set_tenant_id("acme");
    in->set_name("nightly HR import");
    in->set_direction(v1::RUN_DIRECTION_IMPORT);
    in->mutable_endpoint()->set_host("127.0.0.1");
    in->mutable_endpoint()->set_port(sshd_->port());
    in->mutable_endpoint()->set_username(sshd_->user());
    in->mutable_endpoint()->set_host_key_sha256(sshd_->host_key_sha256());
    in->mutable_endpoint()->set_connect_timeout_ms(5000);
    in->mutable_endpoint()->set_operation_timeout_ms(5000);
    in->set_schedule("0 2 * * *");
    in->mutable_import_settings()->set_remote_folder("outgoing");
    in->mutable_import_settings()->set_file_glob("roster_*.csv");
    req.mutable_credentials()->set_password(password.empty() ? sshd_->password() : password);
    return req;
  }

  absl::StatusOr<v1::Integration> Activate(const v1::Integration& in,
                                           IntegrationService* service = nullptr) {
    v1::UpdateIntegrationRequest update;
    update.mutable_integration()->set_tenant_id(in.tenant_id());
    update.mutable_integration()->set_integration_id(in.integration_id());
    update.mutable_integration()->set_active(true);
    update.mutable_update_mask()->add_paths("active");
    return (service != nullptr ? service : integrations_.get())->Update(update);
  }

  v1::Integration MustGet(const v1::Integration& in) {
    v1::GetIntegrationRequest get;
    get.set_tenant_id(in.tenant_id());
    get.set_integration_id(in.integration_id());
    return integrations_->Get(get).value();
  }

  std::string StoredSealed(const std::string& integration_id) {
    std::string out;
    EXPECT_TRUE(pool_
                    ->Transact([&](pqxx::work& txn) -> absl::Status {
                      pqxx::result r = txn.exec_params(
                          "SELECT sealed_credentials FROM scheduler.integrations "
                          "WHERE integration_id = $1",
                          integration_id);
                      if (r.empty()) return absl::NotFoundError(integration_id);
                      out = pqxx::binarystring(r[0][0]).str();
                      return absl::OkStatus();
                    })
                    .ok());
    return out;
  }

  static SshdServer* sshd_;
  std::unique_ptr<PgPool> pool_;
  std::unique_ptr<FakeClock> clock_;
  std::unique_ptr<Sealer> sealer_a_;
  std::unique_ptr<TransferHarness> transfer_;
  std::unique_ptr<IntegrationService> integrations_;
};

SshdServer* ActivationTest::sshd_ = nullptr;

TEST_F(ActivationTest, CreateActiveRunsTheConnectionTestAndStoresNothingWhenItFails) {
  auto created = integrations_->Create(Request());
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(created->active());
  EXPECT_TRUE(created->has_next_run_at());

  auto refused = integrations_->Create(Request("wrong-password"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("step \"auth\""));
  EXPECT_THAT(std::string(refused.status().message()), Not(HasSubstr("wrong-password")));
  v1::ListIntegrationsRequest list;
  list.set_tenant_id("acme");
  EXPECT_EQ(integrations_->List(list)->integrations_size(), 1);
}

TEST_F(ActivationTest, ActivationRefusalsNameTheFailingStep) {
  // A wrong password: created as a draft, activation fails at "auth".
  v1::CreateIntegrationRequest bad_password = Request("wrong-password");
  bad_password.set_inactive(true);
  v1::Integration draft = integrations_->Create(bad_password).value();
  EXPECT_FALSE(draft.active());
  auto refused = Activate(draft);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("step \"auth\""));
  EXPECT_FALSE(MustGet(draft).active());
  EXPECT_FALSE(MustGet(draft).has_next_run_at());

  // A pinned key that is not the server's: refused at "host_key".
  v1::CreateIntegrationRequest wrong_pin = Request();
  wrong_pin.set_inactive(true);
  wrong_pin.mutable_integration()->mutable_endpoint()->set_host_key_sha256(kOtherFingerprint);
  v1::Integration pinned_wrong = integrations_->Create(wrong_pin).value();
  auto mismatch = Activate(pinned_wrong);
  EXPECT_EQ(mismatch.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(mismatch.status().message()), HasSubstr("step \"host_key\""));

  // A folder that does not exist: refused at "folder".
  v1::CreateIntegrationRequest no_folder = Request();
  no_folder.set_inactive(true);
  no_folder.mutable_integration()->mutable_import_settings()->set_remote_folder("nowhere");
  v1::Integration missing = integrations_->Create(no_folder).value();
  auto no_dir = Activate(missing);
  EXPECT_EQ(no_dir.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(no_dir.status().message()), HasSubstr("step \"folder\""));

  // Fixing the password and activating in one update passes.
  v1::UpdateIntegrationRequest fix;
  fix.mutable_integration()->set_tenant_id("acme");
  fix.mutable_integration()->set_integration_id(draft.integration_id());
  fix.mutable_integration()->set_active(true);
  fix.mutable_update_mask()->add_paths("active");
  fix.mutable_credentials()->set_password(sshd_->password());
  auto fixed = integrations_->Update(fix);
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_TRUE(fixed->active());
  EXPECT_TRUE(fixed->has_next_run_at());
}

TEST_F(ActivationTest, NoPinWithoutTrustOnFirstUseIsRefusedNamingTheField) {
  v1::CreateIntegrationRequest req = Request();
  req.mutable_integration()->mutable_endpoint()->clear_host_key_sha256();
  auto invalid = integrations_->Create(req);
  EXPECT_EQ(invalid.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(invalid.status().message()), HasSubstr("endpoint.host_key_sha256"));
}

TEST_F(ActivationTest, TrustOnFirstUsePinsTheKeyTheTestSaw) {
  v1::CreateIntegrationRequest req = Request();
  req.set_inactive(true);
  req.mutable_integration()->mutable_endpoint()->clear_host_key_sha256();
  req.mutable_integration()->mutable_endpoint()->set_trust_on_first_use(true);
  v1::Integration draft = integrations_->Create(req).value();
  EXPECT_EQ(draft.endpoint().host_key_sha256(), "");
  auto active = Activate(draft);
  ASSERT_TRUE(active.ok()) << active.status();
  EXPECT_TRUE(active->active());
  EXPECT_EQ(active->endpoint().host_key_sha256(), sshd_->host_key_sha256());
  EXPECT_EQ(MustGet(draft).endpoint().host_key_sha256(), sshd_->host_key_sha256());
}

// Trust on first use learns the key with a handshake-only scan and pins it before the
// connection test authenticates: credentials never go to a server whose key is unknown.
// Activation also runs its test with no row locked: another update can commit meanwhile, and
// the activation then refuses to overwrite it (ABORTED) instead of losing it.
TEST_F(ActivationTest, TrustOnFirstUseScansBeforeAuthenticatingAndActivationHoldsNoLock) {
  RecordingTransfer recording;
  ServerOptions options;
  options.service_name = "recording-transfer";
  options.grpc_address = "127.0.0.1:0";
  options.grace = absl::Seconds(1);
  auto runner = ServiceRunner::Start(options, {&recording});
  ASSERT_TRUE(runner.ok()) << runner.status();
  auto stub =
      v1::TransferService::NewStub(MakeChannel(absl::StrCat("127.0.0.1:", (*runner)->grpc_port())));
  IntegrationService service(pool_.get(), sealer_a_.get(), clock_.get(), stub.get());

  v1::CreateIntegrationRequest req = Request();
  req.set_inactive(true);
  req.mutable_integration()->mutable_endpoint()->clear_host_key_sha256();
  req.mutable_integration()->mutable_endpoint()->set_trust_on_first_use(true);
  v1::Integration draft = service.Create(req).value();

  // While the activation's connection test runs, a rename commits (were the activation holding
  // the row lock, the rename would wait for it until the activation's deadline).
  recording.during_test = [&] {
    v1::UpdateIntegrationRequest rename;
    rename.mutable_integration()->set_tenant_id(draft.tenant_id());
    rename.mutable_integration()->set_integration_id(draft.integration_id());
    rename.mutable_integration()->set_name("renamed meanwhile");
    rename.mutable_update_mask()->add_paths("name");
    EXPECT_TRUE(service.Update(rename).ok());
  };
  auto raced = Activate(draft, &service);
  EXPECT_EQ(raced.status().code(), absl::StatusCode::kAborted) << raced.status();
  v1::Integration stored = MustGet(draft);
  EXPECT_EQ(stored.name(), "renamed meanwhile");  // the other update is kept
  EXPECT_FALSE(stored.active());                  // and this one changed nothing
  EXPECT_EQ(stored.endpoint().host_key_sha256(), "");

  recording.during_test = nullptr;
  recording.calls.clear();
  auto active = Activate(draft, &service);
  ASSERT_TRUE(active.ok()) << active.status();
  EXPECT_EQ(active->endpoint().host_key_sha256(), kOtherFingerprint);
  EXPECT_THAT(recording.calls,
              ::testing::ElementsAre("scan", absl::StrCat("test pinned=", kOtherFingerprint)));
  (*runner)->Stop();
}

TEST_F(ActivationTest, DeactivatingIsAllowedEvenWhenTheStoredDefinitionNoLongerValidates) {
  v1::Integration in = integrations_->Create(Request()).value();
  ASSERT_TRUE(in.active());
  // A definition stored under older, looser rules: a glob that today's validation refuses.
  ASSERT_TRUE(pool_
                  ->Transact([&](pqxx::work& txn) -> absl::Status {
                    ASSIGN_OR_RETURN(StoredIntegration stored,
                                     IntegrationStore::Get(txn, in.tenant_id(), in.integration_id(),
                                                           /*for_update=*/true));
                    stored.integration.mutable_import_settings()->set_file_glob("roster_[.csv");
                    return IntegrationStore::Update(txn, stored);
                  })
                  .ok());
  v1::UpdateIntegrationRequest off;
  off.mutable_integration()->set_tenant_id(in.tenant_id());
  off.mutable_integration()->set_integration_id(in.integration_id());
  off.mutable_integration()->set_active(false);
  off.mutable_update_mask()->add_paths("active");
  auto deactivated = integrations_->Update(off);
  ASSERT_TRUE(deactivated.ok()) << deactivated.status();
  EXPECT_FALSE(deactivated->active());
  // Any other change still has to fix the definition, and the error names the field.
  v1::UpdateIntegrationRequest rename = off;
  rename.mutable_integration()->set_name("still broken");
  rename.mutable_update_mask()->clear_paths();
  rename.mutable_update_mask()->add_paths("name");
  auto refused = integrations_->Update(rename);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("file_glob"));
}

TEST_F(ActivationTest, WithoutATransferServiceOnlyAPinnedKeyActivates) {
  IntegrationService offline(pool_.get(), sealer_a_.get(), clock_.get(), nullptr);
  v1::CreateIntegrationRequest tofu = Request();
  tofu.mutable_integration()->mutable_endpoint()->clear_host_key_sha256();
  tofu.mutable_integration()->mutable_endpoint()->set_trust_on_first_use(true);
  auto refused = offline.Create(tofu);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("endpoint.host_key_sha256"));
  EXPECT_TRUE(offline.Create(Request()).ok());
}

TEST_F(ActivationTest, ResealMovesEveryIntegrationToTheNewKeyIdempotently) {
  // Three integrations sealed under key A, in two tenants.
  std::vector<v1::Integration> made;
  for (const char* tenant : {"acme", "acme", "globex"}) {
    v1::CreateIntegrationRequest req = Request();
    req.set_inactive(true);
    req.mutable_integration()->set_tenant_id(tenant);
    made.push_back(integrations_->Create(req).value());
  }
  const std::string before = StoredSealed(made[0].integration_id());
  EXPECT_TRUE(sealer_a_->SealedUnderCurrentKey(before));

  // Rotate: B is current, A previous.
  Sealer ring_b = Sealer::FromKeyMaterial(kKeyB).value();
  ASSERT_TRUE(ring_b.AddPreviousKeyMaterial(kKeyA).ok());
  const Sealer b_only = Sealer::FromKeyMaterial(kKeyB).value();
  // Before the re-seal, a transfer service holding only B cannot open them.
  auto context = [](const v1::Integration& in) {
    return CredentialContext(in.tenant_id(), in.integration_id());
  };
  v1::SealedCredentials sealed;
  sealed.set_ciphertext(before);
  sealed.set_context(context(made[0]));
  EXPECT_FALSE(transfer::OpenCredentials(b_only, sealed, "acme/").ok());

  IntegrationService rotated(pool_.get(), &ring_b, clock_.get(), nullptr);
  v1::ResealCredentialsRequest one_tenant;
  one_tenant.set_tenant_id("globex");
  auto globex = rotated.Reseal(one_tenant);
  ASSERT_TRUE(globex.ok()) << globex.status();
  EXPECT_EQ(globex->resealed(), 1);
  EXPECT_EQ(globex->already_current(), 0);

  auto all = rotated.Reseal(v1::ResealCredentialsRequest());
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->resealed(), 2);
  EXPECT_EQ(all->already_current(), 1);
  EXPECT_EQ(all->failed(), 0);
  EXPECT_EQ(all->key_id(), ring_b.key_id());
  auto again = rotated.Reseal(v1::ResealCredentialsRequest());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->resealed(), 0);
  EXPECT_EQ(again->already_current(), 3);
  EXPECT_THAT(again->SerializeAsString(), Not(HasSubstr(sshd_->password())));

  for (const v1::Integration& in : made) {
    v1::SealedCredentials now;
    now.set_ciphertext(StoredSealed(in.integration_id()));
    now.set_context(context(in));
    EXPECT_TRUE(b_only.SealedUnderCurrentKey(now.ciphertext()));
    auto opened = transfer::OpenCredentials(b_only, now, in.tenant_id() + "/");
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_EQ(opened->password(), sshd_->password());
    EXPECT_FALSE(sealer_a_->Open(now.ciphertext(), now.context()).ok());  // A alone: no more
  }

  // End to end: a transfer service holding only B now passes the connection test, and an
  // integration created by the rotated scheduler activates through it.
  TransferHarness transfer_b(b_only);
  IntegrationService with_b(pool_.get(), &ring_b, clock_.get(), transfer_b.stub());
  auto activated = Activate(made[0]);  // through the A-only transfer service: cannot open
  EXPECT_FALSE(activated.ok());
  auto activated_b = Activate(made[0], &with_b);
  ASSERT_TRUE(activated_b.ok()) << activated_b.status();
  EXPECT_TRUE(activated_b->active());

  // A blob under a key nobody holds any more is counted as failed and named.
  ASSERT_TRUE(pool_
                  ->Transact([&](pqxx::work& txn) {
                    const Sealer stray = Sealer::FromKeyMaterial(std::string(32, 'z')).value();
                    return IntegrationStore::SetSealedCredentials(
                        txn, made[1].integration_id(), stray.Seal("x", context(made[1])).value());
                  })
                  .ok());
  auto partial = rotated.Reseal(v1::ResealCredentialsRequest());
  ASSERT_TRUE(partial.ok()) << partial.status();
  EXPECT_EQ(partial->failed(), 1);
  ASSERT_EQ(partial->failed_integration_ids_size(), 1);
  EXPECT_EQ(partial->failed_integration_ids(0), made[1].integration_id());
  EXPECT_EQ(partial->already_current(), 2);
}

}  // namespace
}  // namespace rostersync::scheduler
