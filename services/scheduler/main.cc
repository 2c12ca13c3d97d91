// rostersync-scheduler: integrations, runs, the outbox relay, the schedule ticker.
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/flags.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "common/redis_queue.h"
#include "common/sealing.h"
#include "common/server.h"
#include "rostersync/v1/transfer.grpc.pb.h"
#include "services/scheduler/clock.h"
#include "services/scheduler/integration_service.h"
#include "services/scheduler/integration_store.h"
#include "services/scheduler/metrics_sampler.h"
#include "services/scheduler/outbox_relay.h"
#include "services/scheduler/run_orchestrator.h"
#include "services/scheduler/run_service.h"
#include "services/scheduler/schedule_ticker.h"
#include "services/scheduler/scheduler_metrics.h"

namespace {

int Fail(const std::string& message) {
  rostersync::log::Error(message);
  std::cerr << "rostersync-scheduler: " << message << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace rostersync;
  using namespace rostersync::scheduler;
  InitService("scheduler");

  Flags flags("rostersync-scheduler");
  auto* grpc_address = flags.String("grpc_address", "127.0.0.1:50064", "gRPC listen address");
  auto* metrics_address =
      flags.String("metrics_address", "127.0.0.1:9464", "Prometheus /metrics listen address");
  auto* redis = flags.String("redis", "127.0.0.1:6379", "Redis host:port");
  auto* postgres = flags.String("postgres", "", "PostgreSQL libpq conninfo");
  auto* transfer_address =
      flags.String("transfer_address", "127.0.0.1:50063", "sftp-transfer service address");
  auto* master_key_file =
      flags.String("master_key_file", "",
                   "file holding the 32-byte master key (else env ROSTERSYNC_MASTER_KEY)");
  auto* tick_interval_ms =
      flags.Int("tick_interval_ms", 5000, "schedule tick interval", 10, 3600 * 1000);
  auto* consumer_name = flags.String("consumer_name", "", "Redis consumer name (default host-pid)");
  auto* pg_pool_size = flags.Int("pg_pool_size", 4, "PostgreSQL connections", 1, 64);
  flags.AddCheck([postgres] {
    return postgres->empty() ? absl::InvalidArgumentError("--postgres: required (libpq conninfo)")
                             : absl::OkStatus();
  });
  flags.AddCheck([transfer_address] {
    return transfer_address->empty() ? absl::InvalidArgumentError("--transfer_address: required")
                                     : absl::OkStatus();
  });
  flags.ParseOrExit(argc, argv);

  auto redis_options = ParseRedisAddress(*redis, "--redis");
  if (!redis_options.ok()) return Fail(std::string(redis_options.status().message()));
  auto sealer = Sealer::Load(*master_key_file, "ROSTERSYNC_MASTER_KEY");
  if (!sealer.ok()) {
    return Fail(absl::StrCat("master key (--master_key_file or ROSTERSYNC_MASTER_KEY): ",
                             sealer.status().message()));
  }
  auto pool = PgPool::Connect(*postgres, static_cast<int>(*pg_pool_size));
  if (!pool.ok()) return Fail(absl::StrCat("--postgres: ", pool.status().message()));
  if (absl::Status s = ApplySchedulerMigrations(**pool); !s.ok()) {
    return Fail(absl::StrCat("schema migrations: ", s.message()));
  }

  SystemClock clock;
  SchedulerMetrics metrics(*MetricsRegistry());
  auto transfer_stub = v1::TransferService::NewStub(MakeChannel(*transfer_address));
  IntegrationService integrations(pool->get(), &*sealer, &clock, transfer_stub.get());
  RunOrchestrator orchestrator(pool->get(), &clock, &metrics);
  RunService runs(pool->get(), &orchestrator);
  IntegrationGrpcService integration_grpc(&integrations);
  RunGrpcService run_grpc(&runs);

  RedisPublisher publisher(*redis_options);
  OutboxRelay relay(pool->get(), &publisher, &clock);
  ScheduleTicker ticker(&orchestrator, absl::Milliseconds(*tick_interval_ms));
  MetricsSampler sampler(pool->get(), *redis_options, &metrics, absl::Seconds(5));
  ConsumerOptions consumer_options;
  consumer_options.stream = kEventsStream;
  consumer_options.group = "scheduler";
  consumer_options.consumer = consumer_name->empty() ? DefaultConsumerName() : *consumer_name;
  StreamConsumer events(*redis_options, consumer_options, [&orchestrator](const Delivery& d) {
    return orchestrator.HandleDelivery(d);
  });

  ServerOptions server_options;
  server_options.service_name = "scheduler";
  server_options.grpc_address = *grpc_address;
  server_options.metrics_address = *metrics_address;
  auto runner = ServiceRunner::Start(server_options, {&integration_grpc, &run_grpc});
  if (!runner.ok()) return Fail(std::string(runner.status().message()));

  relay.Start();
  ticker.Start();
  sampler.Start();
  events.Start();
  (*runner)->AddStopHook([&] {
    events.Stop();
    ticker.Stop();
    sampler.Stop();
    relay.Stop();
  });
  return (*runner)->WaitForTermination();
}
