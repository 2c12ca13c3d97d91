// Schedules against a real PostgreSQL with a fake clock: misfire catch-up after downtime,
// blackout windows (scheduled slots skipped and recorded, manual triggers refused), add-only
// windows (the import job goes out with SYNC_POLICY_KEEP), DST in a non-UTC zone, and
// deactivated integrations that never run.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "common/pg.h"
#include "common/queue_codec.h"
#include "common/redis_queue.h"
#include "common/sealing.h"
#include "common/time_util.h"
#include "services/scheduler/clock.h"
#include "services/scheduler/integration_service.h"
#include "services/scheduler/integration_store.h"
#include "services/scheduler/run_orchestrator.h"
#include "services/scheduler/run_service.h"
#include "services/scheduler/run_store.h"
#include "services/scheduler/schedule_ticker.h"
#include "tests/integration/scheduler/scheduler_test_support.h"

namespace rostersync::scheduler {
namespace {

using ::testing::HasSubstr;
using namespace test_support;  // NOLINT(build/namespaces): the suite's shared helpers


v1::TimeWindow Window(const std::string& start, const std::string& end, const std::string& reason) {
  v1::TimeWindow w;
  w.set_start(start);
  w.set_end(end);
  w.set_reason(reason);
  return w;
}

// The shared import request of tenant "acme", scheduled by `schedule` in `zone`.
v1::CreateIntegrationRequest ScheduledImport(const std::string& schedule,
                                             const std::string& zone) {
  v1::CreateIntegrationRequest req = test_support::ImportRequest("acme");
  v1::Integration* in = req.mutable_integration();
  in->set_schedule(schedule);
  in->set_time_zone(zone);
  in->mutable_import_settings()->mutable_policy()->set_sync_policy(v1::SYNC_POLICY_DELETE);
  return req;
}

class ScheduleWindowsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { SuitePostgres::Start(); }
  static void TearDownTestSuite() { SuitePostgres::Stop(); }

  void SetUp() override {
    pool_ = SuitePostgres::FreshDatabase("windows");
    ASSERT_NE(pool_, nullptr);
    sealer_ = std::make_unique<Sealer>(Sealer::FromKeyMaterial(kMasterKey).value());
    clock_ = std::make_unique<FakeClock>(Utc(2026, 3, 1, 9, 55));
    integrations_ =
        std::make_unique<IntegrationService>(pool_.get(), sealer_.get(), clock_.get(), nullptr);
    orchestrator_ = std::make_unique<RunOrchestrator>(pool_.get(), clock_.get(), nullptr);
    runs_ = std::make_unique<RunService>(pool_.get(), orchestrator_.get());
    SetDefaultMisfireWindow(kDefaultMisfireWindow);
  }

  v1::Integration MustCreate(const v1::CreateIntegrationRequest& req) {
    return test_support::MustCreate(*integrations_, req);
  }
  v1::Integration MustGet(const v1::Integration& in) {
    return test_support::MustGet(*integrations_, in);
  }

  // Every run of the tenant, newest first, with its steps.
  std::vector<v1::Run> Runs() {
    v1::ListRunsRequest list;
    list.set_tenant_id("acme");
    list.set_page_size(500);
    auto listed = runs_->List(list);
    EXPECT_TRUE(listed.ok()) << listed.status();
    std::vector<v1::Run> out;
    if (!listed.ok()) return out;
    for (const v1::Run& r : listed->runs()) {
      v1::GetRunRequest get;
      get.set_tenant_id("acme");
      get.set_run_id(r.run_id());
      out.push_back(runs_->Get(get).value());
    }
    return out;
  }

  int Tick() {
    auto created = orchestrator_->TickOnce();
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? *created : -1;
  }

  // The RosterJob payloads in the outbox, oldest first.
  std::vector<v1::RosterJob> RosterJobs() {
    std::vector<v1::RosterJob> out;
    EXPECT_TRUE(pool_
                    ->Transact([&](pqxx::work& txn) -> absl::Status {
                      out.clear();
                      pqxx::result r = txn.exec_params(
                          "SELECT payload FROM scheduler.outbox WHERE stream = $1 ORDER BY id",
                          std::string(kRosterJobsStream));
                      for (const auto& row : r) {
                        auto job =
                            DecodeQueueMessage<v1::RosterJob>(pqxx::binarystring(row[0]).str());
                        if (!job.ok()) return job.status();
                        out.push_back(*job);
                      }
                      return absl::OkStatus();
                    })
                    .ok());
    return out;
  }

  std::unique_ptr<PgPool> pool_;
  std::unique_ptr<Sealer> sealer_;
  std::unique_ptr<FakeClock> clock_;
  std::unique_ptr<IntegrationService> integrations_;
  std::unique_ptr<RunOrchestrator> orchestrator_;
  std::unique_ptr<RunService> runs_;
};

TEST_F(ScheduleWindowsTest, DownAcrossFiveSlotsRunsOnceOnRecovery) {
  v1::Integration in = MustCreate(ScheduledImport("*/10 * * * *", "Europe/Berlin"));
  EXPECT_EQ(FromProtoTime(in.next_run_at()), Utc(2026, 3, 1, 10, 0));
  // The scheduler is down from 09:55 until 10:47: slots 10:00, 10:10, 10:20, 10:30, 10:40.
  clock_->Set(Utc(2026, 3, 1, 10, 47));
  EXPECT_EQ(Tick(), 1);
  EXPECT_EQ(Tick(), 0);
  std::vector<v1::Run> runs = Runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].trigger(), v1::RUN_TRIGGER_SCHEDULE);
  EXPECT_EQ(runs[0].state(), v1::RUN_STATE_FETCHING);
  EXPECT_EQ(FromProtoTime(runs[0].scheduled_for()), Utc(2026, 3, 1, 10, 40));  // the latest
  EXPECT_EQ(FromProtoTime(MustGet(in).next_run_at()), Utc(2026, 3, 1, 10, 50));

  // A second replica that still saw the old next_run_at creates nothing more.
  ASSERT_TRUE(pool_
                  ->Transact([&](pqxx::work& txn) {
                    return IntegrationStore::SetNextRunAt(txn, in.integration_id(),
                                                          Utc(2026, 3, 1, 10, 0));
                  })
                  .ok());
  RunOrchestrator replica(pool_.get(), clock_.get(), nullptr);
  EXPECT_EQ(*replica.TickOnce(), 0);
  EXPECT_EQ(Runs().size(), 1u);
  EXPECT_EQ(FromProtoTime(MustGet(in).next_run_at()), Utc(2026, 3, 1, 10, 50));
}

TEST_F(ScheduleWindowsTest, DownBeyondTheMisfireWindowRunsNothingAndRecordsTheMiss) {
  v1::Integration in = MustCreate(ScheduledImport("30 2 * * *", "Europe/Berlin"));
  // Slot 2026-03-02 02:30 CET = 01:30 UTC; the scheduler comes back at 04:00 UTC.
  EXPECT_EQ(FromProtoTime(in.next_run_at()), Utc(2026, 3, 2, 1, 30));
  clock_->Set(Utc(2026, 3, 2, 4, 0));
  EXPECT_EQ(Tick(), 0);
  EXPECT_EQ(Tick(), 0);
  const absl::Time next = FromProtoTime(MustGet(in).next_run_at());
  EXPECT_GT(next, clock_->Now());
  EXPECT_EQ(next, Utc(2026, 3, 3, 1, 30));
  std::vector<v1::Run> runs = Runs();
  ASSERT_EQ(runs.size(), 1u);  // the record of the miss, not a run
  EXPECT_EQ(runs[0].state(), v1::RUN_STATE_SKIPPED);
  EXPECT_EQ(FromProtoTime(runs[0].scheduled_for()), Utc(2026, 3, 2, 1, 30));
  ASSERT_EQ(runs[0].steps_size(), 2);
  EXPECT_THAT(runs[0].steps(1).detail(), HasSubstr("beyond the misfire window of 1h"));
  EXPECT_TRUE(RosterJobs().empty());
  EXPECT_EQ(orchestrator_->TickOnce().value(), 0);

  // With a 3-hour window on the integration, the next miss of the same length catches up.
  v1::UpdateIntegrationRequest update;
  update.mutable_integration()->set_tenant_id("acme");
  update.mutable_integration()->set_integration_id(in.integration_id());
  update.mutable_integration()->set_misfire_window_s(3 * 3600);
  update.mutable_update_mask()->add_paths("misfire_window_s");
  ASSERT_TRUE(integrations_->Update(update).ok());
  clock_->Set(Utc(2026, 3, 3, 4, 0));
  EXPECT_EQ(Tick(), 1);
  EXPECT_EQ(FromProtoTime(Runs()[0].scheduled_for()), Utc(2026, 3, 3, 1, 30));
}

TEST_F(ScheduleWindowsTest, BlackoutSkipsScheduledSlotsAndRefusesManualRunsAcrossDst) {
  // New York, 02:30 daily; spring forward on 2026-03-08 (02:30 does not exist: it fires at
  // 03:00 EDT = 07:00 UTC). Blackout March 7-8 local.
  clock_->Set(Utc(2026, 3, 6, 12, 0));
  v1::CreateIntegrationRequest req = ScheduledImport("30 2 * * *", "America/New_York");
  *req.mutable_integration()->add_blackout_windows() =
      Window("2026-03-07", "2026-03-08", "school year rollover");
  v1::Integration in = MustCreate(req);

  // A fake clock stepping every 10 minutes through March 10.
  std::vector<absl::Time> run_slots;
  for (absl::Time t = Utc(2026, 3, 6, 12, 0); t <= Utc(2026, 3, 10, 12, 0);
       t += absl::Minutes(10)) {
    clock_->Set(t);
    Tick();
  }
  std::vector<v1::Run> runs = Runs();
  ASSERT_EQ(runs.size(), 4u);  // March 7, 8, 9, 10: two skipped, two run
  // Newest first.
  EXPECT_EQ(FromProtoTime(runs[0].scheduled_for()), Utc(2026, 3, 10, 6, 30));  // 02:30 EDT
  EXPECT_EQ(runs[0].state(), v1::RUN_STATE_FETCHING);
  EXPECT_EQ(FromProtoTime(runs[1].scheduled_for()), Utc(2026, 3, 9, 6, 30));
  EXPECT_EQ(runs[1].state(), v1::RUN_STATE_FETCHING);
  EXPECT_EQ(FromProtoTime(runs[2].scheduled_for()), Utc(2026, 3, 8, 7, 0));  // the transition
  EXPECT_EQ(runs[2].state(), v1::RUN_STATE_SKIPPED);
  EXPECT_THAT(runs[2].steps(1).detail(),
              HasSubstr("blackout window 2026-03-07 .. 2026-03-08 (school year rollover)"));
  EXPECT_EQ(FromProtoTime(runs[3].scheduled_for()), Utc(2026, 3, 7, 7, 30));  // 02:30 EST
  EXPECT_EQ(runs[3].state(), v1::RUN_STATE_SKIPPED);

  // A manual trigger inside the blackout is refused, naming the window; outside it runs.
  clock_->Set(Utc(2026, 3, 8, 15, 0));  // 11:00 EDT on March 8
  v1::TriggerRunRequest trigger;
  trigger.set_tenant_id("acme");
  trigger.set_integration_id(in.integration_id());
  auto refused = runs_->Trigger(trigger);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("school year rollover"));
  clock_->Set(Utc(2026, 3, 9, 4, 59));  // 00:59 EDT on March 9
  EXPECT_TRUE(runs_->Trigger(trigger).ok());
}

TEST_F(ScheduleWindowsTest, AddOnlyWindowSendsTheImportWithKeep) {
  clock_->Set(Utc(2026, 8, 1, 12, 0));
  v1::CreateIntegrationRequest req = ScheduledImport("", "Europe/Berlin");
  *req.mutable_integration()->add_add_only_windows() =
      Window("2026-08-01", "2026-08-31T18:00", "new school year");
  v1::Integration in = MustCreate(req);
  v1::TriggerRunRequest trigger;
  trigger.set_tenant_id("acme");
  trigger.set_integration_id(in.integration_id());

  auto fetched_event = [](const v1::Run& run) {
    v1::RunEvent e;
    e.set_job_id(absl::StrCat(run.run_id(), ":fetch"));
    e.set_event_id(absl::StrCat(e.job_id(), ":FETCHED"));
    e.set_tenant_id(run.tenant_id());
    e.set_run_id(run.run_id());
    e.set_type(v1::RunEvent::TYPE_FETCHED);
    e.set_file_id("file_1");
    return e;
  };

  // Inside the window (Aug 31 17:59 CEST = 15:59 UTC): KEEP, and the run's history says why.
  clock_->Set(Utc(2026, 8, 31, 15, 59));
  v1::Run inside = runs_->Trigger(trigger).value();
  ASSERT_TRUE(orchestrator_->HandleEvent(fetched_event(inside)).ok());
  // Outside (18:00 CEST): the integration's own policy, DELETE.
  clock_->Set(Utc(2026, 8, 31, 16, 0));
  v1::Run outside = runs_->Trigger(trigger).value();
  ASSERT_TRUE(orchestrator_->HandleEvent(fetched_event(outside)).ok());

  std::vector<v1::RosterJob> jobs = RosterJobs();
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].run_id(), inside.run_id());
  EXPECT_EQ(jobs[0].op(), v1::RosterJob::OP_IMPORT);
  EXPECT_EQ(jobs[0].policy().sync_policy(), v1::SYNC_POLICY_KEEP);
  EXPECT_EQ(jobs[0].sync_policy(), v1::SYNC_POLICY_KEEP);
  EXPECT_EQ(jobs[1].run_id(), outside.run_id());
  EXPECT_EQ(jobs[1].policy().sync_policy(), v1::SYNC_POLICY_DELETE);
  v1::GetRunRequest get;
  get.set_tenant_id("acme");
  get.set_run_id(inside.run_id());
  v1::Run got = runs_->Get(get).value();
  EXPECT_THAT(got.steps(got.steps_size() - 1).detail(),
              HasSubstr("add-only window 2026-08-01 .. 2026-08-31T18:00 (new school year)"));
}

TEST_F(ScheduleWindowsTest, DeactivatedIntegrationsNeverRun) {
  v1::Integration in = MustCreate(ScheduledImport("*/10 * * * *", "UTC"));
  v1::UpdateIntegrationRequest off;
  off.mutable_integration()->set_tenant_id("acme");
  off.mutable_integration()->set_integration_id(in.integration_id());
  off.mutable_integration()->set_active(false);
  off.mutable_update_mask()->add_paths("active");
  v1::Integration updated = integrations_->Update(off).value();
  EXPECT_FALSE(updated.active());
  EXPECT_FALSE(updated.has_next_run_at());
  // Even with a stale next_run_at left in the row (e.g. written by an old replica).
  ASSERT_TRUE(pool_
                  ->Transact([&](pqxx::work& txn) {
                    return IntegrationStore::SetNextRunAt(txn, in.integration_id(),
                                                          Utc(2026, 3, 1, 10, 0));
                  })
                  .ok());
  for (int i = 0; i < 12; ++i) {
    clock_->Advance(absl::Minutes(10));
    EXPECT_EQ(Tick(), 0);
  }
  EXPECT_TRUE(Runs().empty());
  v1::TriggerRunRequest trigger;
  trigger.set_tenant_id("acme");
  trigger.set_integration_id(in.integration_id());
  EXPECT_EQ(runs_->Trigger(trigger).status().code(), absl::StatusCode::kFailedPrecondition);
  // A draft created inactive never runs either.
  v1::CreateIntegrationRequest draft = ScheduledImport("* * * * *", "UTC");
  draft.set_inactive(true);
  v1::Integration created = MustCreate(draft);
  EXPECT_FALSE(created.active());
  clock_->Advance(absl::Hours(1));
  EXPECT_EQ(Tick(), 0);
  EXPECT_TRUE(Runs().empty());
}

}  // namespace
}  // namespace rostersync::scheduler
