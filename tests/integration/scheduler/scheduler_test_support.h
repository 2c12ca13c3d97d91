#pragma once

// What the scheduler's integration tests share: one PostgreSQL server per test suite with a
// fresh database (scheduler schema applied) per test, a Redis connection config, the usual
// constants, and small helpers that fail the test on an error.
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/pg.h"
#include "common/redis_queue.h"
#include "rostersync/v1/jobs.pb.h"
#include "rostersync/v1/scheduler.pb.h"
#include "services/scheduler/integration_service.h"
#include "services/scheduler/run_service.h"
#include "tests/fixtures/postgres_server.h"
#include "tests/fixtures/redis_server.h"

namespace rostersync::scheduler::test_support {

inline constexpr char kMasterKey[] =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
inline constexpr char kPassword[] = "hunter2-Pa55word-never-shown";
inline constexpr char kFingerprint[] = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";

absl::Time Utc(int y, int mo, int d, int h, int mi);

// A PostgreSQL server for a whole test suite: Start() in SetUpTestSuite, Stop() in
// TearDownTestSuite; FreshDatabase() in SetUp gives each test its own database, with the
// scheduler's migrations applied (twice: the second must be a no-op).
class SuitePostgres {
 public:
  static void Start();
  static void Stop();
  static std::unique_ptr<PgPool> FreshDatabase(const std::string& prefix,
                                               std::string* conninfo = nullptr);

 private:
  static testing::PostgresServer* server_;
};

// Options for a client of `redis` with short timeouts, as the tests want them.
RedisOptions TestRedisOptions(const testing::RedisServer& redis);

// Every payload on `stream`, oldest first.
std::vector<std::string> ReadStream(const RedisOptions& redis, const std::string& stream);
// Outbox rows not yet published.
int64_t PendingOutbox(PgPool& pool);

// The states of a run's steps, in order.
std::vector<v1::RunState> StepStates(const v1::Run& run);
// An event for the run's job `job_id`, with the event id a worker would give it.
v1::RunEvent Event(const v1::Run& run, const std::string& job_id, v1::RunEvent::Type type);

// An import integration of `tenant` on 127.0.0.1:2222 with a pinned key (kFingerprint) and a
// password (kPassword); callers add what their test is about.
v1::CreateIntegrationRequest ImportRequest(const std::string& tenant);

v1::Integration MustCreate(IntegrationService& integrations, const v1::CreateIntegrationRequest& req);
v1::Integration MustGet(IntegrationService& integrations, const v1::Integration& in);
v1::Run MustTrigger(RunService& runs, const v1::Integration& in);
v1::Run MustGetRun(RunService& runs, const v1::Run& run);

}  // namespace rostersync::scheduler::test_support
