// rostersync-backup: the file archive (blobs on --archive_dir, metadata in PostgreSQL).
#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/flags.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/server.h"
#include "services/backup/backup_service.h"
#include "services/backup/blob_store.h"
#include "services/backup/file_catalog.h"

namespace {

template <typename T>
T OrExit(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) {
    rostersync::log::Error(absl::StrCat("cannot start: ", what),
                           {{"error", std::string(v.status().message())}});
    std::exit(1);
  }
  return *std::move(v);
}

}  // namespace

int main(int argc, char** argv) {
  rostersync::InitService("backup");
  rostersync::Flags flags("rostersync-backup");
  auto* grpc_address =
      flags.String("grpc_address", "127.0.0.1:50061", "gRPC listen address (host:port)");
  auto* metrics_address = flags.String("metrics_address", "127.0.0.1:9461",
                                       "Prometheus /metrics listen address; empty disables");
  auto* postgres = flags.String("postgres", "", "libpq conninfo of the PostgreSQL database");
  auto* archive_dir = flags.String("archive_dir", "", "folder holding the archive's blobs");
  auto* pg_connections = flags.Int("pg_connections", 4, "PostgreSQL connections", 1, 64);
  flags.AddCheck([&] {
    return postgres->empty() ? absl::InvalidArgumentError("--postgres: required")
                             : absl::OkStatus();
  });
  flags.AddCheck([&] {
    return archive_dir->empty() ? absl::InvalidArgumentError("--archive_dir: required")
                                : absl::OkStatus();
  });
  flags.ParseOrExit(argc, argv);

  auto blobs = OrExit(rostersync::backup::BlobStore::Open(*archive_dir), "--archive_dir");
  auto pool = OrExit(rostersync::PgPool::Connect(*postgres, static_cast<int>(*pg_connections)),
                     "--postgres");
  auto catalog = OrExit(rostersync::backup::FileCatalog::Create(pool.get()),
                        "schema migrations of \"backup\"");
  rostersync::backup::BackupService service(blobs.get(), catalog.get());

  rostersync::ServerOptions options;
  options.service_name = "backup";
  options.grpc_address = *grpc_address;
  options.metrics_address = *metrics_address;
  auto runner = OrExit(rostersync::ServiceRunner::Start(options, {&service}), "gRPC server");
  rostersync::log::Info("backup service ready", {{"grpc_port", std::to_string(runner->grpc_port())},
                                                 {"archive_dir", *archive_dir}});
  return runner->WaitForTermination();
}
