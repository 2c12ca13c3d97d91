#include "tools/rosterctl/commands.h"

#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
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
#include "tools/rosterctl/table_printer.h"

namespace rostersync::rosterctl {
namespace {

constexpr size_t kMaxSecretBytes = 64 * 1024;
constexpr absl::Duration kLongCallTimeout = absl::Hours(1);
constexpr char kOutcomePayload[] = "type.rostersync.dev/rosterctl.Outcome";

// A failure that is not an error of a call: a run that ended FAILED, a connection test that
// failed. Printed as "rosterctl: <command>: <message>" without a code.
absl::Status OutcomeFailure(absl::string_view message) {
  absl::Status status = absl::AbortedError(message);
  status.SetPayload(kOutcomePayload, absl::Cord("1"));
  return status;
}
bool IsOutcomeFailure(const absl::Status& status) {
  return status.GetPayload(kOutcomePayload).has_value();
}

// gRPC and Abseil share their code numbers.
absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

class Runner {
 public:
  Runner(const ParsedArgs& args, CommandContext& ctx)
      : args_(args), ctx_(ctx), out_(*ctx.out), err_(*ctx.err) {}

  absl::Status Run();

 private:
  bool Json() const { return args_.global.output == OutputFormat::kJson; }
  const std::string& Tenant() const { return args_.global.tenant; }
  void SetDeadline(grpc::ClientContext* c) const {
    c->set_deadline(absl::ToChronoTime(absl::Now() + args_.global.timeout));
  }
  // Imports and restores of large rosters take minutes: an hour unless --timeout was given.
  void SetLongDeadline(grpc::ClientContext* c) const {
    const absl::Duration d =
        args_.global.timeout_explicit ? args_.global.timeout : kLongCallTimeout;
    c->set_deadline(absl::ToChronoTime(absl::Now() + d));
  }
  absl::Status PrintJson(const google::protobuf::Message& message);
  absl::StatusOr<int64_t> Limit(int64_t fallback) const;

  absl::Status IntegrationsCreate();
  absl::Status IntegrationsList();
  absl::Status IntegrationsShow();
  absl::Status IntegrationsTest();
  absl::Status IntegrationsScanHostKey();
  absl::Status RunsTrigger();
  absl::Status RunsShow();
  absl::Status RunsList();
  absl::Status PeopleList();
  absl::Status PeopleShow();
  absl::Status PeopleAssignSeat();
  absl::Status ImportsList();
  absl::Status ImportsShow();
  absl::Status ImportsPreviewOrUpload(bool preview);
  absl::Status ImportsErrors();
  absl::Status ImportsApprove();
  absl::Status BackupsList();
  absl::Status BackupsDownload();
  absl::Status BackupsRestore();

  // Downloads archived file `file_id` into `path` ("" or "-": the output stream), verified.
  absl::Status DownloadFile(const std::string& file_id, const std::string& path);
  // The outcome of an import-like call: exit 1 (an outcome failure) if REJECTED or FAILED.
  absl::Status ImportOutcome(const v1::ImportSummary& s, absl::string_view what);

  absl::Status PrintIntegration(const v1::Integration& integration);
  absl::Status PrintPerson(const v1::Person& person);

  const ParsedArgs& args_;
  CommandContext& ctx_;
  std::ostream& out_;
  std::ostream& err_;
};

absl::Status Runner::PrintJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("cannot render JSON: ", status.ToString()));
  }
  out_ << json << "\n";
  return absl::OkStatus();
}

absl::StatusOr<int64_t> Runner::Limit(int64_t fallback) const {
  if (!args_.Has("--limit")) return fallback;
  return ParseInt(args_.Get("--limit"), "--limit", 1, 100000);
}

// Pages through a list call until `limit` items or the last page. `call` fetches one page of
// at most `page_size` for `token`, appends its items to the result and returns the next token.
absl::Status Paginate(int64_t limit, int max_page,
                      const std::function<absl::StatusOr<std::string>(
                          const std::string& token, int page_size, int64_t* received)>& call,
                      std::string* next_token) {
  std::string token;
  int64_t total = 0;
  do {
    const int page_size = static_cast<int>(std::min<int64_t>(limit - total, max_page));
    int64_t received = 0;
    ASSIGN_OR_RETURN(token, call(token, page_size, &received));
    total += received;
    if (received == 0) break;  // a server that returns empty pages with a token: stop
  } while (!token.empty() && total < limit);
  *next_token = token;
  return absl::OkStatus();
}

std::string YesNo(bool b) { return b ? "yes" : "no"; }

std::string CredentialKindName(v1::CredentialKind kind) {
  switch (kind) {
    case v1::CREDENTIAL_KIND_PASSWORD:
      return "password";
    case v1::CREDENTIAL_KIND_PRIVATE_KEY:
      return "private key";
    default:
      return "-";
  }
}

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

std::string TriggerName(v1::RunTrigger trigger) {
  switch (trigger) {
    case v1::RUN_TRIGGER_MANUAL:
      return "manual";
    case v1::RUN_TRIGGER_SCHEDULE:
      return "schedule";
    default:
      return "-";
  }
}

std::string ShortSha(const std::string& sha) { return sha.size() > 12 ? sha.substr(0, 12) : sha; }

std::string Endpoint(const v1::SftpEndpoint& e) {
  if (e.host().empty()) return "-";
  return absl::StrCat(e.host(), ":", e.port() == 0 ? 22 : e.port());
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

absl::Status Runner::Run() {
  const std::string name = args_.command->FullName();
  if (name == "integrations create") return IntegrationsCreate();
  if (name == "integrations list") return IntegrationsList();
  if (name == "integrations show") return IntegrationsShow();
  if (name == "integrations test") return IntegrationsTest();
  if (name == "integrations scan-host-key") return IntegrationsScanHostKey();
  if (name == "runs trigger") return RunsTrigger();
  if (name == "runs show") return RunsShow();
  if (name == "runs list") return RunsList();
  if (name == "people list") return PeopleList();
  if (name == "people show") return PeopleShow();
  if (name == "people assign-seat") return PeopleAssignSeat();
  if (name == "imports list") return ImportsList();
  if (name == "imports show") return ImportsShow();
  if (name == "backups list") return BackupsList();
  if (name == "backups download") return BackupsDownload();
  if (name == "imports preview") return ImportsPreviewOrUpload(/*preview=*/true);
  if (name == "imports upload") return ImportsPreviewOrUpload(/*preview=*/false);
  if (name == "imports errors") return ImportsErrors();
  if (name == "imports approve") return ImportsApprove();
  if (name == "backups restore") return BackupsRestore();
  return absl::UnimplementedError(absl::StrCat("command '", name, "' is not implemented"));
}

// ---- integrations ----------------------------------------------------------------------

absl::Status Runner::PrintIntegration(const v1::Integration& i) {
  if (Json()) return PrintJson(i);
  KeyValuePrinter kv;
  kv.Add("Integration", i.integration_id());
  kv.Add("Name", i.name());
  kv.Add("Direction", DirectionName(i.direction()));
  kv.Add("Active", YesNo(i.active()));
  kv.Add("Server", Endpoint(i.endpoint()));
  kv.Add("User", OrDash(i.endpoint().username()));
  kv.Add("Host key", OrDash(i.endpoint().host_key_sha256()));
  kv.Add("Credentials", CredentialKindName(i.credential_kind()));
  kv.Add("Schedule", i.schedule().empty() ? "manual only" : i.schedule());
  kv.Add("Time zone", OrDash(i.time_zone()));
  kv.Add("Next run", FormatTimestamp(i.next_run_at()));
  if (i.direction() == v1::RUN_DIRECTION_EXPORT) {
    kv.Add("Folder", OrDash(i.export_settings().remote_folder()));
    kv.Add("File name", OrDash(i.export_settings().file_name()));
  } else {
    const v1::ImportSettings& s = i.import_settings();
    kv.Add("Folder", OrDash(s.remote_folder()));
    kv.Add("Glob", OrDash(s.file_glob()));
    const v1::ImportPolicy& p = s.policy();
    kv.Add("Sync policy",
           SyncPolicyName(p.sync_policy() != v1::SYNC_POLICY_UNSPECIFIED ? p.sync_policy()
                                                                         : s.sync_policy()));
    kv.Add("Encoding", p.encoding().empty() ? "auto" : p.encoding());
    kv.Add("Delimiter", p.delimiter().empty() ? "sniffed" : absl::CEscape(p.delimiter()));
    if (!p.date_format().empty()) kv.Add("Date format", p.date_format());
    std::map<std::string, std::string> types(p.attribute_types().begin(),
                                             p.attribute_types().end());
    for (const auto& [name, type] : types) kv.Add("Attribute type", absl::StrCat(name, ": ", type));
    if (p.has_max_invalid_share()) kv.Add("Max invalid share", absl::StrCat(p.max_invalid_share()));
    if (p.has_max_removals()) kv.Add("Max removals", absl::StrCat(p.max_removals()));
    if (p.has_max_removal_share()) kv.Add("Max removal share", absl::StrCat(p.max_removal_share()));
    if (p.has_max_row_drop_share()) {
      kv.Add("Max row drop share", absl::StrCat(p.max_row_drop_share()));
    }
    if (p.allow_header_change()) kv.Add("Header change", "allowed");
    std::map<std::string, std::string> sorted(s.header_map().begin(), s.header_map().end());
    for (const auto& [source, field] : sorted) {
      kv.Add("Map", absl::StrCat("'", source, "' -> ", field));
    }
  }
  kv.Add("Created", FormatTimestamp(i.created_at()));
  kv.Add("Updated", FormatTimestamp(i.updated_at()));
  kv.Print(out_);
  return absl::OkStatus();
}

absl::Status Runner::IntegrationsCreate() {
  ASSIGN_OR_RETURN(v1::CreateIntegrationRequest request,
                   BuildCreateIntegrationRequest(args_, ctx_.env, ctx_.read_file));
  grpc::ClientContext c;
  SetDeadline(&c);
  v1::Integration response;
  RETURN_IF_ERROR(FromGrpc(ctx_.stubs->integrations->CreateIntegration(&c, request, &response)));
  return PrintIntegration(response);
}

absl::Status Runner::IntegrationsList() {
  ASSIGN_OR_RETURN(int64_t limit, Limit(100));
  v1::ListIntegrationsResponse all;
  std::string next;
  RETURN_IF_ERROR(Paginate(
      limit, 500,
      [&](const std::string& token, int page_size,
          int64_t* received) -> absl::StatusOr<std::string> {
        v1::ListIntegrationsRequest request;
        request.set_tenant_id(Tenant());
        request.set_page_size(page_size);
        request.set_page_token(token);
        grpc::ClientContext c;
        SetDeadline(&c);
        v1::ListIntegrationsResponse page;
        RETURN_IF_ERROR(FromGrpc(ctx_.stubs->integrations->ListIntegrations(&c, request, &page)));
        *received = page.integrations_size();
        for (auto& i : *page.mutable_integrations()) *all.add_integrations() = std::move(i);
        return page.next_page_token();
      },
      &next));
  all.set_next_page_token(next);
  if (Json()) return PrintJson(all);
  TablePrinter t(
      {"ID", "NAME", "DIRECTION", "SERVER", "USER", "SCHEDULE", "TZ", "ACTIVE", "NEXT RUN"});
  for (const v1::Integration& i : all.integrations()) {
    t.AddRow({i.integration_id(), i.name(), DirectionName(i.direction()), Endpoint(i.endpoint()),
              OrDash(i.endpoint().username()), OrDash(i.schedule()), OrDash(i.time_zone()),
              YesNo(i.active()), FormatTimestamp(i.next_run_at())});
  }
  t.Print(out_);
  if (!next.empty()) err_ << "(more integrations exist; raise --limit)\n";
  return absl::OkStatus();
}

absl::Status Runner::IntegrationsShow() {
  v1::GetIntegrationRequest request;
  request.set_tenant_id(Tenant());
  request.set_integration_id(args_.positionals[0]);
  grpc::ClientContext c;
  SetDeadline(&c);
  v1::Integration response;
  RETURN_IF_ERROR(FromGrpc(ctx_.stubs->integrations->GetIntegration(&c, request, &response)));
  return PrintIntegration(response);
}

absl::Status Runner::IntegrationsScanHostKey() {
  v1::ScanHostKeyRequest request;
  request.set_host(args_.Get("--host"));
  if (request.host().empty()) return UsageError("--host is required");
  int64_t port = 22;
  if (args_.Has("--port")) {
    ASSIGN_OR_RETURN(port, ParseInt(args_.Get("--port"), "--port", 1, 65535));
  }
  request.set_port(static_cast<int32_t>(port));
  if (ctx_.stubs->transfer == nullptr) {
    return absl::FailedPreconditionError("no sftp-transfer address (--transfer)");
  }
  grpc::ClientContext c;
  SetDeadline(&c);
  v1::ScanHostKeyResponse response;
  RETURN_IF_ERROR(FromGrpc(ctx_.stubs->transfer->ScanHostKey(&c, request, &response)));
  if (Json()) return PrintJson(response);
  KeyValuePrinter kv;
  kv.Add("Host", absl::StrCat(SanitizeCell(request.host()), ":", port));
  kv.Add("Key type", SanitizeCell(response.host_key_type()));
  kv.Add("Fingerprint", SanitizeCell(response.host_key_sha256()));
  kv.Print(out_);
  out_ << "Verify the fingerprint with the server's operator before pinning it "
          "(endpoint.host_key_sha256).\n";
  return absl::OkStatus();
}

absl::Status Runner::IntegrationsTest() {
  v1::TestIntegrationRequest request;
  request.set_tenant_id(Tenant());
  request.set_integration_id(args_.positionals[0]);
  grpc::ClientContext c;
  SetDeadline(&c);
  v1::TestConnectionResponse response;
  RETURN_IF_ERROR(FromGrpc(ctx_.stubs->integrations->TestIntegration(&c, request, &response)));
  if (Json()) {
    RETURN_IF_ERROR(PrintJson(response));
  } else {
    TablePrinter t({"STEP", "VERDICT", "TIME", "DETAIL"});
    for (const v1::ConnectionStep& s : response.steps()) {
      t.AddRow(
          {s.name(), s.ok() ? "ok" : "FAILED", absl::StrCat(s.duration_ms(), " ms"), s.detail()});
    }
    t.Print(out_);
    if (!response.host_key_sha256().empty()) {
      out_ << "Host key: " << SanitizeCell(response.host_key_type()) << " "
           << SanitizeCell(response.host_key_sha256()) << "\n";
    }
    out_ << "Result: " << (response.ok() ? "ok" : "FAILED") << "\n";
  }
  if (response.ok()) return absl::OkStatus();
  for (const v1::ConnectionStep& s : response.steps()) {
    if (!s.ok()) {
      return OutcomeFailure(absl::StrCat("connection test failed at step '", s.name(),
                                         "': ", SanitizeCell(s.detail())));
    }
  }
  return OutcomeFailure("connection test failed");
}

// ---- runs ------------------------------------------------------------------------------

absl::Status Runner::RunsTrigger() {
  const bool wait = args_.Has("--wait");
  absl::Duration wait_timeout = ctx_.default_wait_timeout;
  if (args_.Has("--wait-timeout")) {
    if (!wait) return UsageError("--wait-timeout needs --wait");
    ASSIGN_OR_RETURN(wait_timeout, ParseSeconds(args_.Get("--wait-timeout"), "--wait-timeout"));
  }
  v1::TriggerRunRequest request;
  request.set_tenant_id(Tenant());
  request.set_integration_id(args_.positionals[0]);
  v1::Run run;
  {
    grpc::ClientContext c;
    SetDeadline(&c);
    RETURN_IF_ERROR(FromGrpc(ctx_.stubs->runs->TriggerRun(&c, request, &run)));
  }
  if (!wait) {
    if (Json()) return PrintJson(run);
    out_ << "Run " << SanitizeCell(run.run_id()) << " " << RunStateName(run.state()) << "\n";
    return absl::OkStatus();
  }
  if (!Json()) {
    err_ << "run " << SanitizeCell(run.run_id()) << ": " << RunStateName(run.state()) << "\n";
  }
  const absl::Time give_up = absl::Now() + wait_timeout;
  v1::RunState last = run.state();
  while (!IsTerminal(run.state())) {
    if (absl::Now() >= give_up) {
      return absl::DeadlineExceededError(
          absl::StrCat("run ", run.run_id(), " is still ", RunStateName(run.state()), " after ",
                       absl::FormatDuration(wait_timeout), " (--wait-timeout)"));
    }
    absl::SleepFor(std::min(ctx_.poll_interval, give_up - absl::Now()));
    v1::GetRunRequest get;
    get.set_tenant_id(Tenant());
    get.set_run_id(run.run_id());
    grpc::ClientContext c;
    SetDeadline(&c);
    v1::Run polled;
    grpc::Status status = ctx_.stubs->runs->GetRun(&c, get, &polled);
    if (!status.ok()) {
      // A service restart while we wait is not the run's failure: keep polling.
      if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
          status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
        continue;
      }
      return FromGrpc(status);
    }
    run = std::move(polled);
    if (run.state() != last && !Json()) {
      err_ << "run " << SanitizeCell(run.run_id()) << ": " << RunStateName(run.state()) << "\n";
    }
    last = run.state();
  }
  if (Json()) {
    RETURN_IF_ERROR(PrintJson(run));
  } else {
    out_ << FormatRun(run);
  }
  if (IsSuccess(run.state())) return absl::OkStatus();
  std::string message = absl::StrCat("run ", run.run_id(), " ended ",
                                     absl::AsciiStrToUpper(RunStateName(run.state())));
  if (!run.error().empty()) absl::StrAppend(&message, ": ", SanitizeCell(run.error()));
  if (run.state() == v1::RUN_STATE_HELD && !run.import_summary().import_id().empty()) {
    absl::StrAppend(&message, ": ", SanitizeCell(run.import_summary().held_reason()),
                    "; approve with `rosterctl imports approve ",
                    SanitizeCell(run.import_summary().import_id()), "`");
  }
  return OutcomeFailure(message);
}

absl::Status Runner::RunsShow() {
  v1::GetRunRequest request;
  request.set_tenant_id(Tenant());
  request.set_run_id(args_.positionals[0]);
  grpc::ClientContext c;
  SetDeadline(&c);
  v1::Run run;
  RETURN_IF_ERROR(FromGrpc(ctx_.stubs->runs->GetRun(&c, request, &run)));
  if (Json()) return PrintJson(run);
  out_ << FormatRun(run);
  return absl::OkStatus();
}

absl::Status Runner::RunsList() {
  ASSIGN_OR_RETURN(int64_t limit, Limit(50));
  v1::RunState state = v1::RUN_STATE_UNSPECIFIED;
  if (args_.Has("--state")) {
    ASSIGN_OR_RETURN(state, ParseRunState(args_.Get("--state"), "--state"));
  }
  v1::ListRunsResponse all;
  std::string next;
  RETURN_IF_ERROR(Paginate(
      limit, 500,
      [&](const std::string& token, int page_size,
          int64_t* received) -> absl::StatusOr<std::string> {
        v1::ListRunsRequest request;
        request.set_tenant_id(Tenant());
        request.set_integration_id(args_.Get("--integration"));
        request.set_state(state);
        request.set_page_size(page_size);
        request.set_page_token(token);
        grpc::ClientContext c;
        SetDeadline(&c);
        v1::ListRunsResponse page;
        RETURN_IF_ERROR(FromGrpc(ctx_.stubs->runs->ListRuns(&c, request, &page)));
        *received = page.runs_size();
        for (auto& r : *page.mutable_runs()) *all.add_runs() = std::move(r);
        return page.next_page_token();
      },
      &next));
  all.set_next_page_token(next);
  if (Json()) return PrintJson(all);
  TablePrinter t(
      {"RUN", "INTEGRATION", "DIRECTION", "STATE", "TRIGGER", "CREATED", "FINISHED", "ERROR"});
  for (const v1::Run& r : all.runs()) {
    t.AddRow({r.run_id(), r.integration_id(), DirectionName(r.direction()), RunStateName(r.state()),
              TriggerName(r.trigger()), FormatTimestamp(r.created_at()),
              FormatTimestamp(r.finished_at()), r.error()});
  }
  t.Print(out_);
  if (!next.empty()) err_ << "(more runs exist; raise --limit)\n";
  return absl::OkStatus();
}

// ---- people ----------------------------------------------------------------------------

absl::Status Runner::PrintPerson(const v1::Person& p) {
  if (Json()) return PrintJson(p);
  KeyValuePrinter kv;
  kv.Add("Person", p.person_id());
  kv.Add("Name", absl::StrCat(p.first_name(), " ", p.last_name()));
  kv.Add("Email", OrDash(p.email()));
  kv.Add("Language", OrDash(p.language()));
  kv.Add("Type", PersonTypeName(p.person_type()));
  kv.Add("Active", YesNo(p.active()));
  kv.Add("Seat", OrDash(p.seat()));
  std::map<std::string, std::string> sorted(p.attributes().begin(), p.attributes().end());
  for (const auto& [k, v] : sorted) kv.Add(absl::StrCat("attr:", k), v);
  kv.Add("Integration", OrDash(p.source_integration_id()));
  kv.Add("Updated", FormatTimestamp(p.updated_at()));
  kv.Print(out_);
  return absl::OkStatus();
}

absl::Status Runner::PeopleList() {
  ASSIGN_OR_RETURN(int64_t limit, Limit(100));
  v1::ListPeopleRequest base;
  base.set_tenant_id(Tenant());
  if (args_.Has("--type")) {
    ASSIGN_OR_RETURN(v1::PersonType type, ParsePersonType(args_.Get("--type"), "--type"));
    base.set_person_type(type);
  }
  if (args_.Has("--active")) {
    ASSIGN_OR_RETURN(bool active, ParseBool(args_.Get("--active"), "--active"));
    base.set_active(active);
  }
  for (const std::string& a : args_.GetAll("--attr")) {
    ASSIGN_OR_RETURN(auto kv, ParseKeyValue(a, "--attr"));
    if (base.attributes().count(kv.first) > 0) {
      return UsageError(absl::StrCat("--attr gives attribute '", kv.first, "' twice"));
    }
    (*base.mutable_attributes())[kv.first] = kv.second;
  }
  v1::ListPeopleResponse all;
  std::string next;
  RETURN_IF_ERROR(Paginate(
      limit, 1000,
      [&](const std::string& token, int page_size,
          int64_t* received) -> absl::StatusOr<std::string> {
        v1::ListPeopleRequest request = base;
        request.set_page_size(page_size);
        request.set_page_token(token);
        grpc::ClientContext c;
        SetDeadline(&c);
        v1::ListPeopleResponse page;
        RETURN_IF_ERROR(FromGrpc(ctx_.stubs->roster->ListPeople(&c, request, &page)));
        *received = page.people_size();
        for (auto& p : *page.mutable_people()) *all.add_people() = std::move(p);
        return page.next_page_token();
      },
      &next));
  all.set_next_page_token(next);
  if (Json()) return PrintJson(all);
  TablePrinter t({"PERSON", "FIRST NAME", "LAST NAME", "EMAIL", "LANG", "TYPE", "ACTIVE", "SEAT"});
  for (const v1::Person& p : all.people()) {
    t.AddRow({p.person_id(), p.first_name(), p.last_name(), OrDash(p.email()), OrDash(p.language()),
              PersonTypeName(p.person_type()), YesNo(p.active()), OrDash(p.seat())});
  }
  t.Print(out_);
  if (!next.empty()) err_ << "(more people exist; raise --limit)\n";
  return absl::OkStatus();
}

absl::Status Runner::PeopleShow() {
  v1::GetPersonRequest request;
  request.set_tenant_id(Tenant());
  request.set_person_id(args_.positionals[0]);
  grpc::ClientContext c;
  SetDeadline(&c);
  v1::Person person;
  RETURN_IF_ERROR(FromGrpc(ctx_.stubs->roster->GetPerson(&c, request, &person)));
  return PrintPerson(person);
}

absl::Status Runner::PeopleAssignSeat() {
  v1::AssignSeatRequest request;
  request.set_tenant_id(Tenant());
  request.set_person_id(args_.positionals[0]);
  request.set_seat(args_.positionals[1]);
  grpc::ClientContext c;
  SetDeadline(&c);
  v1::Person person;
  RETURN_IF_ERROR(FromGrpc(ctx_.stubs->roster->AssignSeat(&c, request, &person)));
  return PrintPerson(person);
}

// ---- imports ---------------------------------------------------------------------------

absl::Status Runner::ImportsList() {
  ASSIGN_OR_RETURN(int64_t limit, Limit(50));
  v1::ListImportsResponse all;
  std::string next;
  RETURN_IF_ERROR(Paginate(
      limit, 500,
      [&](const std::string& token, int page_size,
          int64_t* received) -> absl::StatusOr<std::string> {
        v1::ListImportsRequest request;
        request.set_tenant_id(Tenant());
        request.set_integration_id(args_.Get("--integration"));
        request.set_page_size(page_size);
        request.set_page_token(token);
        grpc::ClientContext c;
        SetDeadline(&c);
        v1::ListImportsResponse page;
        RETURN_IF_ERROR(FromGrpc(ctx_.stubs->roster->ListImports(&c, request, &page)));
        *received = page.imports_size();
        for (auto& i : *page.mutable_imports()) *all.add_imports() = std::move(i);
        return page.next_page_token();
      },
      &next));
  all.set_next_page_token(next);
  if (Json()) return PrintJson(all);
  TablePrinter t({"IMPORT", "INTEGRATION", "RUN", "STATUS", "ROWS", "ADDED", "UPDATED", "DELETED",
                  "DEACTIVATED", "UNCHANGED", "REJECTED", "HELD", "STARTED"});
  for (const v1::ImportSummary& s : all.imports()) {
    t.AddRow({s.import_id(), OrDash(s.integration_id()), OrDash(s.run_id()),
              ImportStatusName(s.status()), absl::StrCat(s.rows_read()), absl::StrCat(s.added()),
              absl::StrCat(s.updated()), absl::StrCat(s.deleted()), absl::StrCat(s.deactivated()),
              absl::StrCat(s.unchanged()), absl::StrCat(s.rejected_rows()), absl::StrCat(s.held()),
              FormatTimestamp(s.started_at())});
  }
  t.Print(out_);
  if (!next.empty()) err_ << "(more imports exist; raise --limit)\n";
  return absl::OkStatus();
}

absl::Status Runner::ImportsShow() {
  v1::GetImportRequest request;
  request.set_tenant_id(Tenant());
  request.set_import_id(args_.positionals[0]);
  grpc::ClientContext c;
  SetDeadline(&c);
  v1::ImportSummary s;
  RETURN_IF_ERROR(FromGrpc(ctx_.stubs->roster->GetImport(&c, request, &s)));
  if (Json()) return PrintJson(s);
  out_ << FormatImportSummary(s);
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
    v1::GetIntegrationRequest get;
    get.set_tenant_id(Tenant());
    get.set_integration_id(args_.Get("--integration"));
    grpc::ClientContext c;
    SetDeadline(&c);
    v1::Integration got;
    RETURN_IF_ERROR(FromGrpc(ctx_.stubs->integrations->GetIntegration(&c, get, &got)));
    integration = std::move(got);
  }
  ASSIGN_OR_RETURN(v1::UploadRosterHeader header,
                   BuildUploadHeader(args_, integration ? &*integration : nullptr, preview));
  header.set_tenant_id(Tenant());

  grpc::ClientContext c;
  SetLongDeadline(&c);  // bounds the whole upload and import
  v1::ImportSummary summary;
  std::unique_ptr<grpc::ClientWriterInterface<v1::UploadRosterRequest>> writer =
      ctx_.stubs->roster->UploadRoster(&c, &summary);
  v1::UploadRosterRequest first;
  *first.mutable_header() = header;
  bool stream_open = writer->Write(first);
  int64_t sent = 0;
  absl::Status local;
  if (stream_open) {
    local = StreamLocalFile(path, 256 * 1024, [&](absl::string_view chunk) -> absl::Status {
      v1::UploadRosterRequest part;
      part.set_chunk(std::string(chunk));
      if (!writer->Write(part)) {
        stream_open = false;  // the server ended the call; Finish() says why
        return absl::CancelledError("stream closed");
      }
      sent += static_cast<int64_t>(chunk.size());
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
  if (Json()) {
    RETURN_IF_ERROR(PrintJson(summary));
  } else {
    out_ << (preview ? FormatDiff(summary) : FormatImportSummary(summary));
  }
  return ImportOutcome(summary, preview ? "the preview of import" : "import");
}

absl::Status Runner::ImportsErrors() {
  v1::GetImportRequest request;
  request.set_tenant_id(Tenant());
  request.set_import_id(args_.positionals[0]);
  v1::ImportSummary s;
  {
    grpc::ClientContext c;
    SetDeadline(&c);
    RETURN_IF_ERROR(FromGrpc(ctx_.stubs->roster->GetImport(&c, request, &s)));
  }
  if (s.error_report_file_id().empty()) {
    return OutcomeFailure(absl::StrCat(
        "import ", SanitizeCell(request.import_id()), " has no error report (", s.rejected_rows(),
        " rejected rows",
        s.rejected_rows() > 0 ? "; the first are listed by `rosterctl imports show`" : "", ")"));
  }
  return DownloadFile(s.error_report_file_id(), args_.Get("-o"));
}

absl::Status Runner::ImportsApprove() {
  v1::ApproveDeletionsRequest request;
  request.set_tenant_id(Tenant());
  request.set_import_id(args_.positionals[0]);
  grpc::ClientContext c;
  SetLongDeadline(&c);
  v1::ImportSummary s;
  RETURN_IF_ERROR(FromGrpc(ctx_.stubs->roster->ApproveDeletions(&c, request, &s)));
  if (Json()) return PrintJson(s);
  out_ << "Approved the held removals of import " << SanitizeCell(s.import_id()) << ": "
       << s.deleted() << " deleted, " << s.deactivated() << " deactivated\n\n";
  out_ << FormatImportSummary(s);
  return absl::OkStatus();
}

// ---- backups ---------------------------------------------------------------------------

absl::Status Runner::BackupsList() {
  ASSIGN_OR_RETURN(int64_t limit, Limit(50));
  v1::FileKind kind = v1::FILE_KIND_UNSPECIFIED;
  if (args_.Has("--kind")) {
    ASSIGN_OR_RETURN(kind, ParseFileKind(args_.Get("--kind"), "--kind"));
  }
  v1::ListFilesResponse all;
  std::string next;
  RETURN_IF_ERROR(Paginate(
      limit, 500,
      [&](const std::string& token, int page_size,
          int64_t* received) -> absl::StatusOr<std::string> {
        v1::ListFilesRequest request;
        request.set_tenant_id(Tenant());
        request.set_kind(kind);
        request.set_integration_id(args_.Get("--integration"));
        request.set_page_size(page_size);
        request.set_page_token(token);
        grpc::ClientContext c;
        SetDeadline(&c);
        v1::ListFilesResponse page;
        RETURN_IF_ERROR(FromGrpc(ctx_.stubs->backup->ListFiles(&c, request, &page)));
        *received = page.files_size();
        for (auto& f : *page.mutable_files()) *all.add_files() = std::move(f);
        return page.next_page_token();
      },
      &next));
  all.set_next_page_token(next);
  if (Json()) return PrintJson(all);
  TablePrinter t({"FILE", "KIND", "NAME", "SIZE", "SHA256", "CREATED", "RUN", "INTEGRATION"});
  for (const v1::FileInfo& f : all.files()) {
    t.AddRow({f.file_id(), FileKindName(f.kind()), f.name(), absl::StrCat(f.size_bytes()),
              ShortSha(f.sha256()), FormatTimestamp(f.created_at()), OrDash(f.run_id()),
              OrDash(f.integration_id())});
  }
  t.Print(out_);
  if (!next.empty()) err_ << "(more files exist; raise --limit)\n";
  return absl::OkStatus();
}

// Where downloaded bytes go: a temp file next to the target (renamed into place only when the
// download is complete and verified, deleted otherwise) or the output stream.
class DownloadSink {
 public:
  static absl::StatusOr<std::unique_ptr<DownloadSink>> Open(const std::string& path,
                                                            std::ostream* out) {
    auto sink = std::unique_ptr<DownloadSink>(new DownloadSink());
    sink->out_ = out;
    if (path.empty() || path == "-") return sink;
    sink->path_ = path;
    std::string tmpl = absl::StrCat(path, ".rosterctl-XXXXXX");
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    int fd = mkstemp(buf.data());  // mode 0600: roster files hold personal data
    if (fd < 0) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot create a file next to ", path, ": ", std::strerror(errno)));
    }
    sink->fd_ = fd;
    sink->temp_path_ = buf.data();
    return sink;
  }
  ~DownloadSink() { Discard(); }

  absl::Status Write(absl::string_view bytes) {
    if (fd_ < 0) {
      out_->write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      if (!*out_) return absl::DataLossError("cannot write to stdout");
      return absl::OkStatus();
    }
    while (!bytes.empty()) {
      ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return absl::ResourceExhaustedError(
            absl::StrCat("cannot write ", temp_path_, ": ", std::strerror(errno)));
      }
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }

  absl::Status Commit() {
    if (fd_ < 0) {
      out_->flush();
      return absl::OkStatus();
    }
    if (::fsync(fd_) != 0 || ::close(fd_) != 0) {
      fd_ = -1;
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot write ", temp_path_, ": ", std::strerror(errno)));
    }
    fd_ = -1;
    if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot rename ", temp_path_, " to ", path_, ": ", std::strerror(errno)));
    }
    temp_path_.clear();
    return absl::OkStatus();
  }

  // Deletes the partial file. Bytes already written to stdout cannot be taken back.
  void Discard() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
    temp_path_.clear();
  }

  bool to_file() const { return !path_.empty(); }

 private:
  DownloadSink() = default;
  std::ostream* out_ = nullptr;
  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
};

absl::Status Runner::BackupsRestore() {
  v1::RestoreBackupRequest request;
  request.set_tenant_id(Tenant());
  request.set_backup_file_id(args_.positionals[0]);
  request.set_preview(args_.Has("--preview"));
  if (args_.Has("--examples")) {
    ASSIGN_OR_RETURN(int64_t n, ParseInt(args_.Get("--examples"), "--examples", 0, 1000));
    request.set_examples_per_kind(static_cast<int32_t>(n));
  }
  grpc::ClientContext c;
  SetLongDeadline(&c);
  v1::ImportSummary s;
  RETURN_IF_ERROR(FromGrpc(ctx_.stubs->roster->RestoreBackup(&c, request, &s)));
  if (Json()) {
    RETURN_IF_ERROR(PrintJson(s));
  } else if (request.preview()) {
    out_ << "Restore preview of backup " << SanitizeCell(request.backup_file_id())
         << " (nothing changed):\n"
         << FormatDiff(s);
  } else {
    out_ << "Restored backup " << SanitizeCell(request.backup_file_id()) << "; the roster before "
         << "the restore is backup " << OrDash(s.backup_file_id()) << "\n\n"
         << FormatImportSummary(s);
  }
  return ImportOutcome(s, "restore");
}

absl::Status Runner::BackupsDownload() {
  return DownloadFile(args_.positionals[0], args_.Get("-o"));
}

absl::Status Runner::DownloadFile(const std::string& file_id, const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<DownloadSink> sink, DownloadSink::Open(path, &out_));
  v1::GetFileRequest request;
  request.set_tenant_id(Tenant());
  request.set_file_id(file_id);
  grpc::ClientContext c;
  SetDeadline(&c);  // bounds the whole transfer
  std::unique_ptr<grpc::ClientReaderInterface<v1::GetFileResponse>> reader =
      ctx_.stubs->backup->GetFile(&c, request);

  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr);
  v1::FileInfo info;
  bool have_info = false;
  int64_t received = 0;
  absl::Status local;  // a failure on our side; the call is cancelled
  v1::GetFileResponse message;
  while (reader->Read(&message)) {
    if (message.has_info()) {
      if (have_info) {
        local = absl::InternalError("the server sent the file's metadata twice");
        break;
      }
      info = message.info();
      have_info = true;
      continue;
    }
    if (!have_info) {
      local = absl::InternalError("the server sent data before the file's metadata");
      break;
    }
    const std::string& chunk = message.chunk();
    EVP_DigestUpdate(md.get(), chunk.data(), chunk.size());
    received += static_cast<int64_t>(chunk.size());
    local = sink->Write(chunk);
    if (!local.ok()) break;
  }
  if (!local.ok()) c.TryCancel();
  const grpc::Status finished = reader->Finish();
  absl::Status status = local.ok() ? FromGrpc(finished) : local;
  if (status.ok() && !have_info) {
    status = absl::InternalError("the server ended the download without the file's metadata");
  }
  if (status.ok()) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    EVP_DigestFinal_ex(md.get(), digest, &digest_len);
    const std::string sha = absl::BytesToHexString(
        absl::string_view(reinterpret_cast<const char*>(digest), digest_len));
    if (received != info.size_bytes()) {
      status = absl::DataLossError(absl::StrCat("received ", received, " bytes of file ",
                                                info.file_id(), ", expected ", info.size_bytes()));
    } else if (!info.sha256().empty() && absl::AsciiStrToLower(info.sha256()) != sha) {
      status = absl::DataLossError(absl::StrCat("file ", info.file_id(), " has SHA-256 ", sha,
                                                ", expected ", info.sha256()));
    }
  }
  if (!status.ok()) {
    sink->Discard();
    if (!sink->to_file() && received > 0) {
      err_ << "rosterctl: " << args_.command->FullName() << ": the " << received
           << " bytes already written to stdout are incomplete or corrupt; discard them\n";
    }
    return status;
  }
  RETURN_IF_ERROR(sink->Commit());
  if (sink->to_file()) {
    if (Json()) return PrintJson(info);
    out_ << "Wrote " << received << " bytes (" << FormatBytes(received) << ") of "
         << SanitizeCell(info.name()) << " to " << path << ", sha256 " << info.sha256() << "\n";
  }
  return absl::OkStatus();
}

}  // namespace

// ---- public helpers --------------------------------------------------------------------

ServiceStubs MakeStubs(const GlobalOptions& global) {
  grpc::ChannelArguments channel_args;
  channel_args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  channel_args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  auto channel = [&](const std::string& address) {
    return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), channel_args);
  };
  auto scheduler = channel(global.scheduler_address);
  ServiceStubs stubs;
  stubs.integrations = v1::IntegrationService::NewStub(scheduler);
  stubs.runs = v1::RunService::NewStub(scheduler);
  stubs.roster = v1::RosterService::NewStub(channel(global.roster_address));
  stubs.backup = v1::BackupService::NewStub(channel(global.backup_address));
  stubs.transfer = v1::TransferService::NewStub(channel(global.transfer_address));
  return stubs;
}

absl::StatusOr<std::string> ReadLocalFile(const std::string& path, size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    std::string message = absl::StrCat("cannot read ", path, ": ", std::strerror(e));
    if (e == ENOENT) return absl::NotFoundError(message);
    if (e == EACCES) return absl::PermissionDeniedError(message);
    return absl::FailedPreconditionError(message);
  }
  std::string data;
  char buf[8192];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      return absl::FailedPreconditionError(
          absl::StrCat("cannot read ", path, ": ", std::strerror(e)));
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > max_bytes) {
      ::close(fd);
      return absl::OutOfRangeError(absl::StrCat(path, " is larger than ", max_bytes, " bytes"));
    }
  }
  ::close(fd);
  return data;
}

absl::StatusOr<std::pair<std::string, std::string>> ParseHeaderMapping(absl::string_view value) {
  const size_t eq = value.rfind('=');
  if (eq == absl::string_view::npos) {
    return UsageError(
        absl::StrCat("invalid --map '", value, "' (expected \"Source Header=canonical_field\")"));
  }
  std::string source(absl::StripAsciiWhitespace(value.substr(0, eq)));
  std::string field(absl::StripAsciiWhitespace(value.substr(eq + 1)));
  if (source.empty() || field.empty()) {
    return UsageError(
        absl::StrCat("invalid --map '", value, "' (expected \"Source Header=canonical_field\")"));
  }
  return std::make_pair(source, field);
}

absl::StatusOr<std::pair<std::string, std::string>> ParseKeyValue(absl::string_view value,
                                                                  absl::string_view option) {
  const size_t eq = value.find('=');
  if (eq == absl::string_view::npos || eq == 0) {
    return UsageError(absl::StrCat("invalid ", option, " '", value, "' (expected NAME=VALUE)"));
  }
  return std::make_pair(std::string(absl::StripAsciiWhitespace(value.substr(0, eq))),
                        std::string(absl::StripAsciiWhitespace(value.substr(eq + 1))));
}

absl::StatusOr<double> ParseShare(absl::string_view value, absl::string_view option) {
  double share = 0;
  if (!absl::SimpleAtod(value, &share) || !(share >= 0.0 && share <= 1.0)) {
    return UsageError(absl::StrCat("invalid value '", value, "' for ", option,
                                   " (expected a share between 0 and 1, e.g. 0.2)"));
  }
  return share;
}

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
    for (const std::string& m : args.GetAll("--map")) {
      ASSIGN_OR_RETURN(auto mapping, ParseHeaderMapping(m));
      if (header.header_map().count(mapping.first) > 0) {
        return UsageError(absl::StrCat("--map maps source header '", mapping.first, "' twice"));
      }
      (*header.mutable_header_map())[mapping.first] = mapping.second;
    }
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

absl::Status StreamLocalFile(const std::string& path, size_t chunk_bytes,
                             const std::function<absl::Status(absl::string_view)>& sink) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    std::string message = absl::StrCat("cannot read ", path, ": ", std::strerror(e));
    if (e == ENOENT) return absl::NotFoundError(message);
    if (e == EACCES) return absl::PermissionDeniedError(message);
    return absl::FailedPreconditionError(message);
  }
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    return absl::FailedPreconditionError(absl::StrCat("cannot read ", path, ": is a directory"));
  }
  std::string buf(chunk_bytes, '\0');
  absl::Status status;
  while (status.ok()) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      status = absl::FailedPreconditionError(
          absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
      break;
    }
    if (n == 0) break;
    status = sink(absl::string_view(buf.data(), static_cast<size_t>(n)));
  }
  ::close(fd);
  return status;
}

std::string FormatImportSummary(const v1::ImportSummary& s) {
  KeyValuePrinter kv;
  AddImportCounts(kv, s);
  kv.Add("Integration", OrDash(s.integration_id()));
  kv.Add("Run", OrDash(s.run_id()));
  kv.Add("Started", FormatTimestamp(s.started_at()));
  kv.Add("Finished", FormatTimestamp(s.finished_at()));
  std::string text = kv.Render();
  absl::StrAppend(&text, HeldHint(s), HeaderNotes(s), FormatRowErrors(s));
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
          detail = PersonLabel(c.after());
          break;
        case v1::CHANGE_KIND_UPDATED:
          detail = absl::StrCat("changed: ", absl::StrJoin(c.changed_fields(), ", "));
          break;
        default:
          detail = PersonLabel(c.has_before() ? c.before() : c.after());
      }
      t.AddRow({ChangeKindName(c.kind()), c.person_id(), detail});
    }
    absl::StrAppend(&text, "\nExamples:\n", t.Render());
  }
  absl::StrAppend(&text, HeaderNotes(s), FormatRowErrors(s));
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

namespace {

std::string StripOneNewline(std::string s) {
  if (!s.empty() && s.back() == '\n') s.pop_back();
  if (!s.empty() && s.back() == '\r') s.pop_back();
  return s;
}

// Reads a secret file; errors name the option and path, never the contents.
absl::StatusOr<std::string> ReadSecret(const FileReader& read_file, const std::string& option,
                                       const std::string& path) {
  absl::StatusOr<std::string> data = read_file(path, kMaxSecretBytes);
  if (!data.ok()) {
    return absl::Status(data.status().code(), absl::StrCat(option, ": ", data.status().message()));
  }
  return std::move(*data);
}

}  // namespace

absl::StatusOr<v1::CreateIntegrationRequest> BuildCreateIntegrationRequest(
    const ParsedArgs& args, const EnvLookup& env, const FileReader& read_file) {
  for (const char* required : {"--name", "--direction", "--host", "--user", "--host-key"}) {
    if (args.Get(required).empty()) {
      return UsageError(absl::StrCat("missing ", required));
    }
  }
  v1::CreateIntegrationRequest request;
  v1::Integration& i = *request.mutable_integration();
  i.set_tenant_id(args.global.tenant);
  i.set_name(args.Get("--name"));
  ASSIGN_OR_RETURN(v1::RunDirection direction,
                   ParseDirection(args.Get("--direction"), "--direction"));
  i.set_direction(direction);
  v1::SftpEndpoint& e = *i.mutable_endpoint();
  e.set_host(args.Get("--host"));
  int64_t port = 22;
  if (args.Has("--port")) {
    ASSIGN_OR_RETURN(port, ParseInt(args.Get("--port"), "--port", 1, 65535));
  }
  e.set_port(static_cast<int32_t>(port));
  e.set_username(args.Get("--user"));
  const std::string host_key = args.Get("--host-key");
  if (!absl::StartsWith(host_key, "SHA256:") || host_key.size() == 7) {
    return UsageError(absl::StrCat("invalid --host-key '", host_key,
                                   "' (expected SHA256:<base64>, as `ssh-keygen -lf` prints it)"));
  }
  e.set_host_key_sha256(host_key);
  i.set_schedule(args.Get("--schedule"));
  i.set_time_zone(args.Get("--time-zone"));
  i.set_active(!args.Has("--inactive"));

  if (direction == v1::RUN_DIRECTION_IMPORT) {
    if (args.Has("--file-name")) return UsageError("--file-name is for --direction export");
    v1::ImportSettings& s = *i.mutable_import_settings();
    s.set_remote_folder(args.Get("--folder"));
    s.set_file_glob(args.Get("--glob"));
    for (const std::string& m : args.GetAll("--map")) {
      ASSIGN_OR_RETURN(auto mapping, ParseHeaderMapping(m));
      if (s.header_map().count(mapping.first) > 0) {
        return UsageError(absl::StrCat("--map maps source header '", mapping.first, "' twice"));
      }
      (*s.mutable_header_map())[mapping.first] = mapping.second;
    }
    if (args.Has("--sync")) {
      ASSIGN_OR_RETURN(v1::SyncPolicy policy, ParseSyncPolicy(args.Get("--sync"), "--sync"));
      s.set_sync_policy(policy);
    }
    RETURN_IF_ERROR(ApplyPolicyOptions(args, s.mutable_policy()));
    for (const char* export_only : {"--temp-prefix", "--temp-suffix"}) {
      if (args.Has(export_only)) {
        return UsageError(absl::StrCat(export_only, " is for --direction export"));
      }
    }
    v1::FetchOptions& f = *s.mutable_fetch();
    if (args.Has("--stability-interval")) {
      ASSIGN_OR_RETURN(int64_t ms, ParseInt(args.Get("--stability-interval"),
                                            "--stability-interval", 0, 600000));
      f.set_stability_interval_ms(static_cast<int32_t>(ms));
    }
    if (args.Has("--min-age")) {
      ASSIGN_OR_RETURN(int64_t age, ParseInt(args.Get("--min-age"), "--min-age", 0, 604800));
      f.set_min_age_s(static_cast<int32_t>(age));
    }
    f.set_done_marker_suffix(args.Get("--done-marker"));
    if (args.Has("--order")) {
      const std::string order = args.Get("--order");
      if (order == "newest") {
        f.set_order(v1::FetchOptions::ORDER_NEWEST);
      } else if (order == "oldest-first") {
        f.set_order(v1::FetchOptions::ORDER_OLDEST_FIRST);
      } else {
        return UsageError(absl::StrCat("invalid --order '", order, "' (newest|oldest-first)"));
      }
    }
    if (args.Has("--after-fetch")) {
      const std::string after = args.Get("--after-fetch");
      if (after == "leave") {
        f.set_after_fetch(v1::FetchOptions::AFTER_FETCH_LEAVE);
      } else if (after == "move") {
        f.set_after_fetch(v1::FetchOptions::AFTER_FETCH_MOVE);
      } else if (after == "delete") {
        f.set_after_fetch(v1::FetchOptions::AFTER_FETCH_DELETE);
      } else {
        return UsageError(
            absl::StrCat("invalid --after-fetch '", after, "' (leave|move|delete)"));
      }
    }
    f.set_archive_folder(args.Get("--archive-folder"));
  } else {
    for (const char* import_only :
         {"--glob", "--map", "--sync", "--encoding", "--delimiter", "--date-format", "--attr-type",
          "--max-invalid-share", "--max-removals", "--max-removal-share", "--max-row-drop-share",
          "--allow-header-change", "--stability-interval", "--min-age", "--done-marker",
          "--order", "--after-fetch", "--archive-folder"}) {
      if (args.Has(import_only)) {
        return UsageError(absl::StrCat(import_only, " is for --direction import"));
      }
    }
    v1::ExportSettings& s = *i.mutable_export_settings();
    s.set_remote_folder(args.Get("--folder"));
    s.set_file_name(args.Get("--file-name"));
    s.mutable_upload()->set_temp_prefix(args.Get("--temp-prefix"));
    s.mutable_upload()->set_temp_suffix(args.Get("--temp-suffix"));
  }

  const int sources = static_cast<int>(args.Has("--password-file")) +
                      static_cast<int>(args.Has("--password-env")) +
                      static_cast<int>(args.Has("--key-file"));
  if (sources != 1) {
    return UsageError(
        "give exactly one of --password-file FILE, --password-env VAR, --key-file FILE");
  }
  if (args.Has("--passphrase-file") && !args.Has("--key-file")) {
    return UsageError("--passphrase-file needs --key-file");
  }
  v1::Credentials& creds = *request.mutable_credentials();
  if (args.Has("--password-file")) {
    const std::string path = args.Get("--password-file");
    ASSIGN_OR_RETURN(std::string password, ReadSecret(read_file, "--password-file", path));
    password = StripOneNewline(std::move(password));
    if (password.empty()) return UsageError(absl::StrCat("--password-file ", path, " is empty"));
    creds.set_password(std::move(password));
  } else if (args.Has("--password-env")) {
    const std::string var = args.Get("--password-env");
    std::optional<std::string> password = env(var);
    if (!password.has_value() || password->empty()) {
      return UsageError(
          absl::StrCat("--password-env: environment variable ", var, " is not set or empty"));
    }
    creds.set_password(std::move(*password));
  } else {
    const std::string path = args.Get("--key-file");
    ASSIGN_OR_RETURN(std::string key, ReadSecret(read_file, "--key-file", path));
    if (key.find("-----BEGIN ") == std::string::npos ||
        key.find("PRIVATE KEY-----") == std::string::npos) {
      return UsageError(
          absl::StrCat("--key-file ", path, " does not hold an OpenSSH or PEM private key"));
    }
    creds.mutable_private_key()->set_key_pem(std::move(key));
    if (args.Has("--passphrase-file")) {
      const std::string pp_path = args.Get("--passphrase-file");
      ASSIGN_OR_RETURN(std::string passphrase, ReadSecret(read_file, "--passphrase-file", pp_path));
      passphrase = StripOneNewline(std::move(passphrase));
      if (passphrase.empty()) {
        return UsageError(absl::StrCat("--passphrase-file ", pp_path, " is empty"));
      }
      creds.mutable_private_key()->set_passphrase(std::move(passphrase));
    }
  }
  return request;
}

std::string FormatRun(const v1::Run& run) {
  KeyValuePrinter kv;
  kv.Add("Run", run.run_id());
  kv.Add("Integration", run.integration_id());
  kv.Add("Direction", DirectionName(run.direction()));
  kv.Add("State", absl::AsciiStrToUpper(RunStateName(run.state())));
  kv.Add("Trigger", TriggerName(run.trigger()));
  kv.Add("Scheduled for", FormatTimestamp(run.scheduled_for()));
  kv.Add("Created", FormatTimestamp(run.created_at()));
  kv.Add("Updated", FormatTimestamp(run.updated_at()));
  kv.Add("Finished", FormatTimestamp(run.finished_at()));
  if (!run.error().empty()) kv.Add("Error", run.error());
  kv.Add("Source file", OrDash(run.source_file_id()));
  kv.Add("Export file", OrDash(run.export_file_id()));
  kv.Add("Remote path", OrDash(run.remote_path()));
  kv.Add("Bytes", absl::StrCat(run.bytes_transferred()));
  if (run.has_import_summary()) AddImportCounts(kv, run.import_summary());
  std::string text = kv.Render();
  if (!run.steps().empty()) {
    TablePrinter t({"AT", "STATE", "DETAIL"});
    for (const v1::RunStepRecord& s : run.steps()) {
      t.AddRow({FormatTimestamp(s.at()), RunStateName(s.state()), s.detail()});
    }
    absl::StrAppend(&text, "\nSteps:\n", t.Render());
  }
  if (run.has_import_summary()) absl::StrAppend(&text, FormatRowErrors(run.import_summary()));
  return text;
}

int RunCommand(const ParsedArgs& args, CommandContext& ctx) {
  Runner runner(args, ctx);
  const absl::Status status = runner.Run();
  if (status.ok()) return 0;
  const std::string name = args.command->FullName();
  if (IsUsageError(status)) {
    *ctx.err << "rosterctl: " << name << ": " << status.message() << "\n\nUsage:\n"
             << CommandUsage(*args.command);
    return 2;
  }
  if (IsOutcomeFailure(status)) {
    *ctx.err << "rosterctl: " << name << ": " << status.message() << "\n";
    return 1;
  }
  *ctx.err << "rosterctl: " << name << ": " << absl::StatusCodeToString(status.code()) << ": "
           << SanitizeCell(status.message()) << "\n";
  return 1;
}

int Main(const std::vector<std::string>& args, const EnvLookup& env, std::ostream& out,
         std::ostream& err) {
  absl::StatusOr<ParsedArgs> parsed = Parse(args, env);
  if (!parsed.ok()) {
    err << "rosterctl: " << parsed.status().message() << "\n\n";
    // The usage of the command the user meant, when it can be told; else everything.
    const CommandSpec* command = nullptr;
    for (size_t i = 0; i + 1 < args.size() && command == nullptr; ++i) {
      command = FindCommand(args[i], args[i + 1]);
    }
    if (command != nullptr) {
      err << "Usage:\n"
          << CommandUsage(*command)
          << "Global options (--tenant, --output, --timeout, addresses): rosterctl --help\n";
    } else {
      err << UsageText();
    }
    return 2;
  }
  if (parsed->help) {
    if (parsed->command != nullptr) {
      out << CommandUsage(*parsed->command);
    } else if (!parsed->group.empty()) {
      out << GroupUsage(parsed->group);
    } else {
      out << UsageText();
    }
    return 0;
  }
  ServiceStubs stubs = MakeStubs(parsed->global);
  CommandContext ctx;
  ctx.stubs = &stubs;
  ctx.out = &out;
  ctx.err = &err;
  ctx.env = env;
  return RunCommand(*parsed, ctx);
}

}  // namespace rostersync::rosterctl
