#include "services/roster/exporter.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "services/roster/roster_csv.h"
#include "services/roster/roster_metrics.h"

namespace rostersync::roster {
namespace {
constexpr size_t kExportFlushBytes = 64 * 1024;
}  // namespace

absl::StatusOr<std::string> Exporter::Export(const v1::RosterJob& job) {
  if (job.tenant_id().empty() || job.job_id().empty()) {
    return absl::InvalidArgumentError("roster job: tenant_id and job_id are required");
  }
  ASSIGN_OR_RETURN(auto done, store_.FindExport(job.tenant_id(), job.job_id()));
  if (done) return done->file_id;

  absl::StatusOr<std::string> file_id = [&]() -> absl::StatusOr<std::string> {
    v1::PutFileHeader header;
    header.set_tenant_id(job.tenant_id());
    header.set_kind(v1::FILE_KIND_EXPORT);
    header.set_name(job.export_name().empty() ? kDefaultExportName : job.export_name());
    header.set_run_id(job.run_id());
    header.set_integration_id(job.integration_id());
    header.set_content_type("text/csv");
    (*header.mutable_labels())["job_id"] = job.job_id();
    ASSIGN_OR_RETURN(std::unique_ptr<ArchiveWriter> writer, archive_.OpenWriter(header));
    // Streamed from a cursor: memory does not grow with the roster. One REPEATABLE READ
    // snapshot, so that the header's attribute names and the rows agree.
    int64_t people = 0;
    RETURN_IF_ERROR(store_.pool().Transact([&](pqxx::work& txn) -> absl::Status {
      txn.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
      ASSIGN_OR_RETURN(std::vector<std::string> names,
                       RosterStore::AttributeNames(txn, job.tenant_id()));
      std::string buf = ExportHeaderLine(names);
      RETURN_IF_ERROR(RosterStore::StreamPeople(
          txn, job.tenant_id(), [&](const v1::Person& p) -> absl::Status {
            ++people;
            buf += ExportLine(p, names);
            if (buf.size() < kExportFlushBytes) return absl::OkStatus();
            absl::Status s = writer->Write(buf);
            buf.clear();
            return s;
          }));
      return buf.empty() ? absl::OkStatus() : writer->Write(buf);
    }));
    ASSIGN_OR_RETURN(v1::FileInfo info, writer->Finish());
    ASSIGN_OR_RETURN(ExportRecord record,
                     store_.RecordExport({job.job_id(), job.tenant_id(), info.file_id()}));
    log::Info("roster exported", {{"tenant", job.tenant_id()},
                                  {"run_id", job.run_id()},
                                  {"file_id", record.file_id},
                                  {"people", std::to_string(people)}});
    return record.file_id;
  }();
  RecordExportMetrics(file_id.ok());
  return file_id;
}

}  // namespace rostersync::roster
