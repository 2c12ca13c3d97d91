#include "services/backup/backup_metrics.h"

#include <prometheus/registry.h>

#include "common/metrics.h"

namespace rostersync::backup {

std::string KindLabel(v1::FileKind kind) {
  switch (kind) {
    case v1::FILE_KIND_SOURCE:
      return "source";
    case v1::FILE_KIND_BACKUP:
      return "backup";
    case v1::FILE_KIND_EXPORT:
      return "export";
    case v1::FILE_KIND_ERROR_REPORT:
      return "error_report";
    default:
      return "unspecified";
  }
}

BackupMetrics& BackupMetrics::Get() {
  static BackupMetrics* metrics = new BackupMetrics();
  return *metrics;
}

BackupMetrics::BackupMetrics() {
  auto registry = MetricsRegistry();
  bytes_written_ = &prometheus::BuildCounter()
                        .Name("rostersync_archive_bytes_written_total")
                        .Help("Bytes of files stored in the archive, by file kind.")
                        .Register(*registry);
  files_ = &prometheus::BuildCounter()
                .Name("rostersync_archive_files_total")
                .Help("Files stored in the archive, by file kind.")
                .Register(*registry);
  corruptions_ = &prometheus::BuildCounter()
                      .Name("rostersync_archive_corruptions_total")
                      .Help("Archive blobs found missing or not matching their SHA-256.")
                      .Register(*registry)
                      .Add({});
  // Every kind from the start, so that dashboards and rate() see zeros rather than gaps.
  for (v1::FileKind kind : {v1::FILE_KIND_SOURCE, v1::FILE_KIND_BACKUP, v1::FILE_KIND_EXPORT,
                            v1::FILE_KIND_ERROR_REPORT}) {
    BytesWritten(kind);
    FilesWritten(kind);
  }
}

prometheus::Counter& BackupMetrics::BytesWritten(v1::FileKind kind) {
  return bytes_written_->Add({{"kind", KindLabel(kind)}});
}

prometheus::Counter& BackupMetrics::FilesWritten(v1::FileKind kind) {
  return files_->Add({{"kind", KindLabel(kind)}});
}

}  // namespace rostersync::backup
