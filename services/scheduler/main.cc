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
#include "rostersync/v1/roster.grpc.pb.h"
#include "rostersync/v1/transfer.grpc.pb.h"
#include "services/scheduler/clock.h"
#include "services/scheduler/integration_service.h"
#include "services/scheduler/integration_store.h"
#include "services/scheduler/metrics_sampler.h"
#include "services/scheduler/outbox_relay.h"
#include "services/scheduler/periodic_thread.h"
#include "services/scheduler/run_orchestrator.h"
#include "services/scheduler/run_service.h"
#include "services/scheduler/run_store.h"
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
  auto* previous_master_key_file = flags.String(
      "previous_master_key_file", "",
      "comma-separated files of previous master keys, accepted for opening credentials during "
      "a key rotation until ResealCredentials moved them all (also env "
      "ROSTERSYNC_PREVIOUS_MASTER_KEY)");
  auto* tick_interval_ms =
      flags.Int("tick_interval_ms", 5000, "schedule tick interval", 10, 3600 * 1000);
  auto* misfire_window_s = flags.Int(
      "misfire_window_s", 3600,
      "after downtime, the most recent missed schedule slot still runs (once) when at most "
      "this old; older misses are recorded as SKIPPED runs (an integration may override it)",
      60, 7 * 24 * 3600);
  auto* roster_address = flags.String(
      "roster_address", "127.0.0.1:50062",
      "roster service address (ApproveRun passes through to its ApproveDeletions)");
  auto* roster_timeout_s = flags.Int("roster_timeout_s", 600,
                                     "deadline of an ApproveDeletions call", 1, 24 * 3600);
  auto* step_max_attempts = flags.Int(
      "step_max_attempts", 3,
      "attempts per run step (first included) when a worker reports a retryable failure", 1, 20);
  auto* retry_initial_ms = flags.Int("retry_initial_ms", 30000,
                                     "backoff before a step's first retry (doubles each retry, "
                                     "upper half random)",
                                     10, 3600 * 1000);
  auto* retry_max_ms = flags.Int("retry_max_ms", 600000, "longest backoff between step retries",
                                 10, 24 * 3600 * 1000);
  auto* run_timeout_s = flags.Int(
      "run_timeout_s", 4 * 3600,
      "a run not finished this long after it was created fails (\"timed out after ...\")", 1,
      7 * 24 * 3600);
  auto* expire_interval_ms = flags.Int("expire_interval_ms", 30000,
                                       "how often the run timeout pass runs", 10, 3600 * 1000);
  auto* consumer_name = flags.String("consumer_name", "", "Redis consumer name (default host-pid)");
  auto* pg_pool_size = flags.Int("pg_pool_size", 4, "PostgreSQL connections", 1, 64);
  flags.AddCheck([postgres] {
    return postgres->empty() ? absl::InvalidArgumentError("--postgres: required (libpq conninfo)")
                             : absl::OkStatus();
  });
  flags.AddCheck([roster_address] {
    return roster_address->empty() ? absl::InvalidArgumentError("--roster_address: required")
                                   : absl::OkStatus();
  });
  flags.AddCheck([retry_initial_ms, retry_max_ms] {
    return *retry_max_ms < *retry_initial_ms
               ? absl::InvalidArgumentError("--retry_max_ms: must be >= --retry_initial_ms")
               : absl::OkStatus();
  });
  flags.AddCheck([transfer_address] {
    return transfer_address->empty() ? absl::InvalidArgumentError("--transfer_address: required")
                                     : absl::OkStatus();
  });
  flags.ParseOrExit(argc, argv);

  auto redis_options = ParseRedisAddress(*redis, "--redis");
  if (!redis_options.ok()) return Fail(std::string(redis_options.status().message()));
  auto sealer = Sealer::LoadKeyRing(*master_key_file, "ROSTERSYNC_MASTER_KEY",
                                    *previous_master_key_file, "ROSTERSYNC_PREVIOUS_MASTER_KEY");
  if (!sealer.ok()) {
    return Fail(absl::StrCat("master key (--master_key_file or ROSTERSYNC_MASTER_KEY, "
                             "--previous_master_key_file or ROSTERSYNC_PREVIOUS_MASTER_KEY): ",
                             sealer.status().message()));
  }
  auto pool = PgPool::Connect(*postgres, static_cast<int>(*pg_pool_size));
  if (!pool.ok()) return Fail(absl::StrCat("--postgres: ", pool.status().message()));
  if (absl::Status s = ApplyOrchestrationMigrations(**pool); !s.ok()) {
    return Fail(absl::StrCat("schema migrations: ", s.message()));
  }

  SetDefaultMisfireWindow(absl::Seconds(*misfire_window_s));
  SystemClock clock;
  SchedulerMetrics metrics(*MetricsRegistry());
  auto transfer_stub = v1::TransferService::NewStub(MakeChannel(*transfer_address));
  IntegrationService integrations(pool->get(), &*sealer, &clock, transfer_stub.get());
  OrchestratorOptions orchestrator_options;
  orchestrator_options.step_max_attempts = static_cast<int>(*step_max_attempts);
  orchestrator_options.retry_initial = absl::Milliseconds(*retry_initial_ms);
  orchestrator_options.retry_max = absl::Milliseconds(*retry_max_ms);
  orchestrator_options.run_timeout = absl::Seconds(*run_timeout_s);
  RunOrchestrator orchestrator(pool->get(), &clock, &metrics, orchestrator_options);
  auto roster_stub = v1::RosterService::NewStub(MakeChannel(*roster_address));
  RunService runs(pool->get(), &orchestrator, roster_stub.get(),
                  absl::Seconds(*roster_timeout_s));
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
  // Jobs that workers could not finish: their runs fail with the reason.
  DeadLetterConsumer dead_transfer_jobs(&orchestrator, *redis_options, kTransferJobsStream,
                                        consumer_options.consumer);
  DeadLetterConsumer dead_roster_jobs(&orchestrator, *redis_options, kRosterJobsStream,
                                      consumer_options.consumer);
  // Runs past --run_timeout_s fail.
  const absl::Duration expire_interval = absl::Milliseconds(*expire_interval_ms);
  PeriodicThread expirer([&orchestrator, expire_interval] {
    auto expired = orchestrator.ExpireOnce();
    if (!expired.ok()) {
      log::Warn(absl::StrCat("run timeout pass: ", expired.status().message()));
    }
    return expire_interval;
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
  dead_transfer_jobs.Start();
  dead_roster_jobs.Start();
  expirer.Start();
  (*runner)->AddStopHook([&] {
    events.Stop();
    dead_transfer_jobs.Stop();
    dead_roster_jobs.Stop();
    expirer.Stop();
    ticker.Stop();
    sampler.Stop();
    relay.Stop();
  });
  return (*runner)->WaitForTermination();
}
