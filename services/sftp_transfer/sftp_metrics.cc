#include "services/sftp_transfer/sftp_metrics.h"

#include <string>

#include "common/metrics.h"

namespace rostersync::transfer {

SftpMetrics& SftpMetrics::Get() {
  static SftpMetrics* metrics = new SftpMetrics();
  return *metrics;
}

SftpMetrics::SftpMetrics()
    : bytes_(prometheus::BuildCounter()
                 .Name("rostersync_sftp_bytes_total")
                 .Help("Bytes moved over SFTP, by direction.")
                 .Register(*MetricsRegistry())),
      download_bytes_(bytes_.Add({{"direction", "download"}})),
      upload_bytes_(bytes_.Add({{"direction", "upload"}})),
      errors_(prometheus::BuildCounter()
                  .Name("rostersync_sftp_errors_total")
                  .Help("SFTP failures, by operation.")
                  .Register(*MetricsRegistry())),
      host_key_mismatches_(prometheus::BuildCounter()
                               .Name("rostersync_sftp_host_key_mismatches_total")
                               .Help("Connections refused because the server's host key did "
                                     "not match the pinned fingerprint.")
                               .Register(*MetricsRegistry())
                               .Add({})),
      jobs_(prometheus::BuildCounter()
                .Name("rostersync_transfer_jobs_total")
                .Help("Transfer jobs handled, by operation and outcome.")
                .Register(*MetricsRegistry())),
      extra_streams_(prometheus::BuildCounter()
                         .Name("rostersync_sftp_extra_streams_total")
                         .Help("Extra SFTP connections of striped transfers, by direction and "
                               "whether the server accepted them.")
                         .Register(*MetricsRegistry())) {}

void SftpMetrics::Error(std::string_view operation) {
  errors_.Add({{"operation", std::string(operation)}}).Increment();
}

void SftpMetrics::Job(std::string_view op, std::string_view outcome) {
  jobs_.Add({{"op", std::string(op)}, {"outcome", std::string(outcome)}}).Increment();
}

void SftpMetrics::ExtraStreams(std::string_view direction, int opened, int refused) {
  if (opened > 0) {
    extra_streams_.Add({{"direction", std::string(direction)}, {"outcome", "opened"}})
        .Increment(opened);
  }
  if (refused > 0) {
    extra_streams_.Add({{"direction", std::string(direction)}, {"outcome", "refused"}})
        .Increment(refused);
  }
}

}  // namespace rostersync::transfer
