#pragma once

// The roster service's Prometheus metrics, registered on rostersync::MetricsRegistry():
//   rostersync_import_records_total{change="added|updated|deleted|deactivated|unchanged|rejected"}
//   rostersync_imports_total{status="applied|rejected|failed"}
//   rostersync_exports_total{status="rendered|failed"}
#include <string_view>

#include "rostersync/v1/roster.pb.h"

namespace rostersync::roster {

// Counts one finished import (not a replay of an earlier one).
void RecordImportMetrics(const v1::ImportSummary& summary);
// Counts an import that failed internally (nothing applied).
void RecordImportFailure();
void RecordExportMetrics(bool ok);

}  // namespace rostersync::roster
