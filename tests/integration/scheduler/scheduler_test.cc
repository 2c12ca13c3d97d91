// The scheduler against a real PostgreSQL and a real redis-server: integrations with sealed
// credentials, runs driven by worker events through the outbox, tenant isolation, the
// schedule ticker and an outbox that survives a Redis outage.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <sys/wait.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "common/pg.h"
#include "common/queue_codec.h"
#include "common/redis_queue.h"
#include "common/sealing.h"
#include "common/time_util.h"
#include "rostersync/v1/transfer.grpc.pb.h"
#include "services/scheduler/clock.h"
#include "services/scheduler/integration_service.h"
#include "services/scheduler/integration_store.h"
#include "services/scheduler/metrics_sampler.h"
#include "services/scheduler/outbox_relay.h"
#include "services/scheduler/run_orchestrator.h"
#include "services/scheduler/run_service.h"
#include "services/scheduler/run_store.h"
#include "services/scheduler/scheduler_metrics.h"
#include "tests/fixtures/http_get.h"
#include "tests/integration/scheduler/scheduler_test_support.h"
#include "tests/fixtures/redis_server.h"
#include "tests/fixtures/subprocess.h"

namespace rostersync::scheduler {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::RedisServer;
using namespace test_support;  // NOLINT(build/namespaces): the suite's shared helpers

// The shared import request with a sync policy, a .done marker and a stability check.
v1::CreateIntegrationRequest FullImportRequest(const std::string& tenant) {
  v1::CreateIntegrationRequest req = ImportRequest(tenant);
  v1::Integration* in = req.mutable_integration();
  in->mutable_import_settings()->set_sync_policy(v1::SYNC_POLICY_DELETE);
  in->mutable_import_settings()->mutable_fetch()->set_done_marker_suffix(".done");
  in->mutable_import_settings()->mutable_fetch()->set_stability_interval_ms(1500);
  return req;
}

v1::CreateIntegrationRequest ExportRequest(const std::string& tenant) {
  v1::CreateIntegrationRequest req = FullImportRequest(tenant);
  v1::Integration* in = req.mutable_integration();
  in->set_name("nightly export");
  in->set_direction(v1::RUN_DIRECTION_EXPORT);
  in->clear_import_settings();
  in->mutable_export_settings()->set_remote_folder("/incoming");
  in->mutable_export_settings()->set_file_name("roster_export.csv");
  in->mutable_export_settings()->mutable_upload()->set_temp_suffix(".filepart");
  return req;
}

// The event for the run's first job of `step` ("fetch", "import", ...).
v1::RunEvent StepEvent(const v1::Run& run, const std::string& step, v1::RunEvent::Type type) {
  return Event(run, absl::StrCat(run.run_id(), ":", step), type);
}

// A TransferService that records what it was asked.
class FakeTransfer final : public v1::TransferService::CallbackService {
 public:
  grpc::ServerUnaryReactor* TestConnection(grpc::CallbackServerContext* context,
                                           const v1::TestConnectionRequest* request,
                                           v1::TestConnectionResponse* response) override {
    last_request = *request;
    had_deadline = context->deadline() != std::chrono::system_clock::time_point::max();
    response->set_ok(true);
    response->set_host_key_sha256(kFingerprint);
    auto* step = response->add_steps();
    step->set_name("auth");
    step->set_ok(true);
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  v1::TestConnectionRequest last_request;
  bool had_deadline = false;
};

class SchedulerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { SuitePostgres::Start(); }
  static void TearDownTestSuite() { SuitePostgres::Stop(); }

  void SetUp() override {
    auto redis = RedisServer::Start();
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = std::move(*redis);
    redis_options_ = TestRedisOptions(*redis_);

    pool_ = SuitePostgres::FreshDatabase("sched", &conninfo_);
    ASSERT_NE(pool_, nullptr);

    auto sealer = Sealer::FromKeyMaterial(kMasterKey);
    ASSERT_TRUE(sealer.ok()) << sealer.status();
    sealer_ = std::make_unique<Sealer>(*sealer);
    clock_ = std::make_unique<FakeClock>(Utc(2026, 3, 1, 1, 0));
    registry_ = std::make_shared<prometheus::Registry>();
    metrics_ = std::make_unique<SchedulerMetrics>(*registry_);
    integrations_ =
        std::make_unique<IntegrationService>(pool_.get(), sealer_.get(), clock_.get(), nullptr);
    orchestrator_ = std::make_unique<RunOrchestrator>(pool_.get(), clock_.get(), metrics_.get());
    runs_ = std::make_unique<RunService>(pool_.get(), orchestrator_.get());
    publisher_ = std::make_unique<RedisPublisher>(redis_options_);
    OutboxRelayOptions relay_options;
    relay_options.poll_interval = absl::Milliseconds(50);
    relay_options.backoff_initial = absl::Milliseconds(50);
    relay_options.backoff_max = absl::Milliseconds(400);
    relay_ =
        std::make_unique<OutboxRelay>(pool_.get(), publisher_.get(), clock_.get(), relay_options);
  }

  void TearDown() override {
    if (relay_) relay_->Stop();
  }

  v1::Integration MustCreate(const v1::CreateIntegrationRequest& req) {
    return test_support::MustCreate(*integrations_, req);
  }

  v1::Run MustGetRun(const v1::Run& run) { return test_support::MustGetRun(*runs_, run); }

  v1::Run MustTrigger(const v1::Integration& in) { return test_support::MustTrigger(*runs_, in); }

  // Every payload on `stream`, oldest first.
  std::vector<std::string> ReadStream(const std::string& stream) {
    return test_support::ReadStream(redis_options_, stream);
  }

  int64_t PendingOutbox() { return test_support::PendingOutbox(*pool_); }

  std::string QueryBytes(const std::string& sql) {
    std::string out;
    EXPECT_TRUE(pool_
                    ->Transact([&](pqxx::work& txn) -> absl::Status {
                      pqxx::result r = txn.exec(sql);
                      for (const auto& row : r) out += pqxx::binarystring(row[0]).str();
                      return absl::OkStatus();
                    })
                    .ok());
    return out;
  }

  std::string conninfo_;
  std::unique_ptr<RedisServer> redis_;
  RedisOptions redis_options_;
  std::unique_ptr<PgPool> pool_;
  std::unique_ptr<Sealer> sealer_;
  std::unique_ptr<FakeClock> clock_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<SchedulerMetrics> metrics_;
  std::unique_ptr<IntegrationService> integrations_;
  std::unique_ptr<RunOrchestrator> orchestrator_;
  std::unique_ptr<RunService> runs_;
  std::unique_ptr<RedisPublisher> publisher_;
  std::unique_ptr<OutboxRelay> relay_;
};

TEST_F(SchedulerTest, CredentialsAreSealedAndNeverReturned) {
  v1::Integration created = MustCreate(FullImportRequest("acme"));
  EXPECT_THAT(created.integration_id(), HasSubstr("int_"));
  EXPECT_EQ(created.credential_kind(), v1::CREDENTIAL_KIND_PASSWORD);
  EXPECT_TRUE(created.active());
  EXPECT_EQ(created.endpoint().connect_timeout_ms(), 10000);  // default applied
  EXPECT_EQ(created.time_zone(), "UTC");
  EXPECT_THAT(created.SerializeAsString(), Not(HasSubstr(kPassword)));

  v1::GetIntegrationRequest get;
  get.set_tenant_id("acme");
  get.set_integration_id(created.integration_id());
  auto got = integrations_->Get(get);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->name(), "nightly HR import");
  EXPECT_EQ(got->credential_kind(), v1::CREDENTIAL_KIND_PASSWORD);
  EXPECT_EQ(got->import_settings().header_map().at("Employee ID"), "person_id");
  EXPECT_THAT(got->SerializeAsString(), Not(HasSubstr(kPassword)));

  v1::ListIntegrationsRequest list;
  list.set_tenant_id("acme");
  auto listed = integrations_->List(list);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->integrations_size(), 1);
  EXPECT_THAT(listed->SerializeAsString(), Not(HasSubstr(kPassword)));

  // At rest: neither column holds the password; the sealed blob opens only with the
  // integration's own context.
  std::string sealed = QueryBytes("SELECT sealed_credentials FROM scheduler.integrations");
  std::string definition = QueryBytes("SELECT definition FROM scheduler.integrations");
  ASSERT_FALSE(sealed.empty());
  EXPECT_THAT(sealed, Not(HasSubstr(kPassword)));
  EXPECT_THAT(definition, Not(HasSubstr(kPassword)));
  auto opened = sealer_->Open(sealed, CredentialContext("acme", created.integration_id()));
  ASSERT_TRUE(opened.ok()) << opened.status();
  v1::Credentials credentials;
  ASSERT_TRUE(credentials.ParseFromString(*opened));
  EXPECT_EQ(credentials.password(), kPassword);
  EXPECT_FALSE(sealer_->Open(sealed, CredentialContext("other", created.integration_id())).ok());
}

TEST_F(SchedulerTest, CreateNamesTheBadField) {
  v1::CreateIntegrationRequest req = FullImportRequest("acme");
  req.mutable_integration()->mutable_endpoint()->set_port(70000);
  auto created = integrations_->Create(req);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(created.status().message()), HasSubstr("endpoint.port"));

  v1::CreateIntegrationRequest no_credentials = FullImportRequest("acme");
  no_credentials.clear_credentials();
  auto refused = integrations_->Create(no_credentials);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("credentials"));
}

TEST_F(SchedulerTest, ListIntegrationsPaginates) {
  for (int i = 0; i < 3; ++i) MustCreate(FullImportRequest("acme"));
  MustCreate(FullImportRequest("globex"));
  v1::ListIntegrationsRequest req;
  req.set_tenant_id("acme");
  req.set_page_size(2);
  auto first = integrations_->List(req);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->integrations_size(), 2);
  ASSERT_FALSE(first->next_page_token().empty());
  req.set_page_token(first->next_page_token());
  auto second = integrations_->List(req);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->integrations_size(), 1);
  EXPECT_TRUE(second->next_page_token().empty());
  EXPECT_LT(first->integrations(1).integration_id(), second->integrations(0).integration_id());
  req.set_page_token("garbage!");
  EXPECT_EQ(integrations_->List(req).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SchedulerTest, ImportRunIsDrivenByEventsToSucceeded) {
  v1::Integration in = MustCreate(FullImportRequest("acme"));
  v1::Run run = MustTrigger(in);
  EXPECT_EQ(run.state(), v1::RUN_STATE_FETCHING);
  EXPECT_EQ(run.trigger(), v1::RUN_TRIGGER_MANUAL);
  EXPECT_EQ(PendingOutbox(), 1);  // written in the same transaction as the run

  // The relay publishes the fetch job.
  auto published = relay_->RelayOnce();
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(*published, 1);
  EXPECT_EQ(PendingOutbox(), 0);
  std::vector<std::string> transfer = ReadStream(kTransferJobsStream);
  ASSERT_EQ(transfer.size(), 1u);
  auto fetch = DecodeQueueMessage<v1::TransferJob>(transfer[0]);
  ASSERT_TRUE(fetch.ok()) << fetch.status();
  EXPECT_EQ(fetch->job_id(), run.run_id() + ":fetch");
  EXPECT_EQ(fetch->op(), v1::TransferJob::OP_FETCH);
  EXPECT_EQ(fetch->tenant_id(), "acme");
  EXPECT_EQ(fetch->integration_id(), in.integration_id());
  EXPECT_EQ(fetch->remote_folder(), "/outgoing");
  EXPECT_EQ(fetch->file_glob(), "roster_*.csv");
  EXPECT_EQ(fetch->fetch().done_marker_suffix(), ".done");  // fetch options passed through
  EXPECT_EQ(fetch->fetch().stability_interval_ms(), 1500);
  EXPECT_EQ(fetch->time_zone(), in.time_zone());
  EXPECT_EQ(fetch->endpoint().host(), "127.0.0.1");
  EXPECT_EQ(fetch->credentials().context(), "acme/" + in.integration_id());
  EXPECT_THAT(transfer[0], Not(HasSubstr(kPassword)));
  auto opened = sealer_->Open(fetch->credentials().ciphertext(), fetch->credentials().context());
  ASSERT_TRUE(opened.ok()) << opened.status();

  // FETCHED arrives through the events stream and the "scheduler" consumer group.
  clock_->Advance(absl::Seconds(30));
  v1::RunEvent fetched = StepEvent(run, "fetch", v1::RunEvent::TYPE_FETCHED);
  fetched.set_file_id("file_abc");
  fetched.set_remote_path("/outgoing/roster_20260301.csv");
  fetched.set_bytes(1234);
  ASSERT_TRUE(publisher_->Publish(kEventsStream, EncodeQueueMessage(fetched)).ok());
  ConsumerOptions consumer_options;
  consumer_options.stream = kEventsStream;
  consumer_options.group = "scheduler";
  consumer_options.consumer = "test-consumer";
  consumer_options.block = absl::Milliseconds(200);
  StreamConsumer consumer(redis_options_, consumer_options,
                          [&](const Delivery& d) { return orchestrator_->HandleDelivery(d); });
  auto handled = consumer.PollOnce();
  ASSERT_TRUE(handled.ok()) << handled.status();
  EXPECT_TRUE(*handled);
  EXPECT_EQ(MustGetRun(run).state(), v1::RUN_STATE_IMPORTING);

  ASSERT_EQ(*relay_->RelayOnce(), 1);
  std::vector<std::string> roster = ReadStream(kRosterJobsStream);
  ASSERT_EQ(roster.size(), 1u);
  auto import = DecodeQueueMessage<v1::RosterJob>(roster[0]);
  ASSERT_TRUE(import.ok()) << import.status();
  EXPECT_EQ(import->job_id(), run.run_id() + ":import");
  EXPECT_EQ(import->op(), v1::RosterJob::OP_IMPORT);
  EXPECT_EQ(import->file_id(), "file_abc");
  EXPECT_EQ(import->header_map().at("Employee ID"), "person_id");
  EXPECT_EQ(import->sync_policy(), v1::SYNC_POLICY_DELETE);

  // A redelivered FETCHED and a stale FAILED for the finished fetch step change nothing.
  ASSERT_TRUE(orchestrator_->HandleEvent(fetched).ok());
  v1::RunEvent stale = StepEvent(run, "fetch", v1::RunEvent::TYPE_FAILED);
  stale.set_error("late failure");
  ASSERT_TRUE(orchestrator_->HandleEvent(stale).ok());
  v1::Run still = MustGetRun(run);
  EXPECT_EQ(still.state(), v1::RUN_STATE_IMPORTING);
  EXPECT_EQ(still.error(), "");
  EXPECT_EQ(PendingOutbox(), 0);  // no second import job

  clock_->Advance(absl::Seconds(90));
  v1::RunEvent imported = StepEvent(run, "import", v1::RunEvent::TYPE_IMPORTED);
  imported.mutable_import()->set_added(3);
  imported.mutable_import()->set_updated(2);
  imported.mutable_import()->set_backup_file_id("file_backup");
  imported.mutable_import()->set_status(v1::IMPORT_STATUS_APPLIED);
  ASSERT_TRUE(orchestrator_->HandleEvent(imported).ok());
  // Its duplicate is ignored too.
  ASSERT_TRUE(orchestrator_->HandleEvent(imported).ok());

  v1::Run done = MustGetRun(run);
  EXPECT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(done.source_file_id(), "file_abc");
  EXPECT_EQ(done.remote_path(), "/outgoing/roster_20260301.csv");
  EXPECT_EQ(done.bytes_transferred(), 1234);
  EXPECT_EQ(done.import_summary().added(), 3);
  EXPECT_EQ(done.import_summary().backup_file_id(), "file_backup");
  EXPECT_TRUE(done.has_finished_at());
  EXPECT_EQ(FromProtoTime(done.finished_at()) - FromProtoTime(done.created_at()),
            absl::Seconds(120));
  EXPECT_THAT(StepStates(done), ElementsAre(v1::RUN_STATE_QUEUED, v1::RUN_STATE_FETCHING,
                                            v1::RUN_STATE_IMPORTING, v1::RUN_STATE_SUCCEEDED));
  EXPECT_THAT(done.steps(3).detail(), HasSubstr("3 added"));
  EXPECT_EQ(metrics_->RunsTotal(v1::RUN_DIRECTION_IMPORT, v1::RUN_STATE_SUCCEEDED), 1);
}

TEST_F(SchedulerTest, PolicyReachesTheImportJobAndAHeldImportHoldsTheRun) {
  v1::CreateIntegrationRequest req = FullImportRequest("acme");
  v1::ImportPolicy* policy = req.mutable_integration()->mutable_import_settings()->mutable_policy();
  policy->set_sync_policy(v1::SYNC_POLICY_DEACTIVATE);  // wins over the legacy DELETE
  policy->set_encoding("windows-1252");
  policy->set_delimiter(";");
  (*policy->mutable_attribute_types())["hired_on"] = "date";
  policy->set_max_removals(10);

  // A bad policy is refused naming the field, on create and on update.
  v1::CreateIntegrationRequest bad = req;
  bad.mutable_integration()->mutable_import_settings()->mutable_policy()->set_max_removal_share(
      1.5);
  auto refused = integrations_->Create(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("import_settings.policy.max_removal_share"));

  v1::Integration in = MustCreate(req);
  EXPECT_EQ(in.import_settings().policy().delimiter(), ";");
  v1::UpdateIntegrationRequest update;
  *update.mutable_integration() = in;
  update.mutable_integration()->mutable_import_settings()->mutable_policy()->set_encoding("ebcdic");
  update.mutable_update_mask()->add_paths("import_settings");
  auto not_updated = integrations_->Update(update);
  ASSERT_FALSE(not_updated.ok());
  EXPECT_THAT(std::string(not_updated.status().message()),
              HasSubstr("import_settings.policy.encoding"));

  v1::Run run = MustTrigger(in);
  ASSERT_EQ(*relay_->RelayOnce(), 1);
  v1::RunEvent fetched = StepEvent(run, "fetch", v1::RunEvent::TYPE_FETCHED);
  fetched.set_file_id("file_held");
  ASSERT_TRUE(orchestrator_->HandleEvent(fetched).ok());
  ASSERT_EQ(*relay_->RelayOnce(), 1);
  std::vector<std::string> roster = ReadStream(kRosterJobsStream);
  ASSERT_EQ(roster.size(), 1u);
  auto job = DecodeQueueMessage<v1::RosterJob>(roster[0]);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->policy().sync_policy(), v1::SYNC_POLICY_DEACTIVATE);
  EXPECT_EQ(job->sync_policy(), v1::SYNC_POLICY_DEACTIVATE);
  EXPECT_EQ(job->policy().encoding(), "windows-1252");
  EXPECT_EQ(job->policy().delimiter(), ";");
  EXPECT_EQ(job->policy().attribute_types().at("hired_on"), "date");
  EXPECT_EQ(job->policy().max_removals(), 10);

  clock_->Advance(absl::Seconds(60));
  v1::RunEvent imported = StepEvent(run, "import", v1::RunEvent::TYPE_IMPORTED);
  imported.mutable_import()->set_import_id("imp_held");
  imported.mutable_import()->set_status(v1::IMPORT_STATUS_HELD);
  imported.mutable_import()->set_added(4);
  imported.mutable_import()->set_held(700);
  imported.mutable_import()->set_held_reason("700 removals exceed max_removals 10");
  ASSERT_TRUE(orchestrator_->HandleEvent(imported).ok());
  // A late failure for the same job changes nothing: a held run is finished for the scheduler.
  v1::RunEvent late = StepEvent(run, "import", v1::RunEvent::TYPE_FAILED);
  late.set_error("late");
  ASSERT_TRUE(orchestrator_->HandleEvent(late).ok());

  v1::Run held = MustGetRun(run);
  EXPECT_EQ(held.state(), v1::RUN_STATE_HELD);
  EXPECT_EQ(held.error(), "");
  EXPECT_TRUE(held.has_finished_at());
  EXPECT_EQ(held.import_summary().status(), v1::IMPORT_STATUS_HELD);
  EXPECT_EQ(held.import_summary().held(), 700);
  EXPECT_THAT(StepStates(held), ElementsAre(v1::RUN_STATE_QUEUED, v1::RUN_STATE_FETCHING,
                                            v1::RUN_STATE_IMPORTING, v1::RUN_STATE_HELD));
  EXPECT_THAT(held.steps(3).detail(), HasSubstr("700 removals exceed max_removals 10"));
  EXPECT_THAT(held.steps(3).detail(), HasSubstr("imp_held"));
  EXPECT_EQ(metrics_->RunsTotal(v1::RUN_DIRECTION_IMPORT, v1::RUN_STATE_HELD), 1);
  EXPECT_EQ(metrics_->RunsTotal(v1::RUN_DIRECTION_IMPORT, v1::RUN_STATE_SUCCEEDED), 0);
  EXPECT_EQ(metrics_->RunsTotal(v1::RUN_DIRECTION_IMPORT, v1::RUN_STATE_FAILED), 0);
}

TEST_F(SchedulerTest, ExportRunRendersThenUploads) {
  v1::Integration in = MustCreate(ExportRequest("acme"));
  v1::Run run = MustTrigger(in);
  EXPECT_EQ(run.state(), v1::RUN_STATE_RENDERING);
  ASSERT_EQ(*relay_->RelayOnce(), 1);
  std::vector<std::string> roster = ReadStream(kRosterJobsStream);
  ASSERT_EQ(roster.size(), 1u);
  auto render = DecodeQueueMessage<v1::RosterJob>(roster[0]);
  ASSERT_TRUE(render.ok()) << render.status();
  EXPECT_EQ(render->job_id(), run.run_id() + ":render");
  EXPECT_EQ(render->op(), v1::RosterJob::OP_EXPORT);
  EXPECT_EQ(render->export_name(), "roster_export.csv");

  v1::RunEvent rendered = StepEvent(run, "render", v1::RunEvent::TYPE_RENDERED);
  rendered.set_file_id("file_export");
  ASSERT_TRUE(orchestrator_->HandleEvent(rendered).ok());
  EXPECT_EQ(MustGetRun(run).state(), v1::RUN_STATE_UPLOADING);
  ASSERT_EQ(*relay_->RelayOnce(), 1);
  std::vector<std::string> transfer = ReadStream(kTransferJobsStream);
  ASSERT_EQ(transfer.size(), 1u);
  auto upload = DecodeQueueMessage<v1::TransferJob>(transfer[0]);
  ASSERT_TRUE(upload.ok()) << upload.status();
  EXPECT_EQ(upload->job_id(), run.run_id() + ":upload");
  EXPECT_EQ(upload->op(), v1::TransferJob::OP_UPLOAD);
  EXPECT_EQ(upload->file_id(), "file_export");
  EXPECT_EQ(upload->remote_folder(), "/incoming");
  EXPECT_EQ(upload->remote_name(), "roster_export.csv");
  EXPECT_EQ(upload->upload().temp_suffix(), ".filepart");  // upload options passed through
  EXPECT_EQ(upload->time_zone(), in.time_zone());
  EXPECT_EQ(upload->credentials().context(), "acme/" + in.integration_id());

  v1::RunEvent uploaded = StepEvent(run, "upload", v1::RunEvent::TYPE_UPLOADED);
  uploaded.set_remote_path("/incoming/roster_export.csv");
  uploaded.set_bytes(777);
  ASSERT_TRUE(orchestrator_->HandleEvent(uploaded).ok());
  v1::Run done = MustGetRun(run);
  EXPECT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(done.export_file_id(), "file_export");
  EXPECT_EQ(done.remote_path(), "/incoming/roster_export.csv");
  EXPECT_THAT(StepStates(done), ElementsAre(v1::RUN_STATE_QUEUED, v1::RUN_STATE_RENDERING,
                                            v1::RUN_STATE_UPLOADING, v1::RUN_STATE_SUCCEEDED));
  EXPECT_EQ(metrics_->RunsTotal(v1::RUN_DIRECTION_EXPORT, v1::RUN_STATE_SUCCEEDED), 1);
}

TEST_F(SchedulerTest, FailureOutcomes) {
  v1::Integration in = MustCreate(FullImportRequest("acme"));

  v1::Run skipped = MustTrigger(in);
  v1::RunEvent no_new = StepEvent(skipped, "fetch", v1::RunEvent::TYPE_NO_NEW_FILE);
  no_new.set_note("/outgoing/roster_2.csv has the same content as /outgoing/roster_1.csv");
  ASSERT_TRUE(orchestrator_->HandleEvent(no_new).ok());
  v1::Run s = MustGetRun(skipped);
  EXPECT_EQ(s.state(), v1::RUN_STATE_SKIPPED);
  ASSERT_GT(s.steps_size(), 0);
  EXPECT_THAT(s.steps(s.steps_size() - 1).detail(), HasSubstr("has the same content"));

  v1::Run failed = MustTrigger(in);
  v1::RunEvent failure = StepEvent(failed, "fetch", v1::RunEvent::TYPE_FAILED);
  failure.set_error("sftp: host key mismatch");
  ASSERT_TRUE(orchestrator_->HandleEvent(failure).ok());
  v1::Run f = MustGetRun(failed);
  EXPECT_EQ(f.state(), v1::RUN_STATE_FAILED);
  EXPECT_EQ(f.error(), "sftp: host key mismatch");

  v1::Run rejected = MustTrigger(in);
  v1::RunEvent fetched = StepEvent(rejected, "fetch", v1::RunEvent::TYPE_FETCHED);
  fetched.set_file_id("file_1");
  ASSERT_TRUE(orchestrator_->HandleEvent(fetched).ok());
  v1::RunEvent refusal = StepEvent(rejected, "import", v1::RunEvent::TYPE_IMPORT_REJECTED);
  refusal.set_error("missing required column last_name");
  ASSERT_TRUE(orchestrator_->HandleEvent(refusal).ok());
  v1::Run r = MustGetRun(rejected);
  EXPECT_EQ(r.state(), v1::RUN_STATE_FAILED);
  EXPECT_THAT(r.error(), HasSubstr("missing required column last_name"));
  // An event that does not fit the state (UPLOADED during an import) is ignored.
  v1::Run other = MustTrigger(in);
  ASSERT_TRUE(orchestrator_->HandleEvent(StepEvent(other, "fetch", v1::RunEvent::TYPE_UPLOADED)).ok());
  EXPECT_EQ(MustGetRun(other).state(), v1::RUN_STATE_FETCHING);

  EXPECT_EQ(metrics_->RunsTotal(v1::RUN_DIRECTION_IMPORT, v1::RUN_STATE_SKIPPED), 1);
  EXPECT_EQ(metrics_->RunsTotal(v1::RUN_DIRECTION_IMPORT, v1::RUN_STATE_FAILED), 2);

  // Malformed payloads are dropped (acked), not retried forever.
  Delivery junk;
  junk.id = "1-1";
  junk.payload = "\xff\xff not a proto";
  EXPECT_TRUE(orchestrator_->HandleDelivery(junk).ok());
}

TEST_F(SchedulerTest, TenantsAreIsolated) {
  v1::Integration in = MustCreate(FullImportRequest("acme"));
  v1::Run run = MustTrigger(in);

  v1::GetIntegrationRequest get;
  get.set_tenant_id("globex");
  get.set_integration_id(in.integration_id());
  EXPECT_EQ(integrations_->Get(get).status().code(), absl::StatusCode::kNotFound);

  v1::UpdateIntegrationRequest update;
  *update.mutable_integration() = in;
  update.mutable_integration()->set_tenant_id("globex");
  EXPECT_EQ(integrations_->Update(update).status().code(), absl::StatusCode::kNotFound);

  v1::TestIntegrationRequest test;
  test.set_tenant_id("globex");
  test.set_integration_id(in.integration_id());
  EXPECT_EQ(integrations_->Test(test).status().code(), absl::StatusCode::kNotFound);

  v1::TriggerRunRequest trigger;
  trigger.set_tenant_id("globex");
  trigger.set_integration_id(in.integration_id());
  EXPECT_EQ(runs_->Trigger(trigger).status().code(), absl::StatusCode::kNotFound);

  v1::GetRunRequest get_run;
  get_run.set_tenant_id("globex");
  get_run.set_run_id(run.run_id());
  EXPECT_EQ(runs_->Get(get_run).status().code(), absl::StatusCode::kNotFound);

  v1::ListRunsRequest list_runs;
  list_runs.set_tenant_id("globex");
  ASSERT_TRUE(runs_->List(list_runs).ok());
  EXPECT_EQ(runs_->List(list_runs)->runs_size(), 0);
  v1::ListIntegrationsRequest list;
  list.set_tenant_id("globex");
  EXPECT_EQ(integrations_->List(list)->integrations_size(), 0);

  // An event claiming another tenant does not move the run.
  v1::RunEvent forged = StepEvent(run, "fetch", v1::RunEvent::TYPE_NO_NEW_FILE);
  forged.set_tenant_id("globex");
  ASSERT_TRUE(orchestrator_->HandleEvent(forged).ok());
  EXPECT_EQ(MustGetRun(run).state(), v1::RUN_STATE_FETCHING);
}

TEST_F(SchedulerTest, UpdateAppliesTheMaskAndDeactivationBlocksTriggers) {
  v1::Integration in = MustCreate(FullImportRequest("acme"));
  v1::UpdateIntegrationRequest update;
  update.mutable_integration()->set_tenant_id("acme");
  update.mutable_integration()->set_integration_id(in.integration_id());
  update.mutable_integration()->set_name("renamed");
  update.mutable_integration()->set_schedule("not parsed: not in the mask");
  update.mutable_update_mask()->add_paths("name");
  auto renamed = integrations_->Update(update);
  ASSERT_TRUE(renamed.ok()) << renamed.status();
  EXPECT_EQ(renamed->name(), "renamed");
  EXPECT_EQ(renamed->endpoint().host(), "127.0.0.1");
  EXPECT_EQ(renamed->schedule(), "");

  update.mutable_update_mask()->clear_paths();
  update.mutable_update_mask()->add_paths("direction");
  EXPECT_EQ(integrations_->Update(update).status().code(), absl::StatusCode::kInvalidArgument);
  update.mutable_update_mask()->clear_paths();
  update.mutable_update_mask()->add_paths("credential_kind");
  EXPECT_THAT(std::string(integrations_->Update(update).status().message()),
              HasSubstr("update_mask"));

  // Replace the credentials with a key, and deactivate.
  v1::UpdateIntegrationRequest swap;
  swap.mutable_integration()->set_tenant_id("acme");
  swap.mutable_integration()->set_integration_id(in.integration_id());
  swap.mutable_integration()->set_active(false);
  swap.mutable_update_mask()->add_paths("active");
  swap.mutable_credentials()->mutable_private_key()->set_key_pem(
      "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n");
  auto swapped = integrations_->Update(swap);
  ASSERT_TRUE(swapped.ok()) << swapped.status();
  EXPECT_EQ(swapped->credential_kind(), v1::CREDENTIAL_KIND_PRIVATE_KEY);
  EXPECT_FALSE(swapped->active());
  EXPECT_THAT(swapped->SerializeAsString(), Not(HasSubstr("OPENSSH")));

  v1::TriggerRunRequest trigger;
  trigger.set_tenant_id("acme");
  trigger.set_integration_id(in.integration_id());
  auto refused = runs_->Trigger(trigger);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(PendingOutbox(), 0);

  // An invalid full update is refused, naming the field, and changes nothing.
  v1::UpdateIntegrationRequest bad;
  *bad.mutable_integration() = *swapped;
  bad.mutable_integration()->mutable_endpoint()->set_host_key_sha256("SHA256:short");
  auto invalid = integrations_->Update(bad);
  EXPECT_THAT(std::string(invalid.status().message()), HasSubstr("endpoint.host_key_sha256"));
}

TEST_F(SchedulerTest, ListRunsNewestFirstFilteredAndPaginated) {
  v1::Integration a = MustCreate(FullImportRequest("acme"));
  v1::Integration b = MustCreate(ExportRequest("acme"));
  std::vector<v1::Run> made;
  for (int i = 0; i < 3; ++i) {
    clock_->Advance(absl::Minutes(1));
    made.push_back(MustTrigger(a));
  }
  clock_->Advance(absl::Minutes(1));
  v1::Run export_run = MustTrigger(b);
  ASSERT_TRUE(
      orchestrator_->HandleEvent(StepEvent(made[0], "fetch", v1::RunEvent::TYPE_NO_NEW_FILE)).ok());

  v1::ListRunsRequest req;
  req.set_tenant_id("acme");
  req.set_integration_id(a.integration_id());
  req.set_page_size(2);
  auto first = runs_->List(req);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->runs_size(), 2);
  EXPECT_EQ(first->runs(0).run_id(), made[2].run_id());
  EXPECT_EQ(first->runs(1).run_id(), made[1].run_id());
  req.set_page_token(first->next_page_token());
  auto second = runs_->List(req);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->runs_size(), 1);
  EXPECT_EQ(second->runs(0).run_id(), made[0].run_id());
  EXPECT_TRUE(second->next_page_token().empty());

  v1::ListRunsRequest all;
  all.set_tenant_id("acme");
  EXPECT_EQ(runs_->List(all)->runs_size(), 4);
  EXPECT_EQ(runs_->List(all)->runs(0).run_id(), export_run.run_id());
  all.set_state(v1::RUN_STATE_SKIPPED);
  auto skipped = runs_->List(all);
  ASSERT_EQ(skipped->runs_size(), 1);
  EXPECT_EQ(skipped->runs(0).run_id(), made[0].run_id());
}

TEST_F(SchedulerTest, ScheduleTickCreatesOneRunPerSlot) {
  v1::CreateIntegrationRequest req = FullImportRequest("acme");
  req.mutable_integration()->set_schedule("0 2 * * *");
  req.mutable_integration()->set_time_zone("Europe/Berlin");
  v1::Integration in = MustCreate(req);  // clock: 2026-03-01 01:00 UTC = 02:00 CET
  // 02:00 Berlin just passed (it is exactly now): the next slot is tomorrow 01:00 UTC.
  EXPECT_EQ(FromProtoTime(in.next_run_at()), Utc(2026, 3, 2, 1, 0));

  clock_->Set(Utc(2026, 3, 2, 0, 59));
  auto none = orchestrator_->TickOnce();
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, 0);

  clock_->Set(Utc(2026, 3, 2, 1, 0) + absl::Seconds(5));
  auto one = orchestrator_->TickOnce();
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(*one, 1);
  v1::ListRunsRequest list;
  list.set_tenant_id("acme");
  auto listed = runs_->List(list);
  ASSERT_EQ(listed->runs_size(), 1);
  EXPECT_EQ(listed->runs(0).trigger(), v1::RUN_TRIGGER_SCHEDULE);
  EXPECT_EQ(listed->runs(0).state(), v1::RUN_STATE_FETCHING);
  EXPECT_EQ(FromProtoTime(listed->runs(0).scheduled_for()), Utc(2026, 3, 2, 1, 0));
  EXPECT_EQ(PendingOutbox(), 1);

  v1::GetIntegrationRequest get;
  get.set_tenant_id("acme");
  get.set_integration_id(in.integration_id());
  EXPECT_EQ(FromProtoTime(integrations_->Get(get)->next_run_at()), Utc(2026, 3, 3, 1, 0));
  EXPECT_EQ(*orchestrator_->TickOnce(), 0);

  // A second replica that read the old next_run_at finds the slot taken.
  ASSERT_TRUE(pool_
                  ->Transact([&](pqxx::work& txn) {
                    return IntegrationStore::SetNextRunAt(txn, in.integration_id(),
                                                          Utc(2026, 3, 2, 1, 0));
                  })
                  .ok());
  RunOrchestrator replica(pool_.get(), clock_.get(), nullptr);
  EXPECT_EQ(*replica.TickOnce(), 0);
  EXPECT_EQ(runs_->List(list)->runs_size(), 1);
  EXPECT_EQ(PendingOutbox(), 1);
  EXPECT_EQ(FromProtoTime(integrations_->Get(get)->next_run_at()), Utc(2026, 3, 3, 1, 0));
}

TEST_F(SchedulerTest, OutboxSurvivesRedisOutage) {
  v1::Integration in = MustCreate(FullImportRequest("acme"));
  redis_->Stop();
  v1::Run run = MustTrigger(in);  // PostgreSQL only: works while Redis is down
  EXPECT_EQ(run.state(), v1::RUN_STATE_FETCHING);
  auto refused = relay_->RelayOnce();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(PendingOutbox(), 1);

  relay_->Start();  // keeps retrying with backoff
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(PendingOutbox(), 1);
  ASSERT_TRUE(redis_->Restart().ok());
  absl::Time deadline = absl::Now() + absl::Seconds(15);
  while (PendingOutbox() != 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(PendingOutbox(), 0);
  relay_->Stop();
  std::vector<std::string> transfer = ReadStream(kTransferJobsStream);
  ASSERT_EQ(transfer.size(), 1u);
  auto job = DecodeQueueMessage<v1::TransferJob>(transfer[0]);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->job_id(), run.run_id() + ":fetch");
}

TEST_F(SchedulerTest, MetricsSamplerReadsQueueLengthsAndPending) {
  v1::Integration in = MustCreate(FullImportRequest("acme"));
  MustTrigger(in);
  MustTrigger(in);
  ASSERT_EQ(*relay_->RelayOnce(), 2);
  MustTrigger(in);  // left pending
  MetricsSampler sampler(pool_.get(), redis_options_, metrics_.get(), absl::Seconds(1));
  sampler.SampleOnce();
  double transfer_len = -1, pending = -1, in_progress = -1;
  for (const auto& family : registry_->Collect()) {
    for (const auto& metric : family.metric) {
      if (family.name == "rostersync_queue_length") {
        for (const auto& label : metric.label) {
          if (label.value == kTransferJobsStream) transfer_len = metric.gauge.value;
        }
      }
      if (family.name == "rostersync_outbox_pending") pending = metric.gauge.value;
      if (family.name == "rostersync_runs_in_progress") in_progress = metric.gauge.value;
    }
  }
  EXPECT_EQ(transfer_len, 2);
  EXPECT_EQ(pending, 1);
  EXPECT_EQ(in_progress, 3);
}

TEST_F(SchedulerTest, TestIntegrationCallsTheTransferServiceWithSealedCredentials) {
  FakeTransfer fake;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&fake);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto stub = v1::TransferService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  IntegrationService service(pool_.get(), sealer_.get(), clock_.get(), stub.get());

  v1::Integration in = MustCreate(FullImportRequest("acme"));
  v1::TestIntegrationRequest req;
  req.set_tenant_id("acme");
  req.set_integration_id(in.integration_id());
  auto response = service.Test(req);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_TRUE(response->ok());
  EXPECT_EQ(fake.last_request.tenant_id(), "acme");
  EXPECT_EQ(fake.last_request.endpoint().port(), 2222);
  EXPECT_EQ(fake.last_request.remote_folder(), "/outgoing");
  EXPECT_EQ(fake.last_request.direction(), v1::RUN_DIRECTION_IMPORT);
  EXPECT_EQ(fake.last_request.credentials().context(), "acme/" + in.integration_id());
  EXPECT_THAT(fake.last_request.SerializeAsString(), Not(HasSubstr(kPassword)));
  EXPECT_TRUE(fake.had_deadline);

  // The transfer service down: UNAVAILABLE, naming it.
  server->Shutdown();
  auto down = service.Test(req);
  ASSERT_FALSE(down.ok());
  EXPECT_THAT(std::string(down.status().message()), HasSubstr("transfer service"));
}

// The real binary: gRPC API, outbox relay thread, events consumer, /metrics, SIGTERM.
TEST_F(SchedulerTest, BinaryServesRelaysConsumesAndStopsCleanly) {
  // Creating an active integration runs TestConnection (activation): a transfer service that
  // passes it.
  FakeTransfer fake_transfer;
  grpc::ServerBuilder transfer_builder;
  int transfer_port = 0;
  transfer_builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                                    &transfer_port);
  transfer_builder.RegisterService(&fake_transfer);
  std::unique_ptr<grpc::Server> transfer_server = transfer_builder.BuildAndStart();
  ASSERT_NE(transfer_server, nullptr);
  std::string dir = testing::MakeTempDir("rs-sched-bin");
  testing::Subprocess::Options options;
  options.argv = {RS_BINARY_DIR "/services/scheduler/rostersync-scheduler",
                  "--redis=" + redis_->address(),
                  "--postgres=" + conninfo_,
                  absl::StrCat("--transfer_address=127.0.0.1:", transfer_port),
                  "--tick_interval_ms=100",
                  "--consumer_name=binary-test"};
  options.env = {{"ROSTERSYNC_MASTER_KEY", kMasterKey}, {"ROSTERSYNC_MASTER_KEY_FILE", ""}};
  options.log_path = dir + "/scheduler.log";
  // Port 0: the binary picks free ports and names them in its "service started" line.
  auto started = testing::StartServiceBinary(options);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<testing::Subprocess> proc = std::move(started->proc);
  const int grpc_port = started->ports.grpc;
  const int metrics_port = started->ports.metrics;

  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port),
                                     grpc::InsecureChannelCredentials());
  auto integration_stub = v1::IntegrationService::NewStub(channel);
  auto run_stub = v1::RunService::NewStub(channel);
  auto call = [](auto&& stub_call) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub_call(&context);
  };

  v1::Integration in;
  grpc::Status status = call([&](grpc::ClientContext* c) {
    return integration_stub->CreateIntegration(c, FullImportRequest("acme"), &in);
  });
  ASSERT_TRUE(status.ok()) << status.error_message();
  v1::CreateIntegrationRequest bad = FullImportRequest("acme");
  bad.mutable_integration()->mutable_endpoint()->clear_username();
  v1::Integration ignored;
  status = call([&](grpc::ClientContext* c) {
    return integration_stub->CreateIntegration(c, bad, &ignored);
  });
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("endpoint.username"));

  v1::TriggerRunRequest trigger;
  trigger.set_tenant_id("acme");
  trigger.set_integration_id(in.integration_id());
  v1::Run run;
  status = call([&](grpc::ClientContext* c) { return run_stub->TriggerRun(c, trigger, &run); });
  ASSERT_TRUE(status.ok()) << status.error_message();

  // The relay thread publishes the fetch job.
  absl::Time deadline = absl::Now() + absl::Seconds(15);
  while (ReadStream(kTransferJobsStream).empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_EQ(ReadStream(kTransferJobsStream).size(), 1u);

  // Worker events on the stream drive the run through the binary's consumer.
  v1::RunEvent fetched = StepEvent(run, "fetch", v1::RunEvent::TYPE_FETCHED);
  fetched.set_file_id("file_1");
  ASSERT_TRUE(publisher_->Publish(kEventsStream, EncodeQueueMessage(fetched)).ok());
  v1::RunEvent imported = StepEvent(run, "import", v1::RunEvent::TYPE_IMPORTED);
  imported.mutable_import()->set_added(1);
  ASSERT_TRUE(publisher_->Publish(kEventsStream, EncodeQueueMessage(imported)).ok());
  v1::GetRunRequest get;
  get.set_tenant_id("acme");
  get.set_run_id(run.run_id());
  v1::Run got;
  deadline = absl::Now() + absl::Seconds(15);
  do {
    absl::SleepFor(absl::Milliseconds(100));
    status = call([&](grpc::ClientContext* c) { return run_stub->GetRun(c, get, &got); });
  } while (status.ok() && got.state() != v1::RUN_STATE_SUCCEEDED && absl::Now() < deadline);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(got.state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(got.steps_size(), 4);

  auto metrics = testing::HttpGet(metrics_port, "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(testing::MetricValue(
                *metrics, "rostersync_runs_total{direction=\"import\",outcome=\"succeeded\"}"),
            1);
  EXPECT_THAT(*metrics, HasSubstr("rostersync_last_success_timestamp_seconds"));

  int exit_status = proc->Stop(absl::Seconds(20));
  EXPECT_TRUE(WIFEXITED(exit_status)) << exit_status;
  EXPECT_EQ(WEXITSTATUS(exit_status), 0);
  std::string log = testing::ReadFileOrDie(dir + "/scheduler.log");
  EXPECT_THAT(log, Not(HasSubstr(kPassword)));
  testing::RemoveTree(dir);
}

TEST(SchedulerBinaryTest, ExitsNonZeroNamingTheMissingMasterKey) {
  testing::Subprocess::Options options;
  std::string dir = testing::MakeTempDir("rs-sched-bin");
  options.argv = {RS_BINARY_DIR "/services/scheduler/rostersync-scheduler",
                  "--postgres=host=127.0.0.1 port=1 dbname=none", "--metrics_address="};
  options.env = {{"ROSTERSYNC_MASTER_KEY", ""}, {"ROSTERSYNC_MASTER_KEY_FILE", ""}};
  options.log_path = dir + "/out.log";
  auto proc = testing::Subprocess::Spawn(options);
  ASSERT_TRUE(proc.ok()) << proc.status();
  auto status = (*proc)->Wait(absl::Seconds(20));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_NE(WEXITSTATUS(*status), 0);
  EXPECT_THAT(testing::ReadFileOrDie(dir + "/out.log"), HasSubstr("ROSTERSYNC_MASTER_KEY"));
  testing::RemoveTree(dir);
}

}  // namespace
}  // namespace rostersync::scheduler
