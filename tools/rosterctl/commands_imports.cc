// rosterctl imports list|show|preview|upload|errors|approve, and how imports are printed.
#include <map>
#include <optional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "tools/rosterctl/command_runner.h"
#include "tools/rosterctl/commands.h"
#include "tools/rosterctl/table_printer.h"

namespace rostersync::rosterctl {
namespace internal {

std::string ImportStatusName(v1::ImportStatus status) {
  switch (status) {
    case v1::IMPORT_STATUS_APPLIED:
      return "applied";
    case v1::IMPORT_STATUS_REJECTED:
      return "rejected";
    case v1::IMPORT_STATUS_FAILED:
      return "failed";
    case v1::IMPORT_STATUS_HELD:
      return "held";
    case v1::IMPORT_STATUS_PREVIEW:
      return "preview";
    default:
      return "-";
  }
}

void AddImportCounts(KeyValuePrinter& kv, const v1::ImportSummary& s) {
  kv.Add("Import", OrDash(s.import_id()));
  kv.Add("Import status", ImportStatusName(s.status()));
  kv.Add("Rows read", absl::StrCat(s.rows_read()));
  kv.Add("Added", absl::StrCat(s.added()));
  kv.Add("Updated", absl::StrCat(s.updated()));
  kv.Add("Deleted", absl::StrCat(s.deleted()));
  kv.Add("Deactivated", absl::StrCat(s.deactivated()));
  kv.Add("Unchanged", absl::StrCat(s.unchanged()));
  kv.Add("Rejected rows", absl::StrCat(s.rejected_rows()));
  if (s.held() > 0 || s.status() == v1::IMPORT_STATUS_HELD) {
    kv.Add("Held removals", absl::StrCat(s.held()));
    kv.Add("Held reason", OrDash(s.held_reason()));
  }
  if (s.has_approved_at()) kv.Add("Approved", FormatTimestamp(s.approved_at()));
  kv.Add("Source file", OrDash(s.source_file_id()));
  kv.Add("Backup file", OrDash(s.backup_file_id()));
  if (!s.error_report_file_id().empty()) kv.Add("Error report", s.error_report_file_id());
  if (!s.diff_file_id().empty()) kv.Add("Diff file", s.diff_file_id());
  if (!s.source().empty()) kv.Add("Source", s.source());
  if (!s.message().empty()) kv.Add("Message", s.message());
}

namespace {

std::string ChangeKindName(v1::ChangeKind kind) {
  std::string name = v1::ChangeKind_Name(kind);
  constexpr absl::string_view kPrefix = "CHANGE_KIND_";
  if (absl::StartsWith(name, kPrefix)) name = name.substr(kPrefix.size());
  return absl::AsciiStrToLower(name);
}

// What a hint about a HELD import says: how many removals wait, why, and the command.
std::string HeldHint(const v1::ImportSummary& s) {
  if (s.status() != v1::IMPORT_STATUS_HELD) return "";
  return absl::StrCat("\n", s.held(), " removals are held for approval: ",
                      SanitizeCell(s.held_reason().empty() ? "-" : s.held_reason()),
                      "\nAdds and updates were applied. Review with `rosterctl imports show ",
                      SanitizeCell(s.import_id()),
                      "`; apply the held removals with "
                      "`rosterctl imports approve ",
                      SanitizeCell(s.import_id()), "`.\n");
}

std::string HeaderNotes(const v1::ImportSummary& s) {
  if (s.header_notes().empty()) return "";
  std::string text = "\nHeader notes:\n";
  for (const std::string& note : s.header_notes()) {
    absl::StrAppend(&text, "  - ", SanitizeCell(note), "\n");
  }
  return text;
}

// One line about a person in an example: name and email.
std::string PersonLabel(const v1::Person& p) {
  std::string name = absl::StrCat(p.first_name(), p.first_name().empty() ? "" : " ", p.last_name());
  if (!p.email().empty()) absl::StrAppend(&name, name.empty() ? "" : " ", "<", p.email(), ">");
  return name;
}

}  // namespace

std::string FormatRowErrors(const v1::ImportSummary& s) {
  if (s.errors().empty()) return "";
  TablePrinter t({"LINE", "COLUMN", "VALUE", "REASON"});
  for (const v1::RowError& e : s.errors()) {
    t.AddRow({absl::StrCat(e.line()), OrDash(e.column()), e.value(), e.reason()});
  }
  // A rejected row may have several errors; the summary carries at most the first 100 errors.
  std::string text =
      absl::StrCat("\nRow errors (first ", s.errors_size(), " shown; ", s.rejected_rows(),
                   s.rejected_rows() == 1 ? " row" : " rows",
                   " rejected; the full list: rosterctl imports errors IMPORT_ID):\n");
  return text + t.Render();
}

absl::Status Runner::ImportsList() {
  ASSIGN_OR_RETURN(int64_t limit, Limit(50));
  v1::ListImportsRequest base;
  base.set_tenant_id(Tenant());
  base.set_integration_id(args_.Get("--integration"));
  return List(
      limit, 500, ctx_.stubs->roster.get(), &v1::RosterService::StubInterface::ListImports, base,
      [](v1::ListImportsResponse& r) { return r.mutable_imports(); },
      {"IMPORT", "INTEGRATION", "RUN", "STATUS", "ROWS", "ADDED", "UPDATED", "DELETED",
       "DEACTIVATED", "UNCHANGED", "REJECTED", "HELD", "STARTED"},
      [](const v1::ImportSummary& s) -> std::vector<std::string> {
        return {s.import_id(),
                OrDash(s.integration_id()),
                OrDash(s.run_id()),
                ImportStatusName(s.status()),
                absl::StrCat(s.rows_read()),
                absl::StrCat(s.added()),
                absl::StrCat(s.updated()),
                absl::StrCat(s.deleted()),
                absl::StrCat(s.deactivated()),
                absl::StrCat(s.unchanged()),
                absl::StrCat(s.rejected_rows()),
                absl::StrCat(s.held()),
                FormatTimestamp(s.started_at())};
      },
      "imports");
}

absl::StatusOr<v1::ImportSummary> Runner::GetImport(const std::string& import_id) {
  v1::GetImportRequest request;
  request.set_tenant_id(Tenant());
  request.set_import_id(import_id);
  v1::ImportSummary s;
  RETURN_IF_ERROR(
      Call(ctx_.stubs->roster.get(), &v1::RosterService::StubInterface::GetImport, request, &s));
  return s;
}

absl::Status Runner::ImportsShow() {
  ASSIGN_OR_RETURN(v1::ImportSummary s, GetImport(args_.positionals[0]));
  return PrintImportResult(s, /*diff=*/false);
}

absl::Status Runner::PrintImportResult(const v1::ImportSummary& s, bool diff,
                                       absl::string_view preface) {
  if (Json()) return PrintJson(s);
  out_ << preface << (diff ? FormatDiff(s) : FormatImportSummary(s));
  return absl::OkStatus();
}

absl::Status Runner::ImportOutcome(const v1::ImportSummary& s, absl::string_view what) {
  if (s.status() != v1::IMPORT_STATUS_REJECTED && s.status() != v1::IMPORT_STATUS_FAILED) {
    return absl::OkStatus();
  }
  std::string message = absl::StrCat(
      what, " ", s.import_id().empty() ? "" : s.import_id(), s.import_id().empty() ? "" : " ",
      s.status() == v1::IMPORT_STATUS_REJECTED ? "was rejected" : "failed");
  if (!s.message().empty()) absl::StrAppend(&message, ": ", SanitizeCell(s.message()));
  if (!s.error_report_file_id().empty()) {
    absl::StrAppend(&message, " (error report: rosterctl imports errors ", s.import_id(), ")");
  }
  return OutcomeFailure(message);
}

absl::Status Runner::ImportsPreviewOrUpload(bool preview) {
  const std::string& path = args_.positionals[0];
  // A file that cannot be read fails before any call is made.
  const absl::Status readable = StreamLocalFile(path, 1, [](absl::string_view) {
    return absl::CancelledError("readable");  // one byte read is enough to know
  });
  if (!readable.ok() && !absl::IsCancelled(readable)) return readable;
  std::optional<v1::Integration> integration;
  if (args_.Has("--integration")) {
    ASSIGN_OR_RETURN(integration, GetIntegration(args_.Get("--integration")));
  }
  ASSIGN_OR_RETURN(v1::UploadRosterHeader header,
                   BuildUploadHeader(args_, integration ? &*integration : nullptr, preview));
  header.set_tenant_id(Tenant());
  ASSIGN_OR_RETURN(v1::ImportSummary summary, UploadRoster(path, header));
  RETURN_IF_ERROR(PrintImportResult(summary, /*diff=*/preview));
  return ImportOutcome(summary, preview ? "the preview of import" : "import");
}

absl::StatusOr<v1::ImportSummary> Runner::UploadRoster(const std::string& path,
                                                       const v1::UploadRosterHeader& header) {
  grpc::ClientContext c;
  SetDeadline(&c, Deadline::kLong);  // bounds the whole upload and import
  v1::ImportSummary summary;
  std::unique_ptr<grpc::ClientWriterInterface<v1::UploadRosterRequest>> writer =
      ctx_.stubs->roster->UploadRoster(&c, &summary);
  v1::UploadRosterRequest first;
  *first.mutable_header() = header;
  bool stream_open = writer->Write(first);
  absl::Status local;
  if (stream_open) {
    local = StreamLocalFile(path, 256 * 1024, [&](absl::string_view chunk) -> absl::Status {
      v1::UploadRosterRequest part;
      part.set_chunk(std::string(chunk));
      if (!writer->Write(part)) {
        stream_open = false;  // the server ended the call; Finish() says why
        return absl::CancelledError("stream closed");
      }
      return absl::OkStatus();
    });
    if (absl::IsCancelled(local) && !stream_open) local = absl::OkStatus();
  }
  if (!local.ok()) {
    c.TryCancel();
    writer->Finish();
    return local;
  }
  if (stream_open) writer->WritesDone();
  RETURN_IF_ERROR(FromGrpc(writer->Finish()));
  return summary;
}

absl::Status Runner::ImportsErrors() {
  const std::string& import_id = args_.positionals[0];
  ASSIGN_OR_RETURN(v1::ImportSummary s, GetImport(import_id));
  if (s.error_report_file_id().empty()) {
    return OutcomeFailure(absl::StrCat(
        "import ", SanitizeCell(import_id), " has no error report (", s.rejected_rows(),
        " rejected rows",
        s.rejected_rows() > 0 ? "; the first are listed by `rosterctl imports show`" : "", ")"));
  }
  return DownloadFile(s.error_report_file_id(), args_.Get("-o"));
}

absl::Status Runner::ImportsApprove() {
  v1::ApproveDeletionsRequest request;
  request.set_tenant_id(Tenant());
  request.set_import_id(args_.positionals[0]);
  v1::ImportSummary s;
  RETURN_IF_ERROR(Call(ctx_.stubs->roster.get(),
                       &v1::RosterService::StubInterface::ApproveDeletions, request, &s,
                       Deadline::kLong));
  return PrintImportResult(
      s, /*diff=*/false,
      absl::StrCat("Approved the held removals of import ", SanitizeCell(s.import_id()), ": ",
                   s.deleted(), " deleted, ", s.deactivated(), " deactivated\n\n"));
}

}  // namespace internal

absl::Status ApplyPolicyOptions(const ParsedArgs& args, v1::ImportPolicy* policy) {
  if (args.Has("--sync")) {
    ASSIGN_OR_RETURN(v1::SyncPolicy sync, ParseSyncPolicy(args.Get("--sync"), "--sync"));
    policy->set_sync_policy(sync);
  }
  if (args.Has("--encoding")) {
    const std::string e = absl::AsciiStrToLower(args.Get("--encoding"));
    if (e != "auto" && e != "utf-8" && e != "windows-1252") {
      return UsageError(absl::StrCat("invalid value '", args.Get("--encoding"),
                                     "' for --encoding (expected auto|utf-8|windows-1252)"));
    }
    policy->set_encoding(e);
  }
  if (args.Has("--delimiter")) {
    static const auto* kDelimiters = new std::map<std::string, std::string>{
        {",", ","},    {"comma", ","}, {";", ";"}, {"semicolon", ";"}, {"\t", "\t"},
        {"\\t", "\t"}, {"tab", "\t"},  {"|", "|"}, {"pipe", "|"}};
    auto it = kDelimiters->find(absl::AsciiStrToLower(args.Get("--delimiter")));
    if (it == kDelimiters->end()) {
      return UsageError(absl::StrCat("invalid value '", absl::CEscape(args.Get("--delimiter")),
                                     "' for --delimiter (expected , ; tab or |)"));
    }
    policy->set_delimiter(it->second);
  }
  if (args.Has("--date-format")) {
    if (args.Get("--date-format").find('%') == std::string::npos) {
      return UsageError(absl::StrCat("invalid value '", args.Get("--date-format"),
                                     "' for --date-format (expected a format such as %m/%d/%Y)"));
    }
    policy->set_date_format(args.Get("--date-format"));
  }
  std::set<std::string> typed;  // a repeat on the command line is an error; an integration's
                                // own type is simply overridden
  for (const std::string& a : args.GetAll("--attr-type")) {
    ASSIGN_OR_RETURN(auto kv, ParseKeyValue(a, "--attr-type"));
    if (!typed.insert(kv.first).second) {
      return UsageError(absl::StrCat("--attr-type gives attribute '", kv.first, "' twice"));
    }
    const std::string type = absl::AsciiStrToLower(kv.second);
    if (type != "string" && type != "date" && type != "boolean" && type != "email" &&
        type != "int") {
      return UsageError(absl::StrCat("invalid type '", kv.second, "' for --attr-type ", kv.first,
                                     " (expected string|date|boolean|email|int)"));
    }
    (*policy->mutable_attribute_types())[kv.first] = type;
  }
  if (args.Has("--max-invalid-share")) {
    ASSIGN_OR_RETURN(double v, ParseShare(args.Get("--max-invalid-share"), "--max-invalid-share"));
    policy->set_max_invalid_share(v);
  }
  if (args.Has("--max-removals")) {
    ASSIGN_OR_RETURN(int64_t v, ParseInt(args.Get("--max-removals"), "--max-removals", 0,
                                         std::numeric_limits<int64_t>::max()));
    policy->set_max_removals(v);
  }
  if (args.Has("--max-removal-share")) {
    ASSIGN_OR_RETURN(double v, ParseShare(args.Get("--max-removal-share"), "--max-removal-share"));
    policy->set_max_removal_share(v);
  }
  if (args.Has("--max-row-drop-share")) {
    ASSIGN_OR_RETURN(double v,
                     ParseShare(args.Get("--max-row-drop-share"), "--max-row-drop-share"));
    policy->set_max_row_drop_share(v);
  }
  if (args.Has("--allow-header-change")) policy->set_allow_header_change(true);
  return absl::OkStatus();
}

absl::StatusOr<v1::UploadRosterHeader> BuildUploadHeader(const ParsedArgs& args,
                                                         const v1::Integration* integration,
                                                         bool preview) {
  v1::UploadRosterHeader header;
  header.set_tenant_id(args.global.tenant);
  const std::string& path = args.positionals.at(0);
  const size_t slash = path.find_last_of('/');
  header.set_name(slash == std::string::npos ? path : path.substr(slash + 1));
  if (header.name().empty()) return UsageError(absl::StrCat("'", path, "' is not a file name"));
  if (integration != nullptr) {
    if (integration->direction() != v1::RUN_DIRECTION_IMPORT) {
      return UsageError(absl::StrCat("--integration ", integration->integration_id(),
                                     " is an export integration; give an import integration"));
    }
    const v1::ImportSettings& s = integration->import_settings();
    header.set_integration_id(integration->integration_id());
    *header.mutable_header_map() = s.header_map();
    *header.mutable_policy() = s.policy();
    if (header.policy().sync_policy() == v1::SYNC_POLICY_UNSPECIFIED) {
      header.mutable_policy()->set_sync_policy(s.sync_policy());
    }
  } else if (args.Has("--integration")) {
    header.set_integration_id(args.Get("--integration"));
  }
  if (args.Has("--map")) {
    header.clear_header_map();  // the given mapping replaces the integration's
    RETURN_IF_ERROR(internal::AddHeaderMappings(args, header.mutable_header_map()));
  }
  RETURN_IF_ERROR(ApplyPolicyOptions(args, header.mutable_policy()));
  header.set_preview(preview);
  if (preview) {
    int64_t examples = 10;
    if (args.Has("--examples")) {
      ASSIGN_OR_RETURN(examples, ParseInt(args.Get("--examples"), "--examples", 0, 1000));
    }
    header.set_examples_per_kind(static_cast<int32_t>(examples));
  }
  header.set_request_id(args.Get("--request-id"));
  return header;
}

std::string FormatImportSummary(const v1::ImportSummary& s) {
  KeyValuePrinter kv;
  internal::AddImportCounts(kv, s);
  kv.Add("Integration", OrDash(s.integration_id()));
  kv.Add("Run", OrDash(s.run_id()));
  kv.Add("Started", FormatTimestamp(s.started_at()));
  kv.Add("Finished", FormatTimestamp(s.finished_at()));
  std::string text = kv.Render();
  absl::StrAppend(&text, internal::HeldHint(s), internal::HeaderNotes(s),
                  internal::FormatRowErrors(s));
  if (!s.error_report_file_id().empty() && s.rejected_rows() > s.errors_size()) {
    absl::StrAppend(&text, "Every row error: rosterctl imports errors ",
                    SanitizeCell(s.import_id()), " -o errors.csv\n");
  }
  return text;
}

std::string FormatDiff(const v1::ImportSummary& s) {
  std::string text;
  if (!s.message().empty()) absl::StrAppend(&text, "Message: ", SanitizeCell(s.message()), "\n");
  absl::StrAppend(&text, "Rows read: ", s.rows_read(), "\n\n");
  TablePrinter counts({"CHANGE", "COUNT"});
  counts.AddRow({"added", absl::StrCat(s.added())});
  counts.AddRow({"updated", absl::StrCat(s.updated())});
  counts.AddRow({"deleted", absl::StrCat(s.deleted())});
  counts.AddRow({"deactivated", absl::StrCat(s.deactivated())});
  counts.AddRow({"unchanged", absl::StrCat(s.unchanged())});
  counts.AddRow({"rejected rows", absl::StrCat(s.rejected_rows())});
  absl::StrAppend(&text, counts.Render());
  if (s.held() > 0 || !s.held_reason().empty()) {
    absl::StrAppend(&text, "\nWould hold ", s.held(),
                    " removals for approval: ", SanitizeCell(OrDash(s.held_reason())), "\n");
  }
  if (!s.examples().empty()) {
    TablePrinter t({"KIND", "PERSON", "DETAIL"});
    for (const v1::PersonChange& c : s.examples()) {
      std::string detail;
      switch (c.kind()) {
        case v1::CHANGE_KIND_ADDED:
          detail = internal::PersonLabel(c.after());
          break;
        case v1::CHANGE_KIND_UPDATED:
          detail = absl::StrCat("changed: ", absl::StrJoin(c.changed_fields(), ", "));
          break;
        default:
          detail = internal::PersonLabel(c.has_before() ? c.before() : c.after());
      }
      t.AddRow({internal::ChangeKindName(c.kind()), c.person_id(), detail});
    }
    absl::StrAppend(&text, "\nExamples:\n", t.Render());
  }
  absl::StrAppend(&text, internal::HeaderNotes(s), internal::FormatRowErrors(s));
  if (!s.error_report_file_id().empty()) {
    absl::StrAppend(&text, "\nError report: ", s.error_report_file_id(),
                    " (rosterctl backups download ", s.error_report_file_id(), " -o errors.csv)\n");
  }
  if (!s.diff_file_id().empty()) {
    absl::StrAppend(&text, "\nDiff file: ", s.diff_file_id(), " (rosterctl backups download ",
                    s.diff_file_id(), " -o diff.csv)\n");
  }
  return text;
}

}  // namespace rostersync::rosterctl
