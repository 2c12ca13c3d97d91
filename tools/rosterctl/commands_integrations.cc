// rosterctl integrations create|list|show|update|test|scan-host-key|reprocess|activate|
// deactivate|windows|reseal.
#include <map>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "tools/rosterctl/command_runner.h"
#include "tools/rosterctl/commands.h"
#include "tools/rosterctl/table_printer.h"

namespace rostersync::rosterctl {
namespace internal {
namespace {

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

std::string DescribeWindow(const v1::TimeWindow& w) {
  std::string out = absl::StrCat(w.start(), " .. ", w.end());
  if (!w.reason().empty()) absl::StrAppend(&out, " (", w.reason(), ")");
  return out;
}

std::string Endpoint(const v1::SftpEndpoint& e) {
  if (e.host().empty()) return "-";
  return absl::StrCat(e.host(), ":", e.port() == 0 ? 22 : e.port());
}

}  // namespace

absl::Status Runner::PrintIntegration(const v1::Integration& i) {
  if (Json()) return PrintJson(i);
  KeyValuePrinter kv;
  kv.Add("Integration", i.integration_id());
  kv.Add("Name", i.name());
  kv.Add("Direction", DirectionName(i.direction()));
  kv.Add("Active", YesNo(i.active()));
  kv.Add("Server", Endpoint(i.endpoint()));
  kv.Add("User", OrDash(i.endpoint().username()));
  kv.Add("Host key", !i.endpoint().host_key_sha256().empty() ? i.endpoint().host_key_sha256()
                     : i.endpoint().trust_on_first_use()
                         ? "- (trust on first use: pinned at activation)"
                         : "-");
  kv.Add("Streams", i.endpoint().max_streams() > 0
                        ? absl::StrCat("up to ", i.endpoint().max_streams(), " per file")
                        : "default (downloads up to 2 per file, uploads 1)");
  kv.Add("Credentials", CredentialKindName(i.credential_kind()));
  kv.Add("Schedule", i.schedule().empty() ? "manual only" : i.schedule());
  kv.Add("Time zone", OrDash(i.time_zone()));
  kv.Add("Next run", FormatTimestamp(i.next_run_at()));
  kv.Add("Misfire window",
         i.misfire_window_s() > 0 ? absl::StrCat(i.misfire_window_s(), " s") : "scheduler default");
  for (const v1::TimeWindow& w : i.blackout_windows()) {
    kv.Add("Blackout", SanitizeCell(DescribeWindow(w)));
  }
  for (const v1::TimeWindow& w : i.add_only_windows()) {
    kv.Add("Add-only", SanitizeCell(DescribeWindow(w)));
  }
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
  v1::Integration response;
  RETURN_IF_ERROR(Call(ctx_.stubs->integrations.get(),
                       &v1::IntegrationService::StubInterface::CreateIntegration, request,
                       &response));
  return PrintIntegration(response);
}

absl::Status Runner::IntegrationsList() {
  ASSIGN_OR_RETURN(int64_t limit, Limit(100));
  v1::ListIntegrationsRequest base;
  base.set_tenant_id(Tenant());
  return List(
      limit, 500, ctx_.stubs->integrations.get(),
      &v1::IntegrationService::StubInterface::ListIntegrations, base,
      [](v1::ListIntegrationsResponse& r) { return r.mutable_integrations(); },
      {"ID", "NAME", "DIRECTION", "SERVER", "USER", "SCHEDULE", "TZ", "ACTIVE", "NEXT RUN"},
      [](const v1::Integration& i) -> std::vector<std::string> {
        return {i.integration_id(),
                i.name(),
                DirectionName(i.direction()),
                Endpoint(i.endpoint()),
                OrDash(i.endpoint().username()),
                OrDash(i.schedule()),
                OrDash(i.time_zone()),
                YesNo(i.active()),
                FormatTimestamp(i.next_run_at())};
      },
      "integrations");
}

absl::StatusOr<v1::Integration> Runner::GetIntegration(const std::string& integration_id) {
  v1::GetIntegrationRequest request;
  request.set_tenant_id(Tenant());
  request.set_integration_id(integration_id);
  v1::Integration integration;
  RETURN_IF_ERROR(Call(ctx_.stubs->integrations.get(),
                       &v1::IntegrationService::StubInterface::GetIntegration, request,
                       &integration));
  return integration;
}

absl::Status Runner::IntegrationsShow() {
  ASSIGN_OR_RETURN(v1::Integration integration, GetIntegration(args_.positionals[0]));
  return PrintIntegration(integration);
}

absl::Status Runner::IntegrationsScanHostKey() {
  v1::ScanHostKeyRequest request;
  request.set_host(args_.Get("--host"));
  if (request.host().empty()) return UsageError("--host is required");
  ASSIGN_OR_RETURN(int64_t port, ParsePort(args_));
  request.set_port(static_cast<int32_t>(port));
  if (ctx_.stubs->transfer == nullptr) {
    return absl::FailedPreconditionError("no sftp-transfer address (--transfer)");
  }
  v1::ScanHostKeyResponse response;
  RETURN_IF_ERROR(Call(ctx_.stubs->transfer.get(), &v1::TransferService::StubInterface::ScanHostKey,
                       request, &response));
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

absl::Status Runner::IntegrationsReprocess() {
  v1::ReprocessRequest request;
  request.set_tenant_id(Tenant());
  request.set_integration_id(args_.positionals[0]);
  request.set_remote_path(args_.Get("--path"));
  request.set_sha256(args_.Get("--sha256"));
  if (request.remote_path().empty() && request.sha256().empty()) {
    return UsageError("give --path REMOTE_PATH, --sha256 HEX or both");
  }
  if (ctx_.stubs->transfer == nullptr) {
    return absl::FailedPreconditionError("no sftp-transfer address (--transfer)");
  }
  v1::ReprocessResponse response;
  RETURN_IF_ERROR(Call(ctx_.stubs->transfer.get(), &v1::TransferService::StubInterface::Reprocess,
                       request, &response));
  if (Json()) return PrintJson(response);
  TablePrinter t({"REMOTE PATH", "SIZE", "SHA-256", "FILE", "PROCESSED"});
  for (const v1::ProcessedFileEntry& e : response.forgotten()) {
    t.AddRow({e.remote_path(), absl::StrCat(e.size_bytes()), e.sha256(), OrDash(e.file_id()),
              FormatTimestamp(e.processed_at())});
  }
  t.Print(out_);
  out_ << "Forgot " << response.forgotten_size()
       << " processed file(s); the next run of the integration fetches the file again.\n";
  return absl::OkStatus();
}

absl::Status Runner::IntegrationsTest() {
  v1::TestIntegrationRequest request;
  request.set_tenant_id(Tenant());
  request.set_integration_id(args_.positionals[0]);
  v1::TestConnectionResponse response;
  RETURN_IF_ERROR(Call(ctx_.stubs->integrations.get(),
                       &v1::IntegrationService::StubInterface::TestIntegration, request,
                       &response));
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

absl::Status AddHeaderMappings(const ParsedArgs& args,
                               google::protobuf::Map<std::string, std::string>* header_map) {
  for (const std::string& m : args.GetAll("--map")) {
    ASSIGN_OR_RETURN(auto mapping, ParseHeaderMapping(m));
    if (header_map->count(mapping.first) > 0) {
      return UsageError(absl::StrCat("--map maps source header '", mapping.first, "' twice"));
    }
    (*header_map)[mapping.first] = mapping.second;
  }
  return absl::OkStatus();
}

}  // namespace internal

namespace {

using internal::AddHeaderMappings;
using internal::ParsePort;

constexpr size_t kMaxSecretBytes = 64 * 1024;

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

// A one-line secret (password, passphrase) from the file named by `option`: one trailing
// newline is dropped; an empty secret is a usage error.
absl::StatusOr<std::string> ReadSecretLine(const ParsedArgs& args, const FileReader& read_file,
                                           const std::string& option) {
  const std::string path = args.Get(option);
  ASSIGN_OR_RETURN(std::string secret, ReadSecret(read_file, option, path));
  secret = StripOneNewline(std::move(secret));
  if (secret.empty()) return UsageError(absl::StrCat(option, " ", path, " is empty"));
  return secret;
}

// The value of `option`, one of the names in `choices`.
template <typename T>
absl::StatusOr<T> ParseChoice(const ParsedArgs& args, const std::string& option,
                              const std::vector<std::pair<std::string, T>>& choices) {
  const std::string value = args.Get(option);
  std::vector<std::string> names;
  for (const auto& [name, choice] : choices) {
    if (value == name) return choice;
    names.push_back(name);
  }
  return UsageError(
      absl::StrCat("invalid ", option, " '", value, "' (", absl::StrJoin(names, "|"), ")"));
}

}  // namespace

namespace {

absl::StatusOr<v1::TimeWindow> ParseTimeWindowOption(absl::string_view value,
                                                     absl::string_view option) {
  v1::TimeWindow w;
  absl::string_view span = value;
  if (size_t eq = value.find('='); eq != absl::string_view::npos) {
    w.set_reason(std::string(absl::StripAsciiWhitespace(value.substr(eq + 1))));
    span = value.substr(0, eq);
  }
  const size_t dots = span.find("..");
  if (dots == absl::string_view::npos) {
    return UsageError(absl::StrCat("invalid ", option, " '", value,
                                   "' (expected START..END[=REASON], dates YYYY-MM-DD or "
                                   "YYYY-MM-DDTHH:MM in the integration's time zone)"));
  }
  w.set_start(std::string(absl::StripAsciiWhitespace(span.substr(0, dots))));
  w.set_end(std::string(absl::StripAsciiWhitespace(span.substr(dots + 2))));
  if (w.start().empty() || w.end().empty()) {
    return UsageError(
        absl::StrCat("invalid ", option, " '", value, "' (expected START..END[=REASON])"));
  }
  return w;
}

absl::Status ApplyScheduleRuleOptions(const ParsedArgs& args, v1::Integration& integration) {
  for (const std::string& v : args.GetAll("--blackout")) {
    ASSIGN_OR_RETURN(*integration.add_blackout_windows(), ParseTimeWindowOption(v, "--blackout"));
  }
  for (const std::string& v : args.GetAll("--add-only")) {
    ASSIGN_OR_RETURN(*integration.add_add_only_windows(), ParseTimeWindowOption(v, "--add-only"));
  }
  if (args.Has("--misfire-window")) {
    absl::Duration d;
    if (!absl::ParseDuration(args.Get("--misfire-window"), &d) || d < absl::Minutes(1) ||
        d > absl::Hours(24 * 7)) {
      return UsageError(absl::StrCat("invalid --misfire-window '", args.Get("--misfire-window"),
                                     "' (a duration from 1m to 168h, e.g. 90m or 2h)"));
    }
    integration.set_misfire_window_s(static_cast<int32_t>(absl::ToInt64Seconds(d)));
  }
  return absl::OkStatus();
}

}  // namespace

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

// The credentials the options give (--password-file, --password-env or --key-file with an
// optional --passphrase-file), or nullopt when none is given. Errors name the option and path,
// never a secret.
absl::StatusOr<std::optional<v1::Credentials>> CredentialsFromArgs(const ParsedArgs& args,
                                                                   const EnvLookup& env,
                                                                   const FileReader& read_file) {
  const int sources = static_cast<int>(args.Has("--password-file")) +
                      static_cast<int>(args.Has("--password-env")) +
                      static_cast<int>(args.Has("--key-file"));
  if (args.Has("--passphrase-file") && !args.Has("--key-file")) {
    return UsageError("--passphrase-file needs --key-file");
  }
  if (sources == 0) return std::nullopt;
  if (sources > 1) {
    return UsageError(
        "give exactly one of --password-file FILE, --password-env VAR, --key-file FILE");
  }
  v1::Credentials creds;
  if (args.Has("--password-file")) {
    ASSIGN_OR_RETURN(std::string password, ReadSecretLine(args, read_file, "--password-file"));
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
      ASSIGN_OR_RETURN(std::string passphrase,
                       ReadSecretLine(args, read_file, "--passphrase-file"));
      creds.mutable_private_key()->set_passphrase(std::move(passphrase));
    }
  }
  return creds;
}

// Checks --host-key (SHA256:<base64>).
absl::Status CheckHostKeyOption(const std::string& host_key) {
  if (!absl::StartsWith(host_key, "SHA256:") || host_key.size() == 7) {
    return UsageError(absl::StrCat("invalid --host-key '", host_key,
                                   "' (expected SHA256:<base64>, as `ssh-keygen -lf` prints it)"));
  }
  return absl::OkStatus();
}

// --max-streams in [min, 8] into `e`, if given (1 on create; 0, the default, on update).
absl::Status ApplyMaxStreamsOption(const ParsedArgs& args, int64_t min, v1::SftpEndpoint& e) {
  if (!args.Has("--max-streams")) return absl::OkStatus();
  ASSIGN_OR_RETURN(int64_t streams, ParseInt(args.Get("--max-streams"), "--max-streams", min, 8));
  e.set_max_streams(static_cast<int32_t>(streams));
  return absl::OkStatus();
}

absl::StatusOr<v1::CreateIntegrationRequest> BuildCreateIntegrationRequest(
    const ParsedArgs& args, const EnvLookup& env, const FileReader& read_file) {
  for (const char* required : {"--name", "--direction", "--host", "--user"}) {
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
  ASSIGN_OR_RETURN(int64_t port, ParsePort(args));
  e.set_port(static_cast<int32_t>(port));
  e.set_username(args.Get("--user"));
  const std::string host_key = args.Get("--host-key");
  e.set_trust_on_first_use(args.Has("--trust-on-first-use"));
  if (host_key.empty() && !e.trust_on_first_use()) {
    return UsageError(
        "missing --host-key (or --trust-on-first-use to pin the key seen at "
        "activation)");
  }
  if (!host_key.empty()) RETURN_IF_ERROR(CheckHostKeyOption(host_key));
  e.set_host_key_sha256(host_key);
  RETURN_IF_ERROR(ApplyMaxStreamsOption(args, 1, e));
  i.set_schedule(args.Get("--schedule"));
  i.set_time_zone(args.Get("--time-zone"));
  i.set_active(!args.Has("--inactive"));
  request.set_inactive(args.Has("--inactive"));
  RETURN_IF_ERROR(ApplyScheduleRuleOptions(args, i));

  if (direction == v1::RUN_DIRECTION_IMPORT) {
    if (args.Has("--file-name")) return UsageError("--file-name is for --direction export");
    v1::ImportSettings& s = *i.mutable_import_settings();
    s.set_remote_folder(args.Get("--folder"));
    s.set_file_glob(args.Get("--glob"));
    RETURN_IF_ERROR(AddHeaderMappings(args, s.mutable_header_map()));
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
      ASSIGN_OR_RETURN(v1::FetchOptions::Order order,
                       ParseChoice<v1::FetchOptions::Order>(
                           args, "--order",
                           {{"newest", v1::FetchOptions::ORDER_NEWEST},
                            {"oldest-first", v1::FetchOptions::ORDER_OLDEST_FIRST}}));
      f.set_order(order);
    }
    if (args.Has("--after-fetch")) {
      ASSIGN_OR_RETURN(v1::FetchOptions::AfterFetch after,
                       ParseChoice<v1::FetchOptions::AfterFetch>(
                           args, "--after-fetch",
                           {{"leave", v1::FetchOptions::AFTER_FETCH_LEAVE},
                            {"move", v1::FetchOptions::AFTER_FETCH_MOVE},
                            {"delete", v1::FetchOptions::AFTER_FETCH_DELETE}}));
      f.set_after_fetch(after);
    }
    f.set_archive_folder(args.Get("--archive-folder"));
  } else {
    for (const char* import_only :
         {"--glob", "--map", "--sync", "--encoding", "--delimiter", "--date-format", "--attr-type",
          "--max-invalid-share", "--max-removals", "--max-removal-share", "--max-row-drop-share",
          "--allow-header-change", "--stability-interval", "--min-age", "--done-marker", "--order",
          "--after-fetch", "--archive-folder"}) {
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

  ASSIGN_OR_RETURN(std::optional<v1::Credentials> credentials,
                   CredentialsFromArgs(args, env, read_file));
  if (!credentials.has_value()) {
    return UsageError(
        "give exactly one of --password-file FILE, --password-env VAR, --key-file FILE");
  }
  *request.mutable_credentials() = *std::move(credentials);
  return request;
}

// The endpoint options of `integrations update` given, applied to `e`.
absl::Status ApplyEndpointUpdateOptions(const ParsedArgs& args, v1::SftpEndpoint& e) {
  if (args.Has("--host")) e.set_host(args.Get("--host"));
  if (args.Has("--port")) {
    ASSIGN_OR_RETURN(int64_t port, ParsePort(args));
    e.set_port(static_cast<int32_t>(port));
  }
  if (args.Has("--user")) e.set_username(args.Get("--user"));
  if (args.Has("--host-key")) {
    RETURN_IF_ERROR(CheckHostKeyOption(args.Get("--host-key")));
    e.set_host_key_sha256(args.Get("--host-key"));
    e.set_trust_on_first_use(false);
  }
  if (args.Has("--trust-on-first-use")) {
    e.set_host_key_sha256("");
    e.set_trust_on_first_use(true);
  }
  return ApplyMaxStreamsOption(args, 0, e);
}

absl::StatusOr<v1::UpdateIntegrationRequest> BuildUpdateIntegrationRequest(
    const ParsedArgs& args, const v1::Integration& current, const EnvLookup& env,
    const FileReader& read_file) {
  v1::UpdateIntegrationRequest request;
  v1::Integration& i = *request.mutable_integration();
  i.set_tenant_id(current.tenant_id());
  i.set_integration_id(current.integration_id());
  auto mask = [&](const char* path) { request.mutable_update_mask()->add_paths(path); };
  if (args.Has("--host-key") && args.Has("--trust-on-first-use")) {
    return UsageError("--host-key and --trust-on-first-use exclude each other");
  }
  if (args.Has("--name")) {
    if (args.Get("--name").empty()) return UsageError("--name cannot be empty");
    i.set_name(args.Get("--name"));
    mask("name");
  }
  // The endpoint is replaced whole: the stored one with the given options applied.
  bool endpoint_given = false;
  for (const char* option : {"--host", "--port", "--user", "--host-key", "--trust-on-first-use",
                             "--max-streams"}) {
    endpoint_given |= args.Has(option);
  }
  ASSIGN_OR_RETURN(std::optional<v1::Credentials> credentials,
                   CredentialsFromArgs(args, env, read_file));
  if (endpoint_given || credentials.has_value()) {
    // New credentials alone still name the endpoint (unchanged) in the mask: an empty mask
    // would mean every field.
    *i.mutable_endpoint() = current.endpoint();
    RETURN_IF_ERROR(ApplyEndpointUpdateOptions(args, *i.mutable_endpoint()));
    mask("endpoint");
  }
  if (credentials.has_value()) *request.mutable_credentials() = *std::move(credentials);
  if (args.Has("--schedule") && args.Has("--manual-only")) {
    return UsageError("--schedule and --manual-only exclude each other");
  }
  if (args.Has("--schedule") || args.Has("--manual-only")) {
    i.set_schedule(args.Get("--schedule"));
    mask("schedule");
  }
  if (args.Has("--time-zone")) {
    i.set_time_zone(args.Get("--time-zone"));
    mask("time_zone");
  }
  if (request.update_mask().paths().empty()) {
    return UsageError(
        "nothing to change: give --name, --host, --port, --user, --host-key, "
        "--trust-on-first-use, --max-streams, --password-file, --password-env, --key-file, "
        "--schedule, --manual-only or --time-zone");
  }
  return request;
}

namespace internal {

absl::Status Runner::SetIntegrationActive(bool active) {
  v1::UpdateIntegrationRequest request;
  request.mutable_integration()->set_tenant_id(Tenant());
  request.mutable_integration()->set_integration_id(args_.positionals[0]);
  request.mutable_integration()->set_active(active);
  request.mutable_update_mask()->add_paths("active");
  v1::Integration response;
  RETURN_IF_ERROR(Call(ctx_.stubs->integrations.get(),
                       &v1::IntegrationService::StubInterface::UpdateIntegration, request,
                       &response));
  return PrintIntegration(response);
}

absl::Status Runner::IntegrationsActivate() { return SetIntegrationActive(true); }
absl::Status Runner::IntegrationsDeactivate() { return SetIntegrationActive(false); }

absl::Status Runner::IntegrationsUpdate() {
  // The options (and secret files) are checked and read once, before anything is read from
  // the scheduler, so a usage mistake is reported as one (exit 2); the endpoint is then
  // rebased on the stored one.
  v1::Integration ids;
  ids.set_tenant_id(Tenant());
  ids.set_integration_id(args_.positionals[0]);
  ASSIGN_OR_RETURN(v1::UpdateIntegrationRequest request,
                   BuildUpdateIntegrationRequest(args_, ids, ctx_.env, ctx_.read_file));
  ASSIGN_OR_RETURN(v1::Integration current, GetIntegration(args_.positionals[0]));
  if (request.integration().has_endpoint()) {
    v1::SftpEndpoint& e = *request.mutable_integration()->mutable_endpoint();
    e = current.endpoint();
    RETURN_IF_ERROR(ApplyEndpointUpdateOptions(args_, e));
  }
  v1::Integration response;
  RETURN_IF_ERROR(Call(ctx_.stubs->integrations.get(),
                       &v1::IntegrationService::StubInterface::UpdateIntegration, request,
                       &response));
  return PrintIntegration(response);
}

absl::Status Runner::IntegrationsWindows() {
  v1::UpdateIntegrationRequest request;
  v1::Integration& i = *request.mutable_integration();
  i.set_tenant_id(Tenant());
  i.set_integration_id(args_.positionals[0]);
  RETURN_IF_ERROR(ApplyScheduleRuleOptions(args_, i));
  const bool clear_blackouts = args_.Has("--clear-blackouts");
  const bool clear_add_only = args_.Has("--clear-add-only");
  if (clear_blackouts && args_.Has("--blackout")) {
    return UsageError("--clear-blackouts and --blackout exclude each other");
  }
  if (clear_add_only && args_.Has("--add-only")) {
    return UsageError("--clear-add-only and --add-only exclude each other");
  }
  if (args_.Has("--blackout") || clear_blackouts) {
    request.mutable_update_mask()->add_paths("blackout_windows");
  }
  if (args_.Has("--add-only") || clear_add_only) {
    request.mutable_update_mask()->add_paths("add_only_windows");
  }
  if (args_.Has("--misfire-window") || args_.Has("--default-misfire-window")) {
    if (args_.Has("--misfire-window") && args_.Has("--default-misfire-window")) {
      return UsageError("--misfire-window and --default-misfire-window exclude each other");
    }
    request.mutable_update_mask()->add_paths("misfire_window_s");
  }
  if (request.update_mask().paths().empty()) {
    return UsageError(
        "nothing to change: give --blackout, --add-only, --clear-blackouts, --clear-add-only, "
        "--misfire-window or --default-misfire-window");
  }
  v1::Integration response;
  RETURN_IF_ERROR(Call(ctx_.stubs->integrations.get(),
                       &v1::IntegrationService::StubInterface::UpdateIntegration, request,
                       &response));
  return PrintIntegration(response);
}

absl::Status Runner::IntegrationsReseal() {
  v1::ResealCredentialsRequest request;
  if (!args_.Has("--all-tenants")) request.set_tenant_id(Tenant());
  v1::ResealCredentialsResponse response;
  RETURN_IF_ERROR(Call(ctx_.stubs->integrations.get(),
                       &v1::IntegrationService::StubInterface::ResealCredentials, request,
                       &response));
  if (Json()) {
    RETURN_IF_ERROR(PrintJson(response));
  } else {
    KeyValuePrinter kv;
    kv.Add("Tenant", request.tenant_id().empty() ? "all" : request.tenant_id());
    kv.Add("Current key id", SanitizeCell(response.key_id()));
    kv.Add("Re-sealed", absl::StrCat(response.resealed()));
    kv.Add("Already current", absl::StrCat(response.already_current()));
    kv.Add("Failed", absl::StrCat(response.failed()));
    for (const std::string& id : response.failed_integration_ids()) {
      kv.Add("Failed integration", SanitizeCell(id));
    }
    kv.Print(out_);
  }
  if (response.failed() > 0) {
    return OutcomeFailure(absl::StrCat(
        response.failed(),
        " integration(s) could not be opened with any loaded master key; see the scheduler log, "
        "load the old key with --previous_master_key_file, or replace their credentials"));
  }
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace rostersync::rosterctl
