// rostersync-roster: the roster service (system of record). Consumes roster jobs (import,
// export), serves RosterService.
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/archive_client.h"
#include "common/flags.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/redis_queue.h"
#include "common/server.h"
#include "services/roster/exporter.h"
#include "services/roster/importer.h"
#include "services/roster/roster_service.h"
#include "services/roster/roster_store.h"
#include "services/roster/roster_worker.h"

namespace {

int Fatal(const std::string& what, const absl::Status& status) {
  rostersync::log::Error(what, {{"error", std::string(status.message())}});
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace rostersync;
  InitService("roster");

  Flags flags("rostersync-roster");
  std::string* grpc_address =
      flags.String("grpc_address", "127.0.0.1:50062", "gRPC listen address");
  std::string* metrics_address =
      flags.String("metrics_address", "127.0.0.1:9462", "Prometheus /metrics listen address");
  std::string* redis = flags.String("redis", "127.0.0.1:6379", "Redis host:port");
  std::string* postgres = flags.String("postgres", "", "PostgreSQL libpq conninfo");
  std::string* backup_address =
      flags.String("backup_address", "127.0.0.1:50061", "backup service gRPC address");
  std::string* consumer_name = flags.String(
      "consumer_name", "", "Redis consumer name, unique per process (default host-pid)");
  int64_t* pg_pool_size = flags.Int("pg_pool_size", 4, "PostgreSQL connections", 1, 64);
  int64_t* archive_deadline_s =
      flags.Int("archive_deadline_seconds", 300,
                "deadline of one archive transfer (the pre-import backup's transfer lasts "
                "from its snapshot until the import's diff and guards are done)",
                1, 86400);
  flags.AddCheck([&] {
    return postgres->empty() ? absl::InvalidArgumentError("--postgres is required")
                             : absl::OkStatus();
  });
  flags.AddCheck([&] {
    return backup_address->empty() ? absl::InvalidArgumentError("--backup_address is required")
                                   : absl::OkStatus();
  });
  flags.ParseOrExit(argc, argv);

  absl::StatusOr<RedisOptions> redis_options = ParseRedisAddress(*redis, "--redis");
  if (!redis_options.ok()) {
    log::Error("bad configuration", {{"error", std::string(redis_options.status().message())}});
    return 2;
  }
  if (consumer_name->empty()) *consumer_name = DefaultConsumerName();

  absl::StatusOr<std::unique_ptr<PgPool>> pool =
      PgPool::Connect(*postgres, static_cast<int>(*pg_pool_size));
  if (!pool.ok()) return Fatal("cannot connect to PostgreSQL (--postgres)", pool.status());
  roster::RosterStore store(**pool);
  if (absl::Status s = store.Migrate(); !s.ok()) return Fatal("migrations failed", s);

  GrpcArchive archive(MakeChannel(*backup_address), absl::Seconds(*archive_deadline_s));
  RedisPublisher publisher(*redis_options);
  roster::Importer importer(store, archive);
  roster::Exporter exporter(store, archive);
  roster::RosterWorker worker(importer, exporter, publisher);
  roster::RosterServiceImpl service(store, archive);

  ConsumerOptions consumer_options;
  consumer_options.stream = kRosterJobsStream;
  consumer_options.group = "roster";
  consumer_options.consumer = *consumer_name;
  StreamConsumer consumer(*redis_options, consumer_options,
                          [&worker](const Delivery& d) { return worker.Handle(d); });

  ServerOptions server_options;
  server_options.service_name = "roster";
  server_options.grpc_address = *grpc_address;
  server_options.metrics_address = *metrics_address;
  absl::StatusOr<std::unique_ptr<ServiceRunner>> runner =
      ServiceRunner::Start(server_options, {&service});
  if (!runner.ok()) return Fatal("cannot start the server", runner.status());
  consumer.Start();
  (*runner)->AddStopHook([&consumer] { consumer.Stop(); });
  log::Info("roster service started", {{"grpc_address", *grpc_address},
                                       {"grpc_port", std::to_string((*runner)->grpc_port())},
                                       {"consumer", *consumer_name}});
  return (*runner)->WaitForTermination();
}
