// Run orchestration against a real PostgreSQL and a real redis-server: step retries with
// backoff (persisted across a restart), retries exhausted, dead-lettered jobs, the run
// timeout, CancelRun, ApproveRun through a RosterService, a Redis outage between a state change
// and its publish, and the scheduler binary wiring of all of it.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <sys/wait.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "common/pg.h"
#include "common/queue_codec.h"
#include "common/redis_queue.h"
#include "common/sealing.h"
#include "common/time_util.h"
#include "rostersync/v1/roster.grpc.pb.h"
#include "rostersync/v1/transfer.grpc.pb.h"
#include "services/scheduler/clock.h"
#include "services/scheduler/integration_service.h"
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

v1::RunEvent Retryable(const v1::Run& run, const std::string& job_id, const std::string& error) {
  v1::RunEvent e = Event(run, job_id, v1::RunEvent::TYPE_FAILED);
  e.set_error(error);
  e.set_retryable(true);
  return e;
}

// Activation may call TestConnection: this one passes.
class PassingTransfer final : public v1::TransferService::CallbackService {
 public:
  grpc::ServerUnaryReactor* TestConnection(grpc::CallbackServerContext* context,
                                           const v1::TestConnectionRequest*,
                                           v1::TestConnectionResponse* response) override {
    response->set_ok(true);
    response->set_host_key_sha256(kFingerprint);
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// A RosterService whose ApproveDeletions records the request and answers like the roster's
// Importer::ApproveDeletions (the real one is exercised end to end in tests/e2e/nightly).
class FakeRoster final : public v1::RosterService::CallbackService {
 public:
  grpc::ServerUnaryReactor* ApproveDeletions(grpc::CallbackServerContext* context,
                                             const v1::ApproveDeletionsRequest* request,
                                             v1::ImportSummary* response) override {
    absl::MutexLock lock(&mu);
    requests.push_back(*request);
    auto* reactor = context->DefaultReactor();
    if (block) {  // the latch: the test releases it (bounded, so a broken test cannot hang)
      entered = true;
      mu.AwaitWithTimeout(absl::Condition(&release), absl::Seconds(60));
    }
    if (!fail_with.ok()) {
      reactor->Finish(fail_with);
      return reactor;
    }
    response->set_tenant_id(request->tenant_id());
    response->set_import_id(request->import_id());
    response->set_status(v1::IMPORT_STATUS_APPLIED);
    response->set_added(3);
    response->set_deleted(40);
    response->set_message("held removals approved: 40 deleted, 0 deactivated");
    *response->mutable_approved_at() = ToProtoTime(absl::Now());
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  absl::Mutex mu;
  std::vector<v1::ApproveDeletionsRequest> requests;
  grpc::Status fail_with = grpc::Status::OK;
  // With `block` set, ApproveDeletions sets `entered` and waits for `release`.
  bool block = false;
  bool entered = false;
  bool release = false;
};

// Releases the fake roster's latch and joins the approving thread, also when an ASSERT
// returns early.
class ApproverThread {
 public:
  ApproverThread(FakeRoster* roster, std::function<void()> body)
      : roster_(roster), thread_(std::move(body)) {}
  ~ApproverThread() { Join(); }
  void Join() {
    {
      absl::MutexLock lock(&roster_->mu);
      roster_->release = true;
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  FakeRoster* roster_;
  std::thread thread_;
};

class RunOrchestrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { SuitePostgres::Start(); }
  static void TearDownTestSuite() { SuitePostgres::Stop(); }

  void SetUp() override {
    auto redis = RedisServer::Start();
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = std::move(*redis);
    redis_options_ = TestRedisOptions(*redis_);

    pool_ = SuitePostgres::FreshDatabase("orch", &conninfo_);
    ASSERT_NE(pool_, nullptr);

    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&transfer_);
    builder.RegisterService(&roster_);
    fakes_ = builder.BuildAndStart();
    ASSERT_NE(fakes_, nullptr);
    fakes_address_ = absl::StrCat("127.0.0.1:", port);
    auto channel = grpc::CreateChannel(fakes_address_, grpc::InsecureChannelCredentials());
    transfer_stub_ = v1::TransferService::NewStub(channel);
    roster_stub_ = v1::RosterService::NewStub(channel);

    auto sealer = Sealer::FromKeyMaterial(kMasterKey);
    ASSERT_TRUE(sealer.ok()) << sealer.status();
    sealer_ = std::make_unique<Sealer>(*sealer);
    clock_ = std::make_unique<FakeClock>(
        absl::FromCivil(absl::CivilMinute(2026, 3, 1, 1, 0), absl::UTCTimeZone()));
    registry_ = std::make_shared<prometheus::Registry>();
    metrics_ = std::make_unique<SchedulerMetrics>(*registry_);
    integrations_ = std::make_unique<IntegrationService>(pool_.get(), sealer_.get(), clock_.get(),
                                                         transfer_stub_.get());
    options_.step_max_attempts = 3;
    options_.retry_initial = absl::Seconds(10);
    options_.retry_max = absl::Seconds(15);
    options_.run_timeout = absl::Hours(1);
    MakeScheduler();
  }

  void TearDown() override {
    if (relay_) relay_->Stop();
    if (fakes_) fakes_->Shutdown();
  }

  // (Re)creates the orchestrator, run service and relay: a scheduler restart keeps nothing
  // but what is in PostgreSQL.
  void MakeScheduler() {
    if (relay_) relay_->Stop();
    orchestrator_ =
        std::make_unique<RunOrchestrator>(pool_.get(), clock_.get(), metrics_.get(), options_);
    runs_ = std::make_unique<RunService>(pool_.get(), orchestrator_.get(), roster_stub_.get(),
                                         absl::Seconds(10));
    publisher_ = std::make_unique<RedisPublisher>(redis_options_);
    OutboxRelayOptions relay_options;
    relay_options.poll_interval = absl::Milliseconds(50);
    relay_options.backoff_initial = absl::Milliseconds(50);
    relay_options.backoff_max = absl::Milliseconds(400);
    relay_ =
        std::make_unique<OutboxRelay>(pool_.get(), publisher_.get(), clock_.get(), relay_options);
  }

  v1::Integration MustCreate(const std::string& tenant = "acme") {
    return test_support::MustCreate(*integrations_, ImportRequest(tenant));
  }

  v1::Run MustTrigger(const v1::Integration& in) { return test_support::MustTrigger(*runs_, in); }

  v1::Run MustGetRun(const v1::Run& run) { return test_support::MustGetRun(*runs_, run); }

  void MustApply(const v1::RunEvent& event) {
    absl::Status s = orchestrator_->HandleEvent(event);
    ASSERT_TRUE(s.ok()) << s;
  }

  // Moves an import run to HELD (fetch, then an import whose removals wait).
  void MakeHeld(const v1::Run& run, const std::string& import_id) {
    v1::RunEvent fetched = Event(run, run.run_id() + ":fetch", v1::RunEvent::TYPE_FETCHED);
    fetched.set_file_id("file_src");
    MustApply(fetched);
    v1::RunEvent imported = Event(run, run.run_id() + ":import", v1::RunEvent::TYPE_IMPORTED);
    imported.mutable_import()->set_import_id(import_id);
    imported.mutable_import()->set_status(v1::IMPORT_STATUS_HELD);
    imported.mutable_import()->set_held(40);
    imported.mutable_import()->set_added(3);
    imported.mutable_import()->set_held_reason("40 removals exceed max_removals 10");
    MustApply(imported);
  }

  // Payloads on `stream`, oldest first.
  std::vector<std::string> ReadStream(const std::string& stream) {
    return test_support::ReadStream(redis_options_, stream);
  }

  std::vector<std::string> TransferJobIds() {
    std::vector<std::string> ids;
    for (const std::string& p : ReadStream(kTransferJobsStream)) {
      auto job = DecodeQueueMessage<v1::TransferJob>(p);
      EXPECT_TRUE(job.ok()) << job.status();
      if (job.ok()) ids.push_back(job->job_id());
    }
    return ids;
  }

  int64_t PendingOutbox() { return test_support::PendingOutbox(*pool_); }

  int Relay() {
    auto published = relay_->RelayOnce();
    EXPECT_TRUE(published.ok()) << published.status();
    return published.ok() ? *published : -1;
  }

  // A worker's consumer on `stream` whose handler always fails, with max_deliveries 1: each
  // job's second delivery (after the visibility timeout) goes to "<stream>:dead". Returns once
  // "<stream>:dead" holds `want` entries.
  void DeadLetterOnce(const std::string& stream, int64_t want = 1) {
    ConsumerOptions options;
    options.stream = stream;
    options.group = "worker";
    options.consumer = "failing-worker";
    options.block = absl::Milliseconds(100);
    options.visibility_timeout = absl::Milliseconds(100);
    options.max_deliveries = 1;
    StreamConsumer worker(redis_options_, options, [](const Delivery&) {
      return absl::UnavailableError("worker cannot reach its database");
    });
    const absl::Time deadline = absl::Now() + absl::Seconds(15);
    RedisConnection conn(redis_options_);
    while (absl::Now() < deadline) {
      auto polled = worker.PollOnce();
      auto len = StreamLength(conn, stream + ":dead");
      if (len.ok() && *len >= want) return;
      absl::SleepFor(absl::Milliseconds(60));
    }
    ADD_FAILURE() << "nothing reached " << stream << ":dead";
  }

  std::string conninfo_;
  std::unique_ptr<RedisServer> redis_;
  RedisOptions redis_options_;
  std::unique_ptr<PgPool> pool_;
  PassingTransfer transfer_;
  FakeRoster roster_;
  std::unique_ptr<grpc::Server> fakes_;
  std::string fakes_address_;
  std::unique_ptr<v1::TransferService::Stub> transfer_stub_;
  std::unique_ptr<v1::RosterService::Stub> roster_stub_;
  std::unique_ptr<Sealer> sealer_;
  std::unique_ptr<FakeClock> clock_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<SchedulerMetrics> metrics_;
  std::unique_ptr<IntegrationService> integrations_;
  OrchestratorOptions options_;
  std::unique_ptr<RunOrchestrator> orchestrator_;
  std::unique_ptr<RunService> runs_;
  std::unique_ptr<RedisPublisher> publisher_;
  std::unique_ptr<OutboxRelay> relay_;
};

TEST_F(RunOrchestrationTest, RetryableFailureRequeuesAfterBackoffSurvivingARestart) {
  v1::Integration in = MustCreate();
  v1::Run run = MustTrigger(in);
  ASSERT_EQ(Relay(), 1);
  const absl::Time failed_at = clock_->Now() + absl::Seconds(20);
  clock_->Set(failed_at);
  MustApply(Retryable(run, run.run_id() + ":fetch", "sftp: connection refused"));

  v1::Run waiting = MustGetRun(run);
  EXPECT_EQ(waiting.state(), v1::RUN_STATE_FETCHING);
  EXPECT_EQ(waiting.attempt(), 2);
  ASSERT_TRUE(waiting.has_retry_at());
  const absl::Time retry_at = FromProtoTime(waiting.retry_at());
  // Backoff 10 s with jitter: within [5 s, 10 s].
  EXPECT_GE(retry_at - failed_at, absl::Seconds(5));
  EXPECT_LE(retry_at - failed_at, absl::Seconds(10));
  ASSERT_GE(waiting.steps_size(), 3);
  const v1::RunStepRecord& retry_step = waiting.steps(waiting.steps_size() - 1);
  EXPECT_THAT(retry_step.detail(), HasSubstr("fetch attempt 1 of 3 failed: sftp: connection "
                                             "refused; retry 2 as job " +
                                             run.run_id() + ":fetch:2"));
  EXPECT_EQ(retry_step.job_id(), run.run_id() + ":fetch:2");
  EXPECT_EQ(retry_step.attempt(), 2);

  // Not due yet: the retry waits in the outbox.
  EXPECT_EQ(Relay(), 0);
  EXPECT_EQ(PendingOutbox(), 1);

  // The scheduler restarts: only PostgreSQL remembers the retry.
  MakeScheduler();
  clock_->Set(retry_at);
  ASSERT_EQ(Relay(), 1);
  EXPECT_THAT(TransferJobIds(), ElementsAre(run.run_id() + ":fetch", run.run_id() + ":fetch:2"));
  auto retry_job = DecodeQueueMessage<v1::TransferJob>(ReadStream(kTransferJobsStream)[1]);
  ASSERT_TRUE(retry_job.ok());
  EXPECT_EQ(retry_job->op(), v1::TransferJob::OP_FETCH);
  EXPECT_EQ(retry_job->file_glob(), "roster_*.csv");
  EXPECT_TRUE(sealer_->Open(retry_job->credentials().ciphertext(),
                            retry_job->credentials().context())
                  .ok());

  // A late event of the first attempt is stale now.
  v1::RunEvent late = Event(run, run.run_id() + ":fetch", v1::RunEvent::TYPE_FETCHED);
  late.set_file_id("file_late");
  MustApply(late);
  EXPECT_EQ(MustGetRun(run).source_file_id(), "");

  clock_->Advance(absl::Seconds(3));
  v1::RunEvent fetched = Event(run, run.run_id() + ":fetch:2", v1::RunEvent::TYPE_FETCHED);
  fetched.set_file_id("file_abc");
  MustApply(fetched);
  v1::Run importing = MustGetRun(run);
  EXPECT_EQ(importing.state(), v1::RUN_STATE_IMPORTING);
  EXPECT_EQ(importing.attempt(), 1);
  EXPECT_FALSE(importing.has_retry_at());
  EXPECT_EQ(importing.error(), "");
  ASSERT_EQ(Relay(), 1);
  // The import step fails once, transiently, and its retry succeeds.
  MustApply(Retryable(run, run.run_id() + ":import", "roster: database restarting"));
  EXPECT_EQ(MustGetRun(run).error(), "roster: database restarting");  // the last error
  clock_->Advance(options_.retry_max);
  ASSERT_EQ(Relay(), 1);
  v1::RunEvent imported = Event(run, run.run_id() + ":import:2", v1::RunEvent::TYPE_IMPORTED);
  imported.mutable_import()->set_added(2);
  MustApply(imported);

  v1::Run done = MustGetRun(run);
  EXPECT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(done.error(), "");  // the retried failure is not the outcome
  EXPECT_EQ(done.source_file_id(), "file_abc");
  EXPECT_EQ(done.import_summary().added(), 2);
  EXPECT_THAT(StepStates(done),
              ElementsAre(v1::RUN_STATE_QUEUED, v1::RUN_STATE_FETCHING, v1::RUN_STATE_FETCHING,
                          v1::RUN_STATE_IMPORTING, v1::RUN_STATE_IMPORTING,
                          v1::RUN_STATE_SUCCEEDED));
  EXPECT_EQ(done.steps(5).job_id(), run.run_id() + ":import:2");
  EXPECT_EQ(done.steps(5).attempt(), 2);
  EXPECT_EQ(metrics_->StepAttempts(v1::RUN_DIRECTION_IMPORT, "fetch", "retry"), 1u);
  EXPECT_EQ(metrics_->StepAttempts(v1::RUN_DIRECTION_IMPORT, "fetch", "ok"), 1u);
  EXPECT_EQ(metrics_->StepAttempts(v1::RUN_DIRECTION_IMPORT, "import", "retry"), 1u);
  EXPECT_EQ(metrics_->StepAttempts(v1::RUN_DIRECTION_IMPORT, "import", "ok"), 1u);
  EXPECT_EQ(metrics_->RunsTotal(v1::RUN_DIRECTION_IMPORT, v1::RUN_STATE_SUCCEEDED), 1);
}

TEST_F(RunOrchestrationTest, RetriesExhaustedFailTheRunWithTheLastReason) {
  v1::Integration in = MustCreate();
  v1::Run run = MustTrigger(in);
  ASSERT_EQ(Relay(), 1);
  v1::RunEvent fetched = Event(run, run.run_id() + ":fetch", v1::RunEvent::TYPE_FETCHED);
  fetched.set_file_id("file_1");
  MustApply(fetched);
  ASSERT_EQ(Relay(), 1);

  // The import step fails transiently three times (max 3 attempts).
  MustApply(Retryable(run, run.run_id() + ":import", "roster: database unavailable (1)"));
  clock_->Advance(options_.retry_max);
  ASSERT_EQ(Relay(), 1);
  MustApply(Retryable(run, run.run_id() + ":import:2", "roster: database unavailable (2)"));
  v1::Run second = MustGetRun(run);
  EXPECT_EQ(second.attempt(), 3);
  // Backoff doubles to 20 s but is capped at retry_max 15 s: within [7.5 s, 15 s].
  EXPECT_LE(FromProtoTime(second.retry_at()) - clock_->Now(), options_.retry_max);
  EXPECT_GE(FromProtoTime(second.retry_at()) - clock_->Now(), options_.retry_max / 2);
  clock_->Advance(options_.retry_max);
  ASSERT_EQ(Relay(), 1);
  std::vector<std::string> roster_jobs;
  for (const std::string& p : ReadStream(kRosterJobsStream)) {
    auto job = DecodeQueueMessage<v1::RosterJob>(p);
    ASSERT_TRUE(job.ok());
    EXPECT_EQ(job->file_id(), "file_1");  // the same import, again
    roster_jobs.push_back(job->job_id());
  }
  EXPECT_THAT(roster_jobs, ElementsAre(run.run_id() + ":import", run.run_id() + ":import:2",
                                       run.run_id() + ":import:3"));
  MustApply(Retryable(run, run.run_id() + ":import:3", "roster: database unavailable (3)"));

  v1::Run failed = MustGetRun(run);
  EXPECT_EQ(failed.state(), v1::RUN_STATE_FAILED);
  EXPECT_EQ(failed.error(), "import failed after 3 attempts: roster: database unavailable (3)");
  EXPECT_FALSE(failed.has_retry_at());
  EXPECT_EQ(PendingOutbox(), 0);
  EXPECT_EQ(metrics_->RunFailures("retries_exhausted"), 1);
  EXPECT_EQ(metrics_->StepAttempts(v1::RUN_DIRECTION_IMPORT, "import", "retry"), 2u);
  EXPECT_EQ(metrics_->StepAttempts(v1::RUN_DIRECTION_IMPORT, "import", "failed"), 1u);

  // A failure that is not retryable fails at once.
  v1::Run other = MustTrigger(in);
  v1::RunEvent fatal = Event(other, other.run_id() + ":fetch", v1::RunEvent::TYPE_FAILED);
  fatal.set_error("sftp: host key mismatch");
  MustApply(fatal);
  EXPECT_EQ(MustGetRun(other).state(), v1::RUN_STATE_FAILED);
  EXPECT_EQ(MustGetRun(other).error(), "sftp: host key mismatch");
  EXPECT_EQ(metrics_->RunFailures("worker"), 1);
}

TEST_F(RunOrchestrationTest, DeadLetteredJobFailsItsRun) {
  v1::Integration in = MustCreate();
  v1::Run fetch_run = MustTrigger(in);
  v1::Run import_run = MustTrigger(in);
  ASSERT_EQ(Relay(), 2);
  v1::RunEvent fetched =
      Event(import_run, import_run.run_id() + ":fetch", v1::RunEvent::TYPE_FETCHED);
  fetched.set_file_id("file_1");
  MustApply(fetched);
  ASSERT_EQ(Relay(), 1);

  DeadLetterOnce(kTransferJobsStream);  // fetch_run's fetch job (the oldest entry)
  DeadLetterOnce(kRosterJobsStream);    // import_run's import job

  DeadLetterConsumer dead_transfer(orchestrator_.get(), redis_options_, kTransferJobsStream,
                                   "test-scheduler");
  DeadLetterConsumer dead_roster(orchestrator_.get(), redis_options_, kRosterJobsStream,
                                 "test-scheduler");
  auto handled = dead_transfer.PollOnce();
  ASSERT_TRUE(handled.ok()) << handled.status();
  EXPECT_TRUE(*handled);
  handled = dead_roster.PollOnce();
  ASSERT_TRUE(handled.ok()) << handled.status();
  EXPECT_TRUE(*handled);

  v1::Run f = MustGetRun(fetch_run);
  EXPECT_EQ(f.state(), v1::RUN_STATE_FAILED);
  EXPECT_EQ(f.error(), absl::StrCat("job ", fetch_run.run_id(), ":fetch dead-lettered from ",
                                    kTransferJobsStream,
                                    ": not acked after 1 deliveries (max_deliveries 1)"));
  v1::Run i = MustGetRun(import_run);
  EXPECT_EQ(i.state(), v1::RUN_STATE_FAILED);
  EXPECT_THAT(i.error(), HasSubstr(absl::StrCat("job ", import_run.run_id(),
                                                ":import dead-lettered from ",
                                                kRosterJobsStream)));
  EXPECT_EQ(metrics_->RunFailures("dead_letter"), 2);

  // A late event for the dead job is ignored; so is a dead letter of a job the run has left.
  v1::RunEvent late = Event(fetch_run, fetch_run.run_id() + ":fetch", v1::RunEvent::TYPE_FETCHED);
  MustApply(late);
  EXPECT_EQ(MustGetRun(fetch_run).state(), v1::RUN_STATE_FAILED);
  v1::Run moved_on = MustTrigger(in);
  v1::RunEvent moved = Event(moved_on, moved_on.run_id() + ":fetch", v1::RunEvent::TYPE_FETCHED);
  moved.set_file_id("file_2");
  MustApply(moved);
  v1::TransferJob old_job;
  old_job.set_job_id(moved_on.run_id() + ":fetch");
  old_job.set_tenant_id("acme");
  old_job.set_run_id(moved_on.run_id());
  ASSERT_TRUE(orchestrator_
                  ->HandleDeadLetter(kTransferJobsStream, EncodeQueueMessage(old_job),
                                     "not acked after 5 deliveries (max_deliveries 5)")
                  .ok());
  EXPECT_EQ(MustGetRun(moved_on).state(), v1::RUN_STATE_IMPORTING);
  // Junk on a dead stream is logged and dropped.
  EXPECT_TRUE(orchestrator_->HandleDeadLetter(kRosterJobsStream, "\xff\xff junk", "x").ok());
}

TEST_F(RunOrchestrationTest, RunTimeoutFailsTheRunAndLateEventsAreIgnored) {
  v1::Integration in = MustCreate();
  v1::Run slow = MustTrigger(in);  // its fetch job is never published (Redis never asked)
  v1::Run held = MustTrigger(in);
  MakeHeld(held, "imp_held");
  EXPECT_EQ(PendingOutbox(), 3);  // slow's fetch; held's fetch and import

  clock_->Advance(absl::Minutes(59));
  auto expired = orchestrator_->ExpireOnce();
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(*expired, 0);
  clock_->Advance(absl::Minutes(2));
  expired = orchestrator_->ExpireOnce();
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(*expired, 1);  // the HELD run waits for a person, not a worker

  v1::Run timed_out = MustGetRun(slow);
  EXPECT_EQ(timed_out.state(), v1::RUN_STATE_FAILED);
  EXPECT_EQ(timed_out.error(), "timed out after 1h in state FETCHING");
  EXPECT_EQ(MustGetRun(held).state(), v1::RUN_STATE_HELD);
  EXPECT_EQ(PendingOutbox(), 2);  // slow's unpublished fetch job was dropped
  EXPECT_EQ(metrics_->RunFailures("timeout"), 1);

  v1::RunEvent late = Event(slow, slow.run_id() + ":fetch", v1::RunEvent::TYPE_FETCHED);
  late.set_file_id("file_late");
  MustApply(late);
  v1::Run still = MustGetRun(slow);
  EXPECT_EQ(still.state(), v1::RUN_STATE_FAILED);
  EXPECT_EQ(still.source_file_id(), "");
  EXPECT_EQ(*orchestrator_->ExpireOnce(), 0);  // nothing twice
}

TEST_F(RunOrchestrationTest, CancelDropsTheUnpublishedJobAndIgnoresLaterEvents) {
  v1::Integration in = MustCreate();
  v1::Run run = MustTrigger(in);
  EXPECT_EQ(PendingOutbox(), 1);

  v1::CancelRunRequest cancel;
  cancel.set_tenant_id("acme");
  cancel.set_run_id(run.run_id());
  cancel.set_requested_by("alice");
  cancel.set_reason("wrong file dropped by HR");
  auto cancelled = runs_->Cancel(cancel);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), v1::RUN_STATE_CANCELLED);
  EXPECT_EQ(cancelled->cancelled_by(), "alice");
  EXPECT_EQ(cancelled->cancel_reason(), "wrong file dropped by HR");
  EXPECT_TRUE(cancelled->has_finished_at());
  EXPECT_EQ(PendingOutbox(), 0);
  EXPECT_EQ(Relay(), 0);
  EXPECT_TRUE(ReadStream(kTransferJobsStream).empty());

  // A worker event after the cancel changes nothing.
  v1::RunEvent fetched = Event(run, run.run_id() + ":fetch", v1::RunEvent::TYPE_FETCHED);
  fetched.set_file_id("file_1");
  MustApply(fetched);
  v1::Run after = MustGetRun(run);
  EXPECT_EQ(after.state(), v1::RUN_STATE_CANCELLED);
  EXPECT_EQ(after.source_file_id(), "");
  EXPECT_EQ(PendingOutbox(), 0);
  ASSERT_GE(after.steps_size(), 1);
  EXPECT_EQ(after.steps(after.steps_size() - 1).detail(),
            "cancelled in state FETCHING by alice: wrong file dropped by HR; its "
            "unpublished job was dropped");

  // Idempotent: the same answer, one step, one count.
  auto again = runs_->Cancel(cancel);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->state(), v1::RUN_STATE_CANCELLED);
  EXPECT_EQ(MustGetRun(run).steps_size(), after.steps_size());
  EXPECT_EQ(metrics_->RunsTotal(v1::RUN_DIRECTION_IMPORT, v1::RUN_STATE_CANCELLED), 1);

  // A finished run cannot be cancelled; another tenant's run is not found.
  v1::Run done = MustTrigger(in);
  ASSERT_EQ(Relay(), 1);
  MustApply(Event(done, done.run_id() + ":fetch", v1::RunEvent::TYPE_NO_NEW_FILE));
  cancel.set_run_id(done.run_id());
  auto refused = runs_->Cancel(cancel);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("already finished SKIPPED"));
  cancel.set_tenant_id("globex");
  cancel.set_run_id(run.run_id());
  EXPECT_EQ(runs_->Cancel(cancel).status().code(), absl::StatusCode::kNotFound);

  // A run waiting for its retry: the retry job is dropped too.
  v1::Run retrying = MustTrigger(in);
  ASSERT_EQ(Relay(), 1);
  MustApply(Retryable(retrying, retrying.run_id() + ":fetch", "timeout"));
  EXPECT_EQ(PendingOutbox(), 1);
  cancel.set_tenant_id("acme");
  cancel.set_run_id(retrying.run_id());
  ASSERT_TRUE(runs_->Cancel(cancel).ok());
  EXPECT_EQ(PendingOutbox(), 0);
  clock_->Advance(absl::Minutes(5));
  EXPECT_EQ(Relay(), 0);
}

TEST_F(RunOrchestrationTest, ApproveHeldRunPassesThroughToTheRoster) {
  v1::Integration in = MustCreate();
  v1::Run run = MustTrigger(in);
  v1::ApproveRunRequest approve;
  approve.set_tenant_id("acme");
  approve.set_run_id(run.run_id());
  approve.set_approved_by("bob");
  // Not HELD yet.
  auto early = runs_->Approve(approve);
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(early.status().message()), HasSubstr("only a HELD run"));

  MakeHeld(run, "imp_42");
  ASSERT_EQ(MustGetRun(run).state(), v1::RUN_STATE_HELD);

  // The roster refuses: the run stays HELD, the error names the roster and the import.
  roster_.fail_with = grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                   "import \"imp_42\": integration has imported a newer file");
  auto refused = runs_->Approve(approve);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("roster service: ApproveDeletions of import imp_42"));
  EXPECT_EQ(MustGetRun(run).state(), v1::RUN_STATE_HELD);

  roster_.fail_with = grpc::Status::OK;
  auto approved = runs_->Approve(approve);
  ASSERT_TRUE(approved.ok()) << approved.status();
  EXPECT_EQ(approved->state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(approved->approved_by(), "bob");
  EXPECT_TRUE(approved->has_approved_at());
  EXPECT_EQ(approved->import_summary().status(), v1::IMPORT_STATUS_APPLIED);
  EXPECT_EQ(approved->import_summary().deleted(), 40);
  ASSERT_GT(approved->steps_size(), 0);
  EXPECT_THAT(approved->steps(approved->steps_size() - 1).detail(),
              HasSubstr("held removals of import imp_42 approved by bob: 40 deleted"));
  {
    absl::MutexLock lock(&roster_.mu);
    ASSERT_EQ(roster_.requests.size(), 2u);
    EXPECT_EQ(roster_.requests[1].tenant_id(), "acme");
    EXPECT_EQ(roster_.requests[1].import_id(), "imp_42");
  }

  // Idempotent: approving again returns the run without calling the roster.
  auto again = runs_->Approve(approve);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->state(), v1::RUN_STATE_SUCCEEDED);
  {
    absl::MutexLock lock(&roster_.mu);
    EXPECT_EQ(roster_.requests.size(), 2u);
  }
  // Another tenant's run is not found.
  approve.set_tenant_id("globex");
  EXPECT_EQ(runs_->Approve(approve).status().code(), absl::StatusCode::kNotFound);

  // A HELD run can be cancelled instead (the removals are then never approved here).
  v1::Run second = MustTrigger(in);
  MakeHeld(second, "imp_43");
  v1::CancelRunRequest cancel;
  cancel.set_tenant_id("acme");
  cancel.set_run_id(second.run_id());
  cancel.set_requested_by("carol");
  auto cancelled = runs_->Cancel(cancel);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), v1::RUN_STATE_CANCELLED);
  approve.set_tenant_id("acme");
  approve.set_run_id(second.run_id());
  EXPECT_EQ(runs_->Approve(approve).status().code(), absl::StatusCode::kFailedPrecondition);
}

// The approve/cancel race: while ApproveRun's roster call is under way the run is claimed;
// CancelRun and a second ApproveRun are refused until the roster answers.
TEST_F(RunOrchestrationTest, CancelDuringApprovalIsRefusedUntilTheRosterAnswers) {
  v1::Integration in = MustCreate();
  v1::Run run = MustTrigger(in);
  MakeHeld(run, "imp_50");
  {
    absl::MutexLock lock(&roster_.mu);
    roster_.block = true;
  }
  v1::ApproveRunRequest approve;
  approve.set_tenant_id("acme");
  approve.set_run_id(run.run_id());
  approve.set_approved_by("bob");
  absl::StatusOr<v1::Run> approved = absl::UnknownError("not run");
  ApproverThread approver(&roster_, [&] { approved = runs_->Approve(approve); });
  {
    absl::MutexLock lock(&roster_.mu);
    ASSERT_TRUE(roster_.mu.AwaitWithTimeout(absl::Condition(&roster_.entered), absl::Seconds(30)))
        << "the roster never got the ApproveDeletions call";
  }

  v1::CancelRunRequest cancel;
  cancel.set_tenant_id("acme");
  cancel.set_run_id(run.run_id());
  cancel.set_requested_by("carol");
  auto refused = runs_->Cancel(cancel);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("an approval of this run is in progress since "
                        "2026-03-01T01:00:00+00:00 by bob"));
  auto second = runs_->Approve(approve);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("in progress since"));
  v1::Run during = MustGetRun(run);
  EXPECT_EQ(during.state(), v1::RUN_STATE_HELD);
  EXPECT_EQ(during.cancelled_by(), "");

  approver.Join();
  ASSERT_TRUE(approved.ok()) << approved.status();
  EXPECT_EQ(approved->state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(approved->approved_by(), "bob");
  {
    absl::MutexLock lock(&roster_.mu);
    EXPECT_EQ(roster_.requests.size(), 1u);  // the refused second approve never reached it
  }
  auto late_cancel = runs_->Cancel(cancel);
  EXPECT_EQ(late_cancel.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(late_cancel.status().message()), HasSubstr("already finished SUCCEEDED"));
  EXPECT_EQ(MustGetRun(run).state(), v1::RUN_STATE_SUCCEEDED);
}

// A roster refusal clears the claim (HELD, cancellable at once); a lost answer keeps it until
// it expires (the roster timeout, 10 s here), after which a cancel or a new approve proceeds.
TEST_F(RunOrchestrationTest, ApprovalClaimIsReleasedOnRefusalAndExpiresWhenTheAnswerIsLost) {
  v1::Integration in = MustCreate();
  v1::Run refused_run = MustTrigger(in);
  MakeHeld(refused_run, "imp_51");
  v1::ApproveRunRequest approve;
  approve.set_tenant_id("acme");
  approve.set_run_id(refused_run.run_id());
  approve.set_approved_by("bob");
  roster_.fail_with = grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                   "import \"imp_51\": integration has imported a newer file");
  EXPECT_EQ(runs_->Approve(approve).status().code(), absl::StatusCode::kFailedPrecondition);
  v1::CancelRunRequest cancel;
  cancel.set_tenant_id("acme");
  cancel.set_run_id(refused_run.run_id());
  cancel.set_requested_by("carol");
  auto cancelled = runs_->Cancel(cancel);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), v1::RUN_STATE_CANCELLED);
  ASSERT_GT(cancelled->steps_size(), 0);  // the response carries the steps
  EXPECT_THAT(cancelled->steps(cancelled->steps_size() - 1).detail(),
              HasSubstr("cancelled in state HELD by carol; "));
  EXPECT_THAT(cancelled->steps(cancelled->steps_size() - 1).detail(),
              HasSubstr("; the held removals were not applied; they stay on import imp_51 and "
                        "are applied only if someone approves that import (rosterctl imports "
                        "approve imp_51)"));

  // The roster's answer is lost (UNAVAILABLE): the removals may be applied, so the claim stays.
  roster_.fail_with = grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection reset");
  v1::Run lost = MustTrigger(in);
  MakeHeld(lost, "imp_52");
  approve.set_run_id(lost.run_id());
  auto unknown = runs_->Approve(approve);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("the outcome is unknown"));
  cancel.set_run_id(lost.run_id());
  EXPECT_THAT(std::string(runs_->Cancel(cancel).status().message()),
              HasSubstr("an approval of this run is in progress"));
  EXPECT_EQ(runs_->Approve(approve).status().code(), absl::StatusCode::kFailedPrecondition);
  // The claim is older than the roster timeout (10 s) plus its one-minute grace.
  clock_->Advance(absl::Seconds(71));
  auto after_expiry = runs_->Cancel(cancel);
  ASSERT_TRUE(after_expiry.ok()) << after_expiry.status();
  EXPECT_EQ(after_expiry->state(), v1::RUN_STATE_CANCELLED);
  EXPECT_THAT(after_expiry->steps(after_expiry->steps_size() - 1).detail(),
              HasSubstr("an approval claimed at 2026-03-01T01:00:00+00:00 by bob never "
                        "completed (claim expired)"));

  // An expired claim can also be taken over by a new approve (the roster's ApproveDeletions is
  // idempotent).
  v1::Run retaken = MustTrigger(in);
  MakeHeld(retaken, "imp_53");
  approve.set_run_id(retaken.run_id());
  EXPECT_EQ(runs_->Approve(approve).status().code(), absl::StatusCode::kUnavailable);
  clock_->Advance(absl::Seconds(71));
  roster_.fail_with = grpc::Status::OK;
  approve.set_approved_by("dave");
  auto approved = runs_->Approve(approve);
  ASSERT_TRUE(approved.ok()) << approved.status();
  EXPECT_EQ(approved->state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(approved->approved_by(), "dave");
}

// An event for the job still out when the run was cancelled (or timed out) does not change
// the state: it is recorded once as a step, logged and counted.
TEST_F(RunOrchestrationTest, LateEventAfterCancelOrTimeoutIsRecordedOnce) {
  v1::Integration in = MustCreate();
  v1::Run run = MustTrigger(in);
  ASSERT_EQ(Relay(), 1);
  v1::RunEvent fetched = Event(run, run.run_id() + ":fetch", v1::RunEvent::TYPE_FETCHED);
  fetched.set_file_id("file_src");
  MustApply(fetched);
  ASSERT_EQ(Relay(), 1);  // the import job reached the roster's stream: a worker may take it
  v1::CancelRunRequest cancel;
  cancel.set_tenant_id("acme");
  cancel.set_run_id(run.run_id());
  cancel.set_requested_by("alice");
  ASSERT_TRUE(runs_->Cancel(cancel).ok());
  const int steps_before = MustGetRun(run).steps_size();

  v1::RunEvent imported = Event(run, run.run_id() + ":import", v1::RunEvent::TYPE_IMPORTED);
  imported.mutable_import()->set_import_id("imp_x");
  imported.mutable_import()->set_status(v1::IMPORT_STATUS_APPLIED);
  imported.mutable_import()->set_added(3);
  imported.mutable_import()->set_deleted(2);
  MustApply(imported);
  v1::Run after = MustGetRun(run);
  EXPECT_EQ(after.state(), v1::RUN_STATE_CANCELLED);
  EXPECT_FALSE(after.has_import_summary());
  ASSERT_EQ(after.steps_size(), steps_before + 1);
  const v1::RunStepRecord& late = after.steps(after.steps_size() - 1);
  EXPECT_EQ(late.state(), v1::RUN_STATE_CANCELLED);
  EXPECT_EQ(late.job_id(), run.run_id() + ":import");
  EXPECT_EQ(late.detail(),
            "import imp_x applied after the run was cancelled: 3 added, 0 updated, 2 deleted, "
            "0 deactivated, 0 unchanged, 0 rejected");
  EXPECT_EQ(metrics_->LateEvents("imported"), 1);

  // Delivered again: one step, one count. An event of an older job stays ignored.
  MustApply(imported);
  MustApply(fetched);
  EXPECT_EQ(MustGetRun(run).steps_size(), steps_before + 1);
  EXPECT_EQ(metrics_->LateEvents("imported"), 1);
  EXPECT_EQ(metrics_->LateEvents("fetched"), 0);

  // Timed out while importing; the import then comes back HELD.
  v1::Run slow = MustTrigger(in);
  ASSERT_EQ(Relay(), 1);
  v1::RunEvent slow_fetched = Event(slow, slow.run_id() + ":fetch", v1::RunEvent::TYPE_FETCHED);
  slow_fetched.set_file_id("file_slow");
  MustApply(slow_fetched);
  ASSERT_EQ(Relay(), 1);
  clock_->Advance(absl::Minutes(61));
  ASSERT_EQ(*orchestrator_->ExpireOnce(), 1);
  v1::RunEvent held = Event(slow, slow.run_id() + ":import", v1::RunEvent::TYPE_IMPORTED);
  held.mutable_import()->set_import_id("imp_y");
  held.mutable_import()->set_status(v1::IMPORT_STATUS_HELD);
  held.mutable_import()->set_held(40);
  MustApply(held);
  v1::Run failed = MustGetRun(slow);
  EXPECT_EQ(failed.state(), v1::RUN_STATE_FAILED);
  EXPECT_EQ(failed.error(), "timed out after 1h in state IMPORTING");
  EXPECT_THAT(failed.steps(failed.steps_size() - 1).detail(),
              HasSubstr("import imp_y is HELD after the run ended (after the run failed)"));
  EXPECT_THAT(failed.steps(failed.steps_size() - 1).detail(),
              HasSubstr("40 removals held; approve it with rosterctl imports approve imp_y"));
  EXPECT_EQ(metrics_->LateEvents("imported"), 2);
}

// Redis goes away after the state change commits and before its job is published, twice; the
// run still completes once Redis is back.
TEST_F(RunOrchestrationTest, RedisStoppedBetweenStateChangeAndPublishThenTheRunCompletes) {
  v1::Integration in = MustCreate();
  redis_->Stop();
  v1::Run run = MustTrigger(in);  // PostgreSQL only
  EXPECT_EQ(run.state(), v1::RUN_STATE_FETCHING);
  EXPECT_FALSE(relay_->RelayOnce().ok());
  relay_->Start();  // retries with backoff in the background
  ASSERT_TRUE(redis_->Restart().ok());

  ConsumerOptions events_options;
  events_options.stream = kEventsStream;
  events_options.group = "scheduler";
  events_options.consumer = "test-scheduler";
  events_options.block = absl::Milliseconds(100);
  auto wait_for = [&](auto done, const std::string& what) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (!done() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(50));
    ASSERT_TRUE(done()) << "timed out waiting for " << what;
  };
  wait_for([&] { return ReadStream(kTransferJobsStream).size() == 1; }, "the fetch job");

  // The worker reports FETCHED; the scheduler's consumer applies it (state change, import job
  // in the outbox) and Redis stops again before the relay publishes the import job.
  RedisPublisher worker(redis_options_);
  v1::RunEvent fetched = Event(run, run.run_id() + ":fetch", v1::RunEvent::TYPE_FETCHED);
  fetched.set_file_id("file_1");
  ASSERT_TRUE(worker.Publish(kEventsStream, EncodeQueueMessage(fetched)).ok());
  relay_->Stop();
  {
    StreamConsumer consumer(redis_options_, events_options,
                            [&](const Delivery& d) { return orchestrator_->HandleDelivery(d); });
    auto handled = consumer.PollOnce();
    ASSERT_TRUE(handled.ok()) << handled.status();
    ASSERT_TRUE(*handled);
  }
  EXPECT_EQ(MustGetRun(run).state(), v1::RUN_STATE_IMPORTING);
  redis_->Stop();
  EXPECT_EQ(PendingOutbox(), 1);
  relay_->Start();
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(PendingOutbox(), 1);  // nowhere to publish
  ASSERT_TRUE(redis_->Restart().ok());
  wait_for([&] { return PendingOutbox() == 0; }, "the import job to be published");
  std::vector<std::string> roster_jobs = ReadStream(kRosterJobsStream);
  ASSERT_EQ(roster_jobs.size(), 1u);
  EXPECT_EQ(DecodeQueueMessage<v1::RosterJob>(roster_jobs[0])->job_id(), run.run_id() + ":import");

  v1::RunEvent imported = Event(run, run.run_id() + ":import", v1::RunEvent::TYPE_IMPORTED);
  imported.mutable_import()->set_added(5);
  RedisPublisher worker2(redis_options_);
  ASSERT_TRUE(worker2.Publish(kEventsStream, EncodeQueueMessage(imported)).ok());
  StreamConsumer consumer(redis_options_, events_options,
                          [&](const Delivery& d) { return orchestrator_->HandleDelivery(d); });
  wait_for(
      [&] {
        (void)consumer.PollOnce();
        return MustGetRun(run).state() == v1::RUN_STATE_SUCCEEDED;
      },
      "the run to succeed");
  relay_->Stop();
  v1::Run done = MustGetRun(run);
  EXPECT_EQ(done.import_summary().added(), 5);
  EXPECT_THAT(StepStates(done), ElementsAre(v1::RUN_STATE_QUEUED, v1::RUN_STATE_FETCHING,
                                            v1::RUN_STATE_IMPORTING, v1::RUN_STATE_SUCCEEDED));
}

// The binary: --roster_address reaches ApproveRun (off the callback thread), CancelRun over
// gRPC, the dead-letter consumers and the new metrics on /metrics.
TEST_F(RunOrchestrationTest, BinaryApprovesCancelsAndFailsDeadLetteredJobs) {
  std::string dir = testing::MakeTempDir("rs-orch-bin");
  testing::Subprocess::Options options;
  options.argv = {RS_BINARY_DIR "/services/scheduler/rostersync-scheduler",
                  "--redis=" + redis_->address(),
                  "--postgres=" + conninfo_,
                  "--transfer_address=" + fakes_address_,
                  "--roster_address=" + fakes_address_,
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
  auto run_stub = v1::RunService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", grpc_port), grpc::InsecureChannelCredentials()));
  auto call = [](auto&& stub_call) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub_call(&context);
  };
  auto get = [&](const v1::Run& run) {
    v1::GetRunRequest req;
    req.set_tenant_id(run.tenant_id());
    req.set_run_id(run.run_id());
    v1::Run got;
    EXPECT_TRUE(call([&](grpc::ClientContext* c) { return run_stub->GetRun(c, req, &got); }).ok());
    return got;
  };
  auto wait_state = [&](const v1::Run& run, v1::RunState state) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    v1::Run got = get(run);
    while (got.state() != state && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(100));
      got = get(run);
    }
    return got;
  };

  v1::Integration in = MustCreate();
  auto trigger = [&] {
    v1::TriggerRunRequest req;
    req.set_tenant_id("acme");
    req.set_integration_id(in.integration_id());
    v1::Run run;
    EXPECT_TRUE(
        call([&](grpc::ClientContext* c) { return run_stub->TriggerRun(c, req, &run); }).ok());
    return run;
  };

  // HELD through worker events, then ApproveRun through the binary.
  v1::Run held = trigger();
  v1::RunEvent fetched = Event(held, held.run_id() + ":fetch", v1::RunEvent::TYPE_FETCHED);
  fetched.set_file_id("file_1");
  ASSERT_TRUE(publisher_->Publish(kEventsStream, EncodeQueueMessage(fetched)).ok());
  v1::RunEvent imported = Event(held, held.run_id() + ":import", v1::RunEvent::TYPE_IMPORTED);
  imported.mutable_import()->set_import_id("imp_bin");
  imported.mutable_import()->set_status(v1::IMPORT_STATUS_HELD);
  ASSERT_TRUE(publisher_->Publish(kEventsStream, EncodeQueueMessage(imported)).ok());
  ASSERT_EQ(wait_state(held, v1::RUN_STATE_HELD).state(), v1::RUN_STATE_HELD);
  v1::ApproveRunRequest approve;
  approve.set_tenant_id("acme");
  approve.set_run_id(held.run_id());
  approve.set_approved_by("bob");
  v1::Run approved;
  grpc::Status status =
      call([&](grpc::ClientContext* c) { return run_stub->ApproveRun(c, approve, &approved); });
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(approved.state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(approved.import_summary().deleted(), 40);

  // CancelRun over gRPC; a second cancel of a finished run is FAILED_PRECONDITION.
  v1::Run to_cancel = trigger();
  v1::CancelRunRequest cancel;
  cancel.set_tenant_id("acme");
  cancel.set_run_id(to_cancel.run_id());
  cancel.set_requested_by("alice");
  v1::Run cancelled;
  status = call([&](grpc::ClientContext* c) { return run_stub->CancelRun(c, cancel, &cancelled); });
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(cancelled.state(), v1::RUN_STATE_CANCELLED);
  cancel.set_run_id(held.run_id());
  status = call([&](grpc::ClientContext* c) { return run_stub->CancelRun(c, cancel, &cancelled); });
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  // A fetch job that reaches the dead-letter stream fails its run.
  v1::Run doomed = trigger();
  auto published = [&] {
    std::vector<std::string> ids = TransferJobIds();
    return std::find(ids.begin(), ids.end(), doomed.run_id() + ":fetch") != ids.end();
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(15);
  while (!published() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(50));
  ASSERT_TRUE(published());
  // Every job on the stream is dead-lettered; only the doomed run is still waiting for one.
  DeadLetterOnce(kTransferJobsStream, static_cast<int64_t>(TransferJobIds().size()));
  v1::Run dead = wait_state(doomed, v1::RUN_STATE_FAILED);
  EXPECT_EQ(dead.state(), v1::RUN_STATE_FAILED);
  EXPECT_THAT(dead.error(), HasSubstr("dead-lettered"));

  auto metrics = testing::HttpGet(metrics_port, "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(testing::MetricValue(
                *metrics, "rostersync_runs_total{direction=\"import\",outcome=\"cancelled\"}"),
            1);
  EXPECT_EQ(testing::MetricValue(*metrics, "rostersync_run_failures_total{cause=\"dead_letter\"}"),
            1);
  EXPECT_THAT(*metrics, HasSubstr("rostersync_run_step_duration_seconds_bucket"));
  EXPECT_THAT(*metrics, HasSubstr("rostersync_runs_started_total"));

  int exit_status = proc->Stop(absl::Seconds(20));
  EXPECT_TRUE(WIFEXITED(exit_status)) << exit_status;
  EXPECT_EQ(WEXITSTATUS(exit_status), 0);
  EXPECT_THAT(testing::ReadFileOrDie(dir + "/scheduler.log"), Not(HasSubstr(kPassword)));
  testing::RemoveTree(dir);
}

}  // namespace
}  // namespace rostersync::scheduler
