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
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "tools/rosterctl/table_printer.h"

namespace rostersync::rosterctl {
namespace {

constexpr size_t kMaxSecretBytes = 64 * 1024;
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
  absl::Status PrintJson(const google::protobuf::Message& message);
  absl::StatusOr<int64_t> Limit(int64_t fallback) const;

  absl::Status IntegrationsCreate();
  absl::Status IntegrationsList();
  absl::Status IntegrationsShow();
  absl::Status IntegrationsTest();
  absl::Status RunsTrigger();
  absl::Status RunsShow();
  absl::Status RunsList();
  absl::Status PeopleList();
  absl::Status PeopleShow();
  absl::Status PeopleAssignSeat();
  absl::Status ImportsList();
  absl::Status ImportsShow();
  absl::Status BackupsList();
  absl::Status BackupsDownload();

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
  kv.Add("Source file", OrDash(s.source_file_id()));
  kv.Add("Backup file", OrDash(s.backup_file_id()));
  if (!s.message().empty()) kv.Add("Message", s.message());
}

std::string FormatRowErrors(const v1::ImportSummary& s) {
  if (s.errors().empty()) return "";
  TablePrinter t({"LINE", "COLUMN", "VALUE", "REASON"});
  for (const v1::RowError& e : s.errors()) {
    t.AddRow({absl::StrCat(e.line()), OrDash(e.column()), e.value(), e.reason()});
  }
  std::string text = absl::StrCat("\nRow errors (", s.errors_size(), " of ", s.rejected_rows(),
                                  " rejected rows shown):\n");
  return text + t.Render();
}

absl::Status Runner::Run() {
  const std::string name = args_.command->FullName();
  if (name == "integrations create") return IntegrationsCreate();
  if (name == "integrations list") return IntegrationsList();
  if (name == "integrations show") return IntegrationsShow();
  if (name == "integrations test") return IntegrationsTest();
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
    kv.Add("Sync policy", SyncPolicyName(s.sync_policy()));
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
                  "DEACTIVATED", "UNCHANGED", "REJECTED", "STARTED"});
  for (const v1::ImportSummary& s : all.imports()) {
    t.AddRow({s.import_id(), OrDash(s.integration_id()), OrDash(s.run_id()),
              ImportStatusName(s.status()), absl::StrCat(s.rows_read()), absl::StrCat(s.added()),
              absl::StrCat(s.updated()), absl::StrCat(s.deleted()), absl::StrCat(s.deactivated()),
              absl::StrCat(s.unchanged()), absl::StrCat(s.rejected_rows()),
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
  KeyValuePrinter kv;
  AddImportCounts(kv, s);
  kv.Add("Integration", OrDash(s.integration_id()));
  kv.Add("Run", OrDash(s.run_id()));
  kv.Add("Started", FormatTimestamp(s.started_at()));
  kv.Add("Finished", FormatTimestamp(s.finished_at()));
  kv.Print(out_);
  out_ << FormatRowErrors(s);
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

absl::Status Runner::BackupsDownload() {
  const std::string path = args_.Get("-o");
  ASSIGN_OR_RETURN(std::unique_ptr<DownloadSink> sink, DownloadSink::Open(path, &out_));
  v1::GetFileRequest request;
  request.set_tenant_id(Tenant());
  request.set_file_id(args_.positionals[0]);
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
      err_ << "rosterctl: backups download: the " << received
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
  } else {
    for (const char* import_only : {"--glob", "--map", "--sync"}) {
      if (args.Has(import_only)) {
        return UsageError(absl::StrCat(import_only, " is for --direction import"));
      }
    }
    v1::ExportSettings& s = *i.mutable_export_settings();
    s.set_remote_folder(args.Get("--folder"));
    s.set_file_name(args.Get("--file-name"));
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
