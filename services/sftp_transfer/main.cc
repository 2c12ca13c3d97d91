// rostersync-sftp-transfer: consumes TransferJobs (fetch from / upload to customers' SFTP
// servers) and serves TransferService (TestConnection, ScanHostKey, Reprocess).
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/archive_client.h"
#include "common/flags.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/redis_queue.h"
#include "common/sealing.h"
#include "common/server.h"
#include "services/sftp_transfer/sftp_client.h"
#include "services/sftp_transfer/transfer_ledger.h"
#include "services/sftp_transfer/transfer_service.h"
#include "services/sftp_transfer/transfer_worker.h"

namespace {

int Die(const std::string& what, const absl::Status& status, int code) {
  rostersync::log::Error(what, {{"error", std::string(status.message())}});
  std::cerr << "rostersync-sftp-transfer: " << what << ": " << status.message() << "\n";
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace rostersync;
  InitService("sftp-transfer");

  Flags flags("rostersync-sftp-transfer");
  auto* grpc_address =
      flags.String("grpc_address", "127.0.0.1:50063", "gRPC listen address (host:port)");
  auto* metrics_address = flags.String("metrics_address", "127.0.0.1:9463",
                                       "Prometheus /metrics listen address; empty disables it");
  auto* redis = flags.String("redis", "127.0.0.1:6379", "Redis host:port (job and event streams)");
  auto* postgres = flags.String("postgres", "", "libpq conninfo of the database (schema transfer)");
  auto* backup_address =
      flags.String("backup_address", "127.0.0.1:50061", "backup service gRPC address");
  auto* master_key_file = flags.String(
      "master_key_file", "",
      "file holding the master key that seals credentials (else env ROSTERSYNC_MASTER_KEY)");
  auto* previous_master_key_file = flags.String(
      "previous_master_key_file", "",
      "comma-separated files of previous master keys, still accepted for opening credentials "
      "during a key rotation (also env ROSTERSYNC_PREVIOUS_MASTER_KEY)");
  auto* consumer_name = flags.String("consumer_name", "",
                                     "unique consumer name in the Redis group (default host-pid)");
  flags.AddCheck([&]() -> absl::Status {
    if (postgres->empty()) return absl::InvalidArgumentError("--postgres must be set");
    return absl::OkStatus();
  });
  flags.AddCheck([&]() -> absl::Status { return ParseRedisAddress(*redis, "--redis").status(); });
  flags.ParseOrExit(argc, argv);
  if (consumer_name->empty()) *consumer_name = DefaultConsumerName();

  auto sealer = Sealer::LoadKeyRing(*master_key_file, "ROSTERSYNC_MASTER_KEY",
                                    *previous_master_key_file, "ROSTERSYNC_PREVIOUS_MASTER_KEY");
  if (!sealer.ok()) return Die("cannot load the master key", sealer.status(), 2);
  auto redis_options = ParseRedisAddress(*redis, "--redis");
  if (!redis_options.ok()) return Die("bad --redis", redis_options.status(), 2);

  auto pool = PgPool::Connect(*postgres, 4);
  if (!pool.ok()) return Die("cannot connect to PostgreSQL (--postgres)", pool.status(), 1);
  auto ledger = transfer::PgTransferLedger::Open(pool->get());
  if (!ledger.ok()) return Die("cannot apply the transfer schema", ledger.status(), 1);

  GrpcArchive archive(MakeChannel(*backup_address), absl::Minutes(30));
  RedisPublisher publisher(*redis_options);
  transfer::Libssh2Connector connector;
  transfer::TransferWorker worker(&connector, &archive, &publisher, ledger->get(), &*sealer);
  transfer::ConnectionTester tester(&connector, &*sealer);
  transfer::TransferServiceImpl service(&tester, ledger->get());

  ServerOptions options;
  options.service_name = "sftp-transfer";
  options.grpc_address = *grpc_address;
  options.metrics_address = *metrics_address;
  auto runner = ServiceRunner::Start(options, {&service});
  if (!runner.ok()) return Die("cannot start the server", runner.status(), 1);

  ConsumerOptions consumer_options;
  consumer_options.stream = kTransferJobsStream;
  consumer_options.group = "sftp-transfer";
  consumer_options.consumer = *consumer_name;
  StreamConsumer consumer(*redis_options, consumer_options,
                          [&](const Delivery& d) { return worker.HandleDelivery(d); });
  consumer.Start();
  (*runner)->AddStopHook([&] { consumer.Stop(); });
  log::Info("sftp-transfer ready",
            {{"grpc_port", std::to_string((*runner)->grpc_port())}, {"consumer", *consumer_name}});
  return (*runner)->WaitForTermination();
}
