#pragma once

// Metrics of the sftp-transfer service, registered on rostersync::MetricsRegistry():
//   rostersync_sftp_bytes_total{direction="download|upload"}
//   rostersync_sftp_errors_total{operation="connect|auth|host_key|list|download|upload|remove|
//     rename|keepalive"}
//   rostersync_sftp_host_key_mismatches_total
//   rostersync_sftp_extra_streams_total{direction="download|upload",outcome="opened|refused"}
//     (extra connections of a striped transfer; refused ones do not fail the transfer)
//   rostersync_transfer_jobs_total{op="fetch|upload",outcome="fetched|no_new_file|uploaded|failed|
//     failed_retryable|retry|attempt_retry"} (attempt_retry: a transient failure retried within
//     the job; failed_retryable: still failing after those, handed to the scheduler's step
//     retry; retry: the job's result could not be recorded or published, left for redelivery)
#include <prometheus/counter.h>
#include <prometheus/family.h>

#include <string_view>

namespace rostersync::transfer {

class SftpMetrics {
 public:
  static SftpMetrics& Get();

  void AddDownloadBytes(double bytes) { download_bytes_.Increment(bytes); }
  void AddUploadBytes(double bytes) { upload_bytes_.Increment(bytes); }
  void Error(std::string_view operation);
  void HostKeyMismatch() { host_key_mismatches_.Increment(); }
  void Job(std::string_view op, std::string_view outcome);
  void ExtraStreams(std::string_view direction, int opened, int refused);

 private:
  SftpMetrics();
  prometheus::Family<prometheus::Counter>& bytes_;
  prometheus::Counter& download_bytes_;
  prometheus::Counter& upload_bytes_;
  prometheus::Family<prometheus::Counter>& errors_;
  prometheus::Counter& host_key_mismatches_;
  prometheus::Family<prometheus::Counter>& jobs_;
  prometheus::Family<prometheus::Counter>& extra_streams_;
};

}  // namespace rostersync::transfer
