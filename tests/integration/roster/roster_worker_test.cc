// The rostersync-roster binary as a separate process with real redis-server and PostgreSQL
// (fixtures) and the backup service in process on port 0: a RosterJob published on
// kRosterJobsStream becomes a RunEvent on kEventsStream, the roster is served over gRPC,
// /metrics moves, and SIGTERM stops the process cleanly.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/archive_client.h"
#include "common/pg.h"
#include "common/queue_codec.h"
#include "common/redis_queue.h"
#include "rostersync/v1/roster.grpc.pb.h"
#include "services/backup/backup_service.h"
#include "services/backup/blob_store.h"
#include "services/backup/file_catalog.h"
#include "tests/fixtures/http_get.h"
#include "tests/fixtures/postgres_server.h"
#include "tests/fixtures/redis_server.h"
#include "tests/fixtures/subprocess.h"

namespace rostersync::roster {
namespace {

using rostersync::testing::Subprocess;
using rostersync::testing::StartServiceBinary;
using ::testing::HasSubstr;

// Reads kEventsStream until an event for `job_id` appears.
absl::StatusOr<v1::RunEvent> WaitForEvent(RedisConnection& conn, const std::string& job_id,
                                          absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    auto reply = conn.Command({"XRANGE", kEventsStream, "-", "+"});
    if (!reply.ok()) return reply.status();
    for (const auto& entry : reply->elements) {
      if (entry.elements.size() < 2) continue;
      const auto& fields = entry.elements[1].elements;
      for (size_t i = 0; i + 1 < fields.size(); i += 2) {
        if (fields[i].str != kPayloadField) continue;
        auto event = DecodeQueueMessage<v1::RunEvent>(fields[i + 1].str);
        if (event.ok() && event->job_id() == job_id) return *event;
      }
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrCat("no event for job ", job_id));
}

TEST(RosterWorkerBinaryTest, ImportsAndExportsFromTheQueue) {
  auto redis = rostersync::testing::RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  auto pg = rostersync::testing::PostgresServer::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  auto conninfo = (*pg)->CreateDatabase("rostersync");
  ASSERT_TRUE(conninfo.ok());

  // Backup service in process.
  auto pool = PgPool::Connect(*conninfo, 2);
  ASSERT_TRUE(pool.ok()) << pool.status();
  auto catalog = backup::FileCatalog::Create(pool->get());
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  const std::string dir = rostersync::testing::MakeTempDir("roster_worker_test");
  auto blobs = backup::BlobStore::Open(dir + "/blobs");
  ASSERT_TRUE(blobs.ok()) << blobs.status();
  backup::BackupService backup_service(blobs->get(), catalog->get());
  grpc::ServerBuilder builder;
  int backup_port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &backup_port);
  builder.RegisterService(&backup_service);
  std::unique_ptr<grpc::Server> backup_server = builder.BuildAndStart();
  ASSERT_NE(backup_server, nullptr);
  GrpcArchive archive(grpc::CreateChannel(absl::StrCat("127.0.0.1:", backup_port),
                                          grpc::InsecureChannelCredentials()),
                      absl::Seconds(30));

  // The roster binary.
  Subprocess::Options options;
  options.argv = {std::string(RS_BINARY_DIR) + "/services/roster/rostersync-roster",
                  absl::StrCat("--redis=", (*redis)->address()),
                  absl::StrCat("--backup_address=127.0.0.1:", backup_port),
                  "--consumer_name=roster-test-1"};
  options.env = {{"ROSTERSYNC_POSTGRES", *conninfo}};  // a setting from the environment
  options.log_path = dir + "/roster.log";
  // Port 0: the binary picks free ports and names them in its "service started" line.
  auto started = StartServiceBinary(options);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<Subprocess> proc = std::move(started->proc);
  const int grpc_port = started->ports.grpc;
  const int metrics_port = started->ports.metrics;

  // A source file in the archive.
  v1::PutFileHeader header;
  header.set_tenant_id("acme");
  header.set_kind(v1::FILE_KIND_SOURCE);
  header.set_name("hr.csv");
  auto writer = archive.OpenWriter(header);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)
                  ->Write("person_id,email,first_name,last_name,language,active,seat\r\n"
                          "7,g@acme.io,Grace,Hopper,en,y,A-1\r\n"
                          "8,a@acme.io,Ada,Lovelace,en,y,\r\n")
                  .ok());
  auto source = (*writer)->Finish();
  ASSERT_TRUE(source.ok()) << source.status();

  RedisOptions redis_options;
  redis_options.port = (*redis)->port();
  RedisPublisher publisher(redis_options);
  RedisConnection conn(redis_options);

  v1::RosterJob job;
  job.set_job_id("run_x:import");
  job.set_tenant_id("acme");
  job.set_run_id("run_x");
  job.set_integration_id("int_x");
  job.set_op(v1::RosterJob::OP_IMPORT);
  job.set_file_id(source->file_id());
  job.set_sync_policy(v1::SYNC_POLICY_DELETE);
  ASSERT_TRUE(publisher.Publish(kRosterJobsStream, EncodeQueueMessage(job)).ok());
  auto imported = WaitForEvent(conn, job.job_id(), absl::Seconds(30));
  ASSERT_TRUE(imported.ok()) << imported.status() << "\n"
                             << rostersync::testing::ReadFileOrDie(options.log_path);
  EXPECT_EQ(imported->type(), v1::RunEvent::TYPE_IMPORTED) << imported->error();
  EXPECT_EQ(imported->event_id(), "run_x:import:TYPE_IMPORTED");
  EXPECT_EQ(imported->import().added(), 2);
  EXPECT_FALSE(imported->import().backup_file_id().empty());

  v1::RosterJob export_job = job;
  export_job.set_job_id("run_y:export");
  export_job.set_run_id("run_y");
  export_job.set_op(v1::RosterJob::OP_EXPORT);
  export_job.set_export_name("out.csv");
  ASSERT_TRUE(publisher.Publish(kRosterJobsStream, EncodeQueueMessage(export_job)).ok());
  auto rendered = WaitForEvent(conn, export_job.job_id(), absl::Seconds(30));
  ASSERT_TRUE(rendered.ok()) << rendered.status();
  ASSERT_EQ(rendered->type(), v1::RunEvent::TYPE_RENDERED) << rendered->error();
  std::string exported;
  ASSERT_TRUE(archive
                  .Read("acme", rendered->file_id(),
                        [&](std::string_view c) {
                          exported.append(c);
                          return absl::OkStatus();
                        })
                  .ok());
  EXPECT_EQ(exported,
            "person_id,email,first_name,last_name,language,active,person_type,seat\r\n"
            "7,g@acme.io,Grace,Hopper,en,true,employee,A-1\r\n"
            "8,a@acme.io,Ada,Lovelace,en,true,employee,\r\n");

  // The roster over gRPC.
  auto stub = v1::RosterService::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port),
                                                             grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::ListPeopleRequest req;
  req.set_tenant_id("acme");
  v1::ListPeopleResponse resp;
  ASSERT_TRUE(stub->ListPeople(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.people_size(), 2);
  EXPECT_EQ(resp.people(0).seat(), "A-1");

  auto metrics = rostersync::testing::HttpGet(metrics_port, "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(rostersync::testing::MetricValue(*metrics,
                                             "rostersync_import_records_total{change=\"added\"}"),
            2);
  EXPECT_EQ(
      rostersync::testing::MetricValue(*metrics, "rostersync_imports_total{status=\"applied\"}"),
      1);

  proc->Signal(SIGTERM);
  auto exit = proc->Wait(absl::Seconds(20));
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0) << *exit;

  backup_server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  rostersync::testing::RemoveTree(dir);
}

}  // namespace
}  // namespace rostersync::roster
