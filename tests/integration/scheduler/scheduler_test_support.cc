#include "tests/integration/scheduler/scheduler_test_support.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "common/queue_codec.h"
#include "services/scheduler/run_store.h"

namespace rostersync::scheduler::test_support {

testing::PostgresServer* SuitePostgres::server_ = nullptr;

absl::Time Utc(int y, int mo, int d, int h, int mi) {
  return absl::FromCivil(absl::CivilMinute(y, mo, d, h, mi), absl::UTCTimeZone());
}

void SuitePostgres::Start() {
  auto pg = testing::PostgresServer::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  server_ = pg->release();
}

void SuitePostgres::Stop() {
  delete server_;
  server_ = nullptr;
}

std::unique_ptr<PgPool> SuitePostgres::FreshDatabase(const std::string& prefix,
                                                     std::string* conninfo_out) {
  static int counter = 0;
  EXPECT_NE(server_, nullptr) << "SuitePostgres::Start() was not called or failed";
  if (server_ == nullptr) return nullptr;
  auto conninfo = server_->CreateDatabase(absl::StrCat(prefix, "_", ++counter));
  EXPECT_TRUE(conninfo.ok()) << conninfo.status();
  if (!conninfo.ok()) return nullptr;
  if (conninfo_out != nullptr) *conninfo_out = *conninfo;
  auto pool = PgPool::Connect(*conninfo, 3);
  EXPECT_TRUE(pool.ok()) << pool.status();
  if (!pool.ok()) return nullptr;
  absl::Status migrated = ApplyOrchestrationMigrations(**pool);
  EXPECT_TRUE(migrated.ok()) << migrated;
  absl::Status again = ApplyOrchestrationMigrations(**pool);
  EXPECT_TRUE(again.ok()) << "applying the migrations twice must be a no-op: " << again;
  if (!migrated.ok() || !again.ok()) return nullptr;
  return *std::move(pool);
}

RedisOptions TestRedisOptions(const testing::RedisServer& redis) {
  RedisOptions options;
  options.host = "127.0.0.1";
  options.port = redis.port();
  options.command_timeout = absl::Seconds(2);
  options.connect_timeout = absl::Seconds(1);
  return options;
}

std::vector<std::string> ReadStream(const RedisOptions& redis, const std::string& stream) {
  RedisConnection conn(redis);
  auto reply = conn.Command({"XRANGE", stream, "-", "+"});
  EXPECT_TRUE(reply.ok()) << reply.status();
  std::vector<std::string> out;
  if (!reply.ok()) return out;
  for (const auto& entry : reply->elements) {
    if (entry.elements.size() != 2) continue;
    const auto& fields = entry.elements[1].elements;
    for (size_t i = 0; i + 1 < fields.size(); i += 2) {
      if (fields[i].str == kPayloadField) out.push_back(fields[i + 1].str);
    }
  }
  return out;
}

int64_t PendingOutbox(PgPool& pool) {
  int64_t n = -1;
  absl::Status s = pool.Transact([&](pqxx::work& txn) -> absl::Status {
    auto c = Outbox::CountPending(txn);
    if (!c.ok()) return c.status();
    n = *c;
    return absl::OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
  return n;
}

std::vector<v1::RunState> StepStates(const v1::Run& run) {
  std::vector<v1::RunState> out;
  for (const auto& s : run.steps()) out.push_back(s.state());
  return out;
}

v1::RunEvent Event(const v1::Run& run, const std::string& job_id, v1::RunEvent::Type type) {
  v1::RunEvent e;
  e.set_job_id(job_id);
  e.set_event_id(absl::StrCat(job_id, ":", v1::RunEvent::Type_Name(type)));
  e.set_tenant_id(run.tenant_id());
  e.set_run_id(run.run_id());
  e.set_type(type);
  return e;
}

v1::CreateIntegrationRequest ImportRequest(const std::string& tenant) {
  v1::CreateIntegrationRequest req;
  v1::Integration* in = req.mutable_integration();
  in->set_tenant_id(tenant);
  in->set_name("nightly HR import");
  in->set_direction(v1::RUN_DIRECTION_IMPORT);
  in->mutable_endpoint()->set_host("127.0.0.1");
  in->mutable_endpoint()->set_port(2222);
  in->mutable_endpoint()->set_username("acme");
  in->mutable_endpoint()->set_host_key_sha256(kFingerprint);
  in->mutable_import_settings()->set_remote_folder("/outgoing");
  in->mutable_import_settings()->set_file_glob("roster_*.csv");
  (*in->mutable_import_settings()->mutable_header_map())["Employee ID"] = "person_id";
  req.mutable_credentials()->set_password(kPassword);
  return req;
}

v1::Integration MustCreate(IntegrationService& integrations,
                           const v1::CreateIntegrationRequest& req) {
  auto created = integrations.Create(req);
  EXPECT_TRUE(created.ok()) << created.status();
  return created.ok() ? *created : v1::Integration();
}

v1::Integration MustGet(IntegrationService& integrations, const v1::Integration& in) {
  v1::GetIntegrationRequest get;
  get.set_tenant_id(in.tenant_id());
  get.set_integration_id(in.integration_id());
  auto got = integrations.Get(get);
  EXPECT_TRUE(got.ok()) << got.status();
  return got.ok() ? *got : v1::Integration();
}

v1::Run MustTrigger(RunService& runs, const v1::Integration& in) {
  v1::TriggerRunRequest req;
  req.set_tenant_id(in.tenant_id());
  req.set_integration_id(in.integration_id());
  auto run = runs.Trigger(req);
  EXPECT_TRUE(run.ok()) << run.status();
  return run.ok() ? *run : v1::Run();
}

v1::Run MustGetRun(RunService& runs, const v1::Run& run) {
  v1::GetRunRequest req;
  req.set_tenant_id(run.tenant_id());
  req.set_run_id(run.run_id());
  auto got = runs.Get(req);
  EXPECT_TRUE(got.ok()) << got.status();
  return got.ok() ? *got : v1::Run();
}

}  // namespace rostersync::scheduler::test_support
