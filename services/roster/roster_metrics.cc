#include "services/roster/roster_metrics.h"

#include <prometheus/counter.h>

#include "common/metrics.h"

namespace rostersync::roster {
namespace {

struct Metrics {
  prometheus::Family<prometheus::Counter>& records;
  prometheus::Family<prometheus::Counter>& imports;
  prometheus::Family<prometheus::Counter>& exports;
};

Metrics& Get() {
  static Metrics* m = [] {
    auto& registry = *MetricsRegistry();
    auto* metrics = new Metrics{
        prometheus::BuildCounter()
            .Name("rostersync_import_records_total")
            .Help("Roster records processed by imports, by kind of change")
            .Register(registry),
        prometheus::BuildCounter()
            .Name("rostersync_imports_total")
            .Help("Roster imports finished, by status")
            .Register(registry),
        prometheus::BuildCounter()
            .Name("rostersync_exports_total")
            .Help("Roster exports rendered into the archive, by status")
            .Register(registry),
    };
    // Pre-create the series so that dashboards see zeros rather than gaps.
    for (const char* change :
         {"added", "updated", "deleted", "deactivated", "unchanged", "rejected"}) {
      metrics->records.Add({{"change", change}});
    }
    for (const char* status : {"applied", "rejected", "failed"}) {
      metrics->imports.Add({{"status", status}});
    }
    for (const char* status : {"rendered", "failed"}) metrics->exports.Add({{"status", status}});
    return metrics;
  }();
  return *m;
}

void AddRecords(const char* change, int64_t n) {
  if (n > 0) Get().records.Add({{"change", change}}).Increment(static_cast<double>(n));
}

}  // namespace

void RecordImportMetrics(const v1::ImportSummary& s) {
  AddRecords("added", s.added());
  AddRecords("updated", s.updated());
  AddRecords("deleted", s.deleted());
  AddRecords("deactivated", s.deactivated());
  AddRecords("unchanged", s.unchanged());
  AddRecords("rejected", s.rejected_rows());
  const char* status = s.status() == v1::IMPORT_STATUS_APPLIED    ? "applied"
                       : s.status() == v1::IMPORT_STATUS_REJECTED ? "rejected"
                       : s.status() == v1::IMPORT_STATUS_HELD     ? "held"
                       : s.status() == v1::IMPORT_STATUS_PREVIEW  ? "preview"
                                                                  : "failed";
  Get().imports.Add({{"status", status}}).Increment();
}

void RecordImportFailure() { Get().imports.Add({{"status", "failed"}}).Increment(); }

void RecordExportMetrics(bool ok) {
  Get().exports.Add({{"status", ok ? "rendered" : "failed"}}).Increment();
}

}  // namespace rostersync::roster
