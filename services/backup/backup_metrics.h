#pragma once

// Prometheus metrics of the backup service, registered once on rostersync::MetricsRegistry().
#include <prometheus/counter.h>
#include <prometheus/family.h>

#include <string>

#include "rostersync/v1/common.pb.h"

namespace rostersync::backup {

class BackupMetrics {
 public:
  static BackupMetrics& Get();

  // rostersync_archive_bytes_written_total{kind}
  prometheus::Counter& BytesWritten(v1::FileKind kind);
  // rostersync_archive_files_total{kind}
  prometheus::Counter& FilesWritten(v1::FileKind kind);
  // rostersync_archive_corruptions_total: blobs found missing or not matching their SHA-256.
  prometheus::Counter& Corruptions() { return *corruptions_; }

 private:
  BackupMetrics();
  prometheus::Family<prometheus::Counter>* bytes_written_;
  prometheus::Family<prometheus::Counter>* files_;
  prometheus::Counter* corruptions_;
};

// "source", "backup", "export", "error_report" (the label value of a kind).
std::string KindLabel(v1::FileKind kind);

}  // namespace rostersync::backup
