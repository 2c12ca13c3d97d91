// End to end, the failures an SRE meets at night: a worker SIGKILLed in the middle of an import,
// Redis down between a run's state change and the publish of its job, and two scheduler
// replicas racing for the same slots. The four service binaries run as separate processes with
// a real redis-server, PostgreSQL and OpenSSH sshd on loopback (tests/fixtures/service_stack.h).
#include <signal.h>
#include <sys/wait.h>

#include <iostream>
#include <map>
#include <set>

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/redis_queue.h"
#include "common/server.h"
#include "common/time_util.h"
#include "rostersync/v1/roster.grpc.pb.h"
#include "rostersync/v1/scheduler.grpc.pb.h"
#include "tests/fixtures/http_get.h"
#include "tests/fixtures/service_stack.h"
#include "tests/fixtures/subprocess.h"

namespace rostersync {
namespace {

using testing::ServiceProcess;
using testing::ServiceStack;

constexpr char kTenant[] = "resilience";
constexpr char kHeader[] = "Employee ID,First Name,Last Name,Work Email,Language,Status\r\n";

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return ctx;
}

bool IsFinished(v1::RunState state) {
  return state == v1::RUN_STATE_SUCCEEDED || state == v1::RUN_STATE_FAILED ||
         state == v1::RUN_STATE_SKIPPED || state == v1::RUN_STATE_HELD;
}

// A roster of `rows` people, E000000.. in order.
std::string RosterFile(int rows) {
  std::string csv = kHeader;
  csv.reserve(rows * 58);
  for (int i = 0; i < rows; ++i) {
    absl::StrAppend(&csv, "E", absl::Dec(i, absl::kZeroPad6), ",First", i, ",Last", i, ",p", i,
                    "@example.test,en,Active\r\n");
  }
  return csv;
}

class ResilienceE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("rs-resilience");
    auto stack = ServiceStack::Start({RS_BACKUP_BIN, RS_ROSTER_BIN, RS_SFTP_BIN,
                                      RS_SCHEDULER_BIN},
                                     dir_);
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = std::move(*stack);
    ASSERT_TRUE(stack_->sshd().MakeHomeDir("hr-drop").ok());
  }

  void TearDown() override {
    // Graceful stop by pid, newest first: every service must exit 0 on SIGTERM.
    for (auto it = services_.rbegin(); it != services_.rend(); ++it) {
      if (it->proc == nullptr || !it->proc->Running()) continue;
      int status = it->proc->Stop(absl::Seconds(20));
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << it->name << " did not stop cleanly on SIGTERM; log in " << it->log_path;
    }
    services_.clear();
    stack_.reset();
    if (!HasFailure()) testing::RemoveTree(dir_);
  }

  // Keeps a started service (stopped in TearDown); a service that did not start is a fatal
  // failure of the calling function.
  void Keep(absl::StatusOr<ServiceProcess> service, std::string* address) {
    ASSERT_TRUE(service.ok()) << service.status();
    services_.push_back(std::move(*service));
    ASSERT_TRUE(ServiceStack::WaitUntilServing(services_.back()).ok())
        << services_.back().name << " is not serving; log in " << services_.back().log_path;
    *address = services_.back().address();
  }

  // backup, roster, sftp-transfer and `schedulers` scheduler replicas.
  void StartAll(int schedulers = 1, const std::vector<std::string>& scheduler_flags = {}) {
    ASSERT_NO_FATAL_FAILURE(Keep(stack_->StartBackup(), &backup_address_));
    ASSERT_NO_FATAL_FAILURE(
        Keep(stack_->StartRoster(backup_address_, {}, "roster-1"), &roster_address_));
    ASSERT_NO_FATAL_FAILURE(Keep(stack_->StartSftp(backup_address_), &transfer_address_));
    for (int i = 0; i < schedulers; ++i) {
      std::string address;
      ASSERT_NO_FATAL_FAILURE(Keep(stack_->StartScheduler(transfer_address_, roster_address_,
                                                          scheduler_flags,
                                                          absl::StrCat("scheduler-", i)),
                                   &address));
      scheduler_addresses_.push_back(address);
    }
    integrations_ = v1::IntegrationService::NewStub(MakeChannel(scheduler_addresses_[0]));
    runs_ = v1::RunService::NewStub(MakeChannel(scheduler_addresses_[0]));
    roster_ = v1::RosterService::NewStub(MakeChannel(roster_address_));
  }

  ServiceProcess* Find(const std::string& name) {
    for (auto& s : services_) {
      if (s.name == name) return &s;
    }
    return nullptr;
  }

  // `timeout_ms` > 0 sets the endpoint's connect and operation timeouts.
  v1::Integration CreateImportIntegration(const std::string& name, const std::string& schedule,
                                          int timeout_ms = 0) {
    v1::CreateIntegrationRequest req;
    v1::Integration* in = req.mutable_integration();
    in->set_tenant_id(kTenant);
    in->set_name(name);
    in->set_direction(v1::RUN_DIRECTION_IMPORT);
    *in->mutable_endpoint() = stack_->SftpEndpoint();
    if (timeout_ms > 0) {
      in->mutable_endpoint()->set_connect_timeout_ms(timeout_ms);
      in->mutable_endpoint()->set_operation_timeout_ms(timeout_ms);
    }
    in->set_schedule(schedule);
    in->set_time_zone("Europe/Berlin");
    in->mutable_import_settings()->set_remote_folder("hr-drop");
    in->mutable_import_settings()->set_file_glob("roster_*.csv");
    auto& map = *in->mutable_import_settings()->mutable_header_map();
    map["Employee ID"] = "person_id";
    map["First Name"] = "first_name";
    map["Last Name"] = "last_name";
    map["Work Email"] = "email";
    map["Language"] = "language";
    map["Status"] = "active";
    in->set_active(true);
    req.mutable_credentials()->set_password(stack_->sshd().password());
    v1::Integration out;
    grpc::Status status = integrations_->CreateIntegration(Ctx().get(), req, &out);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return out;
  }

  v1::Run Trigger(const std::string& integration_id) {
    v1::TriggerRunRequest trigger;
    trigger.set_tenant_id(kTenant);
    trigger.set_integration_id(integration_id);
    v1::Run run;
    grpc::Status status = runs_->TriggerRun(Ctx().get(), trigger, &run);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return run;
  }

  v1::Run GetRun(const std::string& run_id) {
    v1::GetRunRequest get;
    get.set_tenant_id(kTenant);
    get.set_run_id(run_id);
    v1::Run run;
    grpc::Status status = runs_->GetRun(Ctx().get(), get, &run);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return run;
  }

  // Polls until the run is in `state` (or finished, when `state` is UNSPECIFIED).
  v1::Run WaitForRun(const std::string& run_id, v1::RunState state, absl::Duration timeout) {
    absl::Time deadline = absl::Now() + timeout;
    v1::Run run;
    while (absl::Now() < deadline) {
      run = GetRun(run_id);
      if (state == v1::RUN_STATE_UNSPECIFIED ? IsFinished(run.state()) : run.state() == state) {
        return run;
      }
      if (IsFinished(run.state())) break;
      absl::SleepFor(absl::Milliseconds(50));
    }
    ADD_FAILURE() << "run " << run_id << " did not reach " << v1::RunState_Name(state) << ": "
                  << run.DebugString() << " logs in " << dir_;
    return run;
  }

  // Whether `consumer` of `group` holds an unacknowledged entry of `stream`, within 60 s.
  bool WaitUntilPendingFor(const std::string& stream, const std::string& group,
                           const std::string& consumer) {
    RedisOptions options;
    options.host = "127.0.0.1";
    options.port = stack_->redis().port();
    RedisConnection redis(options);
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (absl::Now() < deadline) {
      auto pending = redis.Command({"XPENDING", stream, group, "-", "+", "10", consumer});
      if (pending.ok() && !pending->elements.empty()) return true;
      absl::SleepFor(absl::Milliseconds(20));
    }
    ADD_FAILURE() << consumer << " never took a job from " << stream;
    return false;
  }

  std::vector<v1::ImportSummary> Imports(const std::string& integration_id) {
    std::vector<v1::ImportSummary> all;
    v1::ListImportsRequest req;
    req.set_tenant_id(kTenant);
    req.set_integration_id(integration_id);
    do {
      v1::ListImportsResponse resp;
      grpc::Status status = roster_->ListImports(Ctx().get(), req, &resp);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      all.insert(all.end(), resp.imports().begin(), resp.imports().end());
      req.set_page_token(resp.next_page_token());
    } while (!req.page_token().empty());
    return all;
  }

  std::vector<v1::Run> Runs(v1::RunService::Stub* runs, const std::string& integration_id) {
    std::vector<v1::Run> all;
    v1::ListRunsRequest req;
    req.set_tenant_id(kTenant);
    req.set_integration_id(integration_id);
    req.set_page_size(100);
    do {
      v1::ListRunsResponse resp;
      grpc::Status status = runs->ListRuns(Ctx().get(), req, &resp);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      all.insert(all.end(), resp.runs().begin(), resp.runs().end());
      req.set_page_token(resp.next_page_token());
    } while (!req.page_token().empty());
    return all;
  }

  std::string dir_;
  std::unique_ptr<ServiceStack> stack_;
  std::vector<ServiceProcess> services_;
  std::string backup_address_;
  std::string roster_address_;
  std::string transfer_address_;
  std::vector<std::string> scheduler_addresses_;
  std::unique_ptr<v1::IntegrationService::Stub> integrations_;
  std::unique_ptr<v1::RunService::Stub> runs_;
  std::unique_ptr<v1::RosterService::Stub> roster_;
};

// The roster worker is SIGKILLed while the import job is in its hands (the run is IMPORTING and
// no outcome has reached the scheduler). A new roster process reclaims the unacknowledged job
// after the queue's visibility timeout; the run completes, and import history shows exactly
// one import holding every person once.
TEST_F(ResilienceE2eTest, WorkerKilledMidImportCompletesExactlyOnce) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  constexpr int kRows = 150000;
  ASSERT_TRUE(stack_->sshd().WriteHomeFile("hr-drop/roster_big.csv", RosterFile(kRows)).ok());
  v1::Integration integration = CreateImportIntegration("Big nightly", "");
  ASSERT_FALSE(integration.integration_id().empty());

  v1::Run run = Trigger(integration.integration_id());
  ASSERT_EQ(WaitForRun(run.run_id(), v1::RUN_STATE_IMPORTING, absl::Seconds(120)).state(),
            v1::RUN_STATE_IMPORTING);
  // IMPORTING is set when the job is queued; wait until roster-1 has actually taken it (it is
  // pending, unacknowledged, for that consumer), then give it a moment to be mid-import.
  ASSERT_TRUE(WaitUntilPendingFor(kRosterJobsStream, "roster", "roster-1"));
  absl::SleepFor(absl::Milliseconds(300));
  ServiceProcess* roster = Find("roster-1");
  ASSERT_NE(roster, nullptr);
  roster->proc->Signal(SIGKILL);
  auto killed = roster->proc->Wait(absl::Seconds(10));
  ASSERT_TRUE(killed.ok()) << killed.status();
  ASSERT_TRUE(WIFSIGNALED(*killed) && WTERMSIG(*killed) == SIGKILL);
  // The kill landed before the import's outcome was published: the scheduler still waits.
  ASSERT_EQ(GetRun(run.run_id()).state(), v1::RUN_STATE_IMPORTING)
      << "the import finished before the kill; the file is too small for this machine";

  // A replacement worker under a new consumer name: it reclaims the job once the dead
  // consumer's delivery has been idle for the visibility timeout (30 s).
  ASSERT_NO_FATAL_FAILURE(
      Keep(stack_->StartRoster(backup_address_, {}, "roster-2"), &roster_address_));
  roster_ = v1::RosterService::NewStub(MakeChannel(roster_address_));
  v1::Run done = WaitForRun(run.run_id(), v1::RUN_STATE_UNSPECIFIED, absl::Seconds(240));
  ASSERT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED) << done.DebugString();
  EXPECT_EQ(done.import_summary().added(), kRows);

  std::vector<v1::ImportSummary> imports = Imports(integration.integration_id());
  ASSERT_EQ(imports.size(), 1u) << "import history must show one import";
  EXPECT_EQ(imports[0].run_id(), run.run_id());
  EXPECT_EQ(imports[0].status(), v1::IMPORT_STATUS_APPLIED);
  EXPECT_EQ(imports[0].added(), kRows);

  // Every person exactly once: the last and the first of the file, and no more than kRows.
  v1::ListPeopleRequest list;
  list.set_tenant_id(kTenant);
  list.set_page_size(1000);
  int64_t people = 0;
  std::set<std::string> seen;
  do {
    v1::ListPeopleResponse resp;
    grpc::Status status = roster_->ListPeople(Ctx().get(), list, &resp);
    ASSERT_TRUE(status.ok()) << status.error_message();
    for (const auto& p : resp.people()) {
      ++people;
      if (p.person_id() == "E000000" || p.person_id() == "E149999") seen.insert(p.person_id());
    }
    list.set_page_token(resp.next_page_token());
  } while (!list.page_token().empty());
  EXPECT_EQ(people, kRows);
  EXPECT_EQ(seen.size(), 2u);

  // The same file is in the processed-file ledger once: the next run finds nothing new.
  EXPECT_EQ(WaitForRun(Trigger(integration.integration_id()).run_id(), v1::RUN_STATE_UNSPECIFIED,
                       absl::Seconds(120))
                .state(),
            v1::RUN_STATE_SKIPPED);
}

// Redis goes down after the run's state change commits (with its job in the outbox) and before
// the job can be published. When Redis returns (empty: no persistence) the relay publishes the
// job, the workers' consumer groups are re-created, and the run completes.
TEST_F(ResilienceE2eTest, RedisDownBetweenStateChangeAndPublishThenRunCompletes) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  ASSERT_TRUE(stack_->sshd().WriteHomeFile("hr-drop/roster_1.csv", RosterFile(20)).ok());
  v1::Integration integration = CreateImportIntegration("Outage nightly", "");
  ASSERT_FALSE(integration.integration_id().empty());

  stack_->redis().Stop();
  v1::Run run = Trigger(integration.integration_id());
  ASSERT_FALSE(run.run_id().empty());
  // The state change committed (with its job in the outbox) although the job cannot be
  // published; the run waits in FETCHING while Redis is down.
  absl::SleepFor(absl::Seconds(3));
  v1::Run waiting = GetRun(run.run_id());
  EXPECT_EQ(waiting.state(), v1::RUN_STATE_FETCHING) << waiting.DebugString();
  ASSERT_TRUE(stack_->redis().Restart().ok());

  v1::Run done = WaitForRun(run.run_id(), v1::RUN_STATE_UNSPECIFIED, absl::Seconds(120));
  ASSERT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED) << done.DebugString();
  EXPECT_EQ(done.import_summary().added(), 20);
  EXPECT_EQ(Imports(integration.integration_id()).size(), 1u);
}

// The customer's server stops answering (it accepts TCP and never speaks). sftp-transfer gives
// up after its in-job attempts and reports a retryable failure; the scheduler retries the fetch
// step after its backoff, as a new job, and records each attempt. Once the server answers
// again the retry succeeds and the run completes with one import.
TEST_F(ResilienceE2eTest, SilentServerIsRetriedByTheSchedulerUntilItAnswers) {
  ASSERT_NO_FATAL_FAILURE(StartAll(
      1, {"--retry_initial_ms", "500", "--retry_max_ms", "1000", "--step_max_attempts", "20"}));
  ASSERT_TRUE(stack_->sshd().WriteHomeFile("hr-drop/roster_1.csv", RosterFile(10)).ok());
  // Short enough that the silent server fails each attempt quickly, long enough that the
  // activation's connection test passes on a loaded machine (1 s did not, once, in CI).
  v1::Integration integration = CreateImportIntegration("Flaky server", "", /*timeout_ms=*/3000);
  ASSERT_FALSE(integration.integration_id().empty());

  stack_->sshd().PauseListener();
  v1::Run run = Trigger(integration.integration_id());
  // Wait for the scheduler to have queued a second fetch attempt.
  absl::Time deadline = absl::Now() + absl::Seconds(180);
  v1::Run retrying;
  while (absl::Now() < deadline) {
    retrying = GetRun(run.run_id());
    if (retrying.attempt() >= 2 || IsFinished(retrying.state())) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  stack_->sshd().ResumeListener();
  ASSERT_GE(retrying.attempt(), 2) << retrying.DebugString();
  ASSERT_EQ(retrying.state(), v1::RUN_STATE_FETCHING) << retrying.DebugString();

  v1::Run done = WaitForRun(run.run_id(), v1::RUN_STATE_UNSPECIFIED, absl::Seconds(180));
  ASSERT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED) << done.DebugString();
  EXPECT_EQ(done.import_summary().added(), 10);
  EXPECT_TRUE(done.error().empty()) << done.error();
  // The failed attempt is on record with its reason, then a later attempt's fetch succeeded.
  bool failed_attempt_recorded = false;
  for (const v1::RunStepRecord& step : done.steps()) {
    if (step.detail().find("fetch attempt 1 of 20 failed") != std::string::npos) {
      failed_attempt_recorded = true;
    }
  }
  EXPECT_TRUE(failed_attempt_recorded) << done.DebugString();
  EXPECT_EQ(Imports(integration.integration_id()).size(), 1u);
}

// Two scheduler processes share one PostgreSQL and Redis and tick every 200 ms. Over every
// minute slot of many integrations each slot produces exactly one run, and no slot is missed.
TEST_F(ResilienceE2eTest, TwoSchedulerProcessesMakeOneRunPerSlot) {
  ASSERT_NO_FATAL_FAILURE(StartAll(/*schedulers=*/2, {"--tick_interval_ms", "200"}));
  constexpr int kIntegrations = 25;
  std::vector<v1::Integration> integrations;
  for (int i = 0; i < kIntegrations; ++i) {
    integrations.push_back(CreateImportIntegration(absl::StrCat("Minutely ", i), "* * * * *"));
    ASSERT_FALSE(integrations.back().integration_id().empty());
  }
  // Every integration exists before the first slot we count: the next minute boundary.
  const absl::Time first_slot =
      absl::FromUnixSeconds((absl::ToUnixSeconds(absl::Now()) / 60 + 1) * 60);
  const absl::Time last_slot = first_slot + absl::Minutes(2);
  // Give the last slot time to be ticked and its runs to be written.
  absl::SleepFor(last_slot + absl::Seconds(10) - absl::Now());

  auto other_runs = v1::RunService::NewStub(MakeChannel(scheduler_addresses_[1]));
  int scheduled_runs = 0;
  for (size_t i = 0; i < integrations.size(); ++i) {
    const v1::Integration& integration = integrations[i];
    // Either replica answers for the same data; alternate to exercise both.
    std::vector<v1::Run> runs =
        Runs(i % 2 == 0 ? runs_.get() : other_runs.get(), integration.integration_id());
    std::map<absl::Time, int> per_slot;
    for (const v1::Run& run : runs) {
      EXPECT_EQ(run.trigger(), v1::RUN_TRIGGER_SCHEDULE);
      ++scheduled_runs;
      ++per_slot[FromProtoTime(run.scheduled_for())];
    }
    for (const auto& [slot, count] : per_slot) {
      EXPECT_EQ(count, 1) << integration.name() << " has " << count << " runs for slot "
                          << absl::FormatTime(slot);
    }
    for (absl::Time slot = first_slot; slot <= last_slot; slot += absl::Minutes(1)) {
      EXPECT_EQ(per_slot.count(slot), 1u)
          << integration.name() << " has no run for slot " << absl::FormatTime(slot);
    }
  }
  // The replicas' own counts add up to the runs on record: no replica created a run that a
  // unique-key conflict then threw away after counting it, and none went unrecorded.
  double started = 0;
  for (const char* name : {"scheduler-0", "scheduler-1"}) {
    ServiceProcess* scheduler = Find(name);
    ASSERT_NE(scheduler, nullptr);
    auto metrics = testing::HttpGet(scheduler->metrics_port, "/metrics");
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    double mine = testing::MetricValue(
        *metrics, "rostersync_runs_started_total{direction=\"import\",trigger=\"schedule\"}");
    std::cout << name << " created " << mine << " of the scheduled runs\n";
    started += mine;
  }
  EXPECT_EQ(started, scheduled_runs);
}

}  // namespace
}  // namespace rostersync
