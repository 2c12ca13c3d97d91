#include "tools/rosterctl/cli_args.h"

#include <cstdlib>
#include <limits>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace rostersync::rosterctl {
namespace {

constexpr char kDefaultScheduler[] = "127.0.0.1:50064";
constexpr char kDefaultRoster[] = "127.0.0.1:50062";
constexpr char kDefaultBackup[] = "127.0.0.1:50061";
constexpr char kDefaultTransfer[] = "127.0.0.1:50063";

struct GlobalSpec {
  std::string name;
  std::string value_name;
  std::string help;
};

const std::vector<GlobalSpec>& Globals() {
  static const auto* globals = new std::vector<GlobalSpec>{
      {"--scheduler", "HOST:PORT",
       "scheduler address (env ROSTERSYNC_SCHEDULER, default 127.0.0.1:50064)"},
      {"--roster", "HOST:PORT", "roster address (env ROSTERSYNC_ROSTER, default 127.0.0.1:50062)"},
      {"--backup", "HOST:PORT", "backup address (env ROSTERSYNC_BACKUP, default 127.0.0.1:50061)"},
      {"--transfer", "HOST:PORT",
       "sftp-transfer address (env ROSTERSYNC_TRANSFER, default 127.0.0.1:50063)"},
      {"--tenant", "TENANT", "tenant id (env ROSTERSYNC_TENANT; required)"},
      {"--output", "table|json", "output format (default table)"},
      {"--timeout", "SECONDS",
       "deadline of every call (default 30; 3600 for imports upload|preview|approve and "
       "backups restore)"},
  };
  return *globals;
}

// Options that would put a secret into argv (and so into `ps`): refused with a hint.
struct SecretOption {
  std::string name;
  std::string hint;
};
const std::vector<SecretOption>& SecretOptions() {
  static const auto* secrets = new std::vector<SecretOption>{
      {"--password", "use --password-file FILE or --password-env VAR"},
      {"--passphrase", "use --passphrase-file FILE"},
      {"--key", "use --key-file FILE"},
      {"--private-key", "use --key-file FILE"},
      {"--key-pem", "use --key-file FILE"},
      {"--secret", "use --password-file FILE, --password-env VAR or --key-file FILE"},
  };
  return *secrets;
}

OptionSpec Opt(std::string name, std::string value_name, std::string help, bool repeatable = false,
               std::string alias = "") {
  return OptionSpec{std::move(name), std::move(value_name), repeatable, std::move(help),
                    std::move(alias)};
}
OptionSpec Switch(std::string name, std::string help) {
  return OptionSpec{std::move(name), "", false, std::move(help), ""};
}
// --limit of a list command that lists `fallback` rows by default.
OptionSpec LimitOpt(int fallback) {
  return Opt("--limit", "N", absl::StrCat("at most N rows (default ", fallback, ")"));
}
// -o of a download.
OptionSpec OutputFileOpt() {
  return Opt("-o", "PATH", "write to PATH instead of stdout", false, "--output-file");
}
// The options of `imports preview` and `imports upload`: --integration (whose help differs),
// the mapping and policy options they share, and `last`, the one of the command alone.
std::vector<OptionSpec> RosterFileOptions(std::string integration_help, OptionSpec last) {
  return {
      Opt("--integration", "ID", std::move(integration_help)),
      Opt("--map", "'Source Header=field'", "header mapping (repeatable)", /*repeatable=*/true),
      Opt("--sync", "delete|deactivate|keep", "people absent from the file"),
      Opt("--encoding", "auto|utf-8|windows-1252", "file encoding (default auto)"),
      Opt("--delimiter", "D", ", ; tab or | (default: sniffed)"),
      std::move(last),
  };
}

constexpr char kUsagePayload[] = "type.rostersync.dev/rosterctl.UsageError";

absl::Status Usage(const std::string& message) { return UsageError(message); }

// Finds an enum value by short name ("succeeded"), upper-case name, or full name.
template <typename Enum>
absl::StatusOr<Enum> ParseEnum(absl::string_view value, absl::string_view option,
                               const google::protobuf::EnumDescriptor* descriptor,
                               absl::string_view prefix) {
  std::string upper = absl::AsciiStrToUpper(value);
  std::string full = absl::StartsWith(upper, prefix) ? upper : absl::StrCat(prefix, upper);
  const google::protobuf::EnumValueDescriptor* found = descriptor->FindValueByName(full);
  std::vector<std::string> allowed;
  for (int i = 0; i < descriptor->value_count(); ++i) {
    if (descriptor->value(i)->number() == 0) continue;
    allowed.push_back(absl::AsciiStrToLower(descriptor->value(i)->name().substr(prefix.size())));
  }
  if (found == nullptr || found->number() == 0 || value.empty()) {
    return Usage(absl::StrCat("invalid value '", value, "' for ", option, " (expected one of ",
                              absl::StrJoin(allowed, "|"), ")"));
  }
  return static_cast<Enum>(found->number());
}

template <typename Enum>
std::string EnumShortName(int value, const google::protobuf::EnumDescriptor* descriptor,
                          absl::string_view prefix) {
  const google::protobuf::EnumValueDescriptor* v = descriptor->FindValueByNumber(value);
  if (v == nullptr) return absl::StrCat("unknown(", value, ")");
  if (v->number() == 0) return "-";
  std::string name = v->name();
  if (absl::StartsWith(name, prefix)) name = name.substr(prefix.size());
  return absl::AsciiStrToLower(name);
}

}  // namespace

absl::Status UsageError(absl::string_view message) {
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(kUsagePayload, absl::Cord("1"));
  return status;
}

bool IsUsageError(const absl::Status& status) {
  return status.code() == absl::StatusCode::kInvalidArgument &&
         status.GetPayload(kUsagePayload).has_value();
}

const std::vector<CommandSpec>& Commands() {
  static const auto* commands = new std::vector<CommandSpec>{
      {"integrations",
       "create",
       {},
       {
           Opt("--name", "NAME", "integration name (required)"),
           Opt("--direction", "import|export", "direction (required)"),
           Opt("--host", "HOST", "SFTP host (required)"),
           Opt("--port", "PORT", "SFTP port (default 22)"),
           Opt("--user", "USER", "SFTP user name (required)"),
           Opt("--host-key", "SHA256:...",
               "pinned host key fingerprint (required unless --trust-on-first-use)"),
           Switch("--trust-on-first-use",
                  "no --host-key: pin the key the server shows at activation"),
           Opt("--max-streams", "N",
               "SFTP connections per file of 32 MiB or more, 1..8 (default: downloads 2, "
               "uploads 1; above 1 also stripes uploads)"),
           Opt("--password-file", "FILE", "read the password from FILE"),
           Opt("--password-env", "VAR", "read the password from environment variable VAR"),
           Opt("--key-file", "FILE", "private key (OpenSSH or PEM) from FILE"),
           Opt("--passphrase-file", "FILE", "passphrase of --key-file, read from FILE"),
           Opt("--schedule", "CRON", "five-field cron schedule (default: manual only)"),
           Opt("--time-zone", "TZ", "IANA time zone of the schedule (default UTC)"),
           Opt("--folder", "DIR", "remote folder"),
           Opt("--glob", "GLOB", "import: file name pattern, e.g. 'roster_*.csv'"),
           Opt("--map", "'Source Header=field'",
               "import: header mapping (repeatable); field is person_id, email, first_name, "
               "last_name, language, active, person_type, seat or attr:NAME",
               /*repeatable=*/true),
           Opt("--sync", "delete|deactivate|keep", "import: people absent from the file"),
           Opt("--encoding", "auto|utf-8|windows-1252", "import: file encoding (default auto)"),
           Opt("--delimiter", "D", "import: , ; tab or | (default: sniffed)"),
           Opt("--date-format", "FORMAT", "import: date attributes not in ISO 8601, e.g. %m/%d/%Y"),
           Opt("--attr-type", "NAME=TYPE",
               "import: type of attribute NAME: string|date|boolean|email|int (repeatable)",
               /*repeatable=*/true),
           Opt("--max-invalid-share", "SHARE",
               "import: reject the file past this share of invalid rows (0..1, default 0.05)"),
           Opt("--max-removals", "N", "import: hold removals above N for approval (default 500)"),
           Opt("--max-removal-share", "SHARE",
               "import: hold removals above this share of the roster (0..1, default 0.2)"),
           Opt("--max-row-drop-share", "SHARE",
               "import: hold a file whose row count fell by more than this (0..1, default 0.5)"),
           Switch("--allow-header-change", "import: do not hold a file whose headers changed"),
           Opt("--stability-interval", "MS",
               "import: pick a file only if its size and mtime hold across two listings MS "
               "milliseconds apart (default 0: no check)"),
           Opt("--min-age", "SECONDS", "import: pick a file only once it is this old"),
           Opt("--done-marker", "SUFFIX",
               "import: pick a file only once FILE+SUFFIX exists, e.g. '.done'"),
           Opt("--order", "newest|oldest-first",
               "import: the newest new file (default), or every new file oldest first, one per "
               "run"),
           Opt("--after-fetch", "leave|move|delete",
               "import: what to do with a fetched file (default leave)"),
           Opt("--archive-folder", "DIR", "import: where --after-fetch move puts fetched files"),
           Opt("--file-name", "NAME",
               "export: remote file name; {yyyyMMdd} etc. is the run's date in --time-zone"),
           Opt("--temp-prefix", "PREFIX", "export: upload to PREFIX+NAME, then rename"),
           Opt("--temp-suffix", "SUFFIX",
               "export: upload to NAME+SUFFIX, then rename (default: .NAME.part)"),
           Switch("--inactive",
                  "create the integration inactive (a draft: no connection test yet)"),
           Opt("--blackout", "START..END[=REASON]",
               "no runs in this local window (dates YYYY-MM-DD or YYYY-MM-DDTHH:MM; repeatable)",
               /*repeatable=*/true),
           Opt("--add-only", "START..END[=REASON]",
               "import: nobody is removed in this local window (repeatable)",
               /*repeatable=*/true),
           Opt("--misfire-window", "DURATION",
               "after downtime, still run a missed slot this late, e.g. 2h (default: the "
               "scheduler's --misfire_window_s)"),
       },
       "create an integration (secrets come from files or env vars, never argv)"},
      {"integrations", "list", {}, {LimitOpt(100)}, "list integrations"},
      {"integrations", "show", {"INTEGRATION_ID"}, {}, "show one integration"},
      {"integrations",
       "update",
       {"INTEGRATION_ID"},
       {
           Opt("--name", "NAME", "new name"),
           Opt("--host", "HOST", "SFTP host"),
           Opt("--port", "PORT", "SFTP port"),
           Opt("--user", "USER", "SFTP user name"),
           Opt("--host-key", "SHA256:...", "pin this host key fingerprint"),
           Switch("--trust-on-first-use",
                  "drop the pin: the key the server shows at the next activation is pinned"),
           Opt("--max-streams", "N",
               "SFTP connections per file of 32 MiB or more, 1..8, or 0 for the default"),
           Opt("--password-file", "FILE", "replace the credentials: password from FILE"),
           Opt("--password-env", "VAR",
               "replace the credentials: password from environment variable VAR"),
           Opt("--key-file", "FILE", "replace the credentials: private key from FILE"),
           Opt("--passphrase-file", "FILE", "passphrase of --key-file, read from FILE"),
           Opt("--schedule", "CRON", "five-field cron schedule"),
           Switch("--manual-only", "no schedule: runs only when triggered"),
           Opt("--time-zone", "TZ", "IANA time zone of the schedule"),
       },
       "change an integration's name, server, host key pin, streams, credentials or schedule "
       "(an active one's new server or credentials are tested first; nothing changes if the "
       "test fails)"},
      {"integrations",
       "test",
       {"INTEGRATION_ID"},
       {},
       "test an integration's SFTP connection (exit 1 if it fails)"},
      {"integrations",
       "scan-host-key",
       {},
       {Opt("--host", "HOST", "SFTP server host name or address (required)"),
        Opt("--port", "PORT", "SFTP server port (default 22)")},
       "show an SFTP server's host key type and SHA-256 fingerprint, to verify and pin it"},
      {"integrations",
       "reprocess",
       {"INTEGRATION_ID"},
       {Opt("--path", "REMOTE_PATH",
            "the fetched file's remote path, as runs show it (e.g. in/roster.csv)"),
        Opt("--sha256", "HEX", "the fetched content's SHA-256 (64 lowercase hex digits)")},
       "forget a fetched file (by --path and/or --sha256) so the next run fetches it again"},
      {"integrations",
       "activate",
       {"INTEGRATION_ID"},
       {},
       "activate: tests the connection (pinning the host key on trust on first use) first"},
      {"integrations", "deactivate", {"INTEGRATION_ID"}, {}, "deactivate: no more runs"},
      {"integrations",
       "windows",
       {"INTEGRATION_ID"},
       {
           Opt("--blackout", "START..END[=REASON]",
               "replace the blackout windows with these (repeatable)", /*repeatable=*/true),
           Opt("--add-only", "START..END[=REASON]",
               "replace the add-only windows with these (repeatable)", /*repeatable=*/true),
           Switch("--clear-blackouts", "remove every blackout window"),
           Switch("--clear-add-only", "remove every add-only window"),
           Opt("--misfire-window", "DURATION", "this integration's misfire window, e.g. 2h"),
           Switch("--default-misfire-window", "use the scheduler's --misfire_window_s"),
       },
       "set an integration's blackout / add-only windows and misfire window"},
      {"integrations",
       "reseal",
       {},
       {Switch("--all-tenants", "every tenant's integrations, not only --tenant's")},
       "re-seal stored credentials under the current master key (after a key rotation)"},
      {"runs",
       "trigger",
       {"INTEGRATION_ID"},
       {
           Switch("--wait", "wait until the run ends; exit 0 only if SUCCEEDED or SKIPPED"),
           Opt("--wait-timeout", "SECONDS", "give up waiting after SECONDS (default 600)"),
       },
       "start a run now"},
      {"runs", "show", {"RUN_ID"}, {}, "show a run: state, steps, error, files, import counts"},
      {"runs",
       "list",
       {},
       {
           Opt("--integration", "ID", "only runs of this integration"),
           Opt("--state", "STATE", "only runs in STATE (queued, fetching, ..., failed)"),
           LimitOpt(50),
       },
       "list runs, newest first"},
      {"runs",
       "cancel",
       {"RUN_ID"},
       {
           Opt("--reason", "TEXT", "why, recorded on the run"),
           Opt("--by", "NAME", "who, recorded on the run (default $USER)"),
       },
       "cancel a run in progress or HELD; its unpublished job is dropped"},
      {"runs",
       "approve",
       {"RUN_ID"},
       {Opt("--by", "NAME", "who, recorded on the run (default $USER)")},
       "approve a HELD run: the roster applies its held removals, the run SUCCEEDS"},
      {"people",
       "list",
       {},
       {
           Opt("--type", "TYPE", "employee|contractor|intern|part_time|student|staff|other"),
           Opt("--active", "true|false", "only active or only inactive people"),
           Opt("--attr", "NAME=VALUE", "only people whose attribute NAME is VALUE (repeatable)",
               /*repeatable=*/true),
           LimitOpt(100),
       },
       "list people"},
      {"people", "show", {"PERSON_ID"}, {}, "show one person"},
      {"people",
       "assign-seat",
       {"PERSON_ID", "SEAT"},
       {},
       "assign a seat to a person (an empty SEAT \"\" releases it)"},
      {"imports",
       "list",
       {},
       {
           Opt("--integration", "ID", "only imports of this integration"),
           LimitOpt(50),
       },
       "list imports, newest first"},
      {"imports", "show", {"IMPORT_ID"}, {}, "show one import with its row errors"},
      {"imports",
       "preview",
       {"FILE"},
       RosterFileOptions(
           "preview as this integration's import: its mapping and policy are the defaults, and "
           "its people are the ones a full sync may remove",
           Opt("--examples", "N", "examples of each change kind (default 10)")),
       "dry run of a local CSV: counts per change kind, examples, the diff file; nothing "
       "applied"},
      {"imports",
       "upload",
       {"FILE"},
       RosterFileOptions(
           "import as this integration: its mapping and policy are the defaults, and its people "
           "are the ones a full sync may remove",
           Opt("--request-id", "R", "idempotency key: a retried upload with R applies once")),
       "import a local CSV (backed up first); exit 1 if rejected or failed"},
      {"imports",
       "errors",
       {"IMPORT_ID"},
       {
           OutputFileOpt(),
       },
       "download an import's error report (line, column, value, reason) as CSV"},
      {"imports",
       "approve",
       {"IMPORT_ID"},
       {},
       "apply exactly the removals a held import set aside"},
      {"backups",
       "list",
       {},
       {
           Opt("--kind", "source|backup|export|error_report", "only files of this kind"),
           Opt("--integration", "ID", "only files of this integration"),
           LimitOpt(50),
       },
       "list archived files, newest first"},
      {"backups",
       "download",
       {"FILE_ID"},
       {
           OutputFileOpt(),
       },
       "download an archived file (verified; a partial file is deleted on error)"},
      {"backups",
       "restore",
       {"BACKUP_FILE_ID"},
       {
           Switch("--preview", "show what the restore would change; change nothing"),
           Opt("--examples", "N", "examples of each change kind (default 10)"),
       },
       "bring back the roster of a backup exactly (the current one is backed up first)"},
  };
  return *commands;
}

const CommandSpec* FindCommand(absl::string_view group, absl::string_view verb) {
  for (const CommandSpec& c : Commands()) {
    if (c.group == group && c.verb == verb) return &c;
  }
  return nullptr;
}

std::string ParsedArgs::Get(const std::string& name, const std::string& fallback) const {
  auto it = options.find(name);
  if (it == options.end() || it->second.empty()) return fallback;
  return it->second.back();
}

const std::vector<std::string>& ParsedArgs::GetAll(const std::string& name) const {
  static const auto* empty = new std::vector<std::string>();
  auto it = options.find(name);
  return it == options.end() ? *empty : it->second;
}

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

absl::StatusOr<ParsedArgs> Parse(const std::vector<std::string>& args, const EnvLookup& env) {
  ParsedArgs parsed;
  std::map<std::string, std::string> globals;  // explicit global options
  std::vector<std::string> words;              // non-option words, in order
  std::string group;
  bool options_ended = false;

  auto global_spec = [](absl::string_view name) -> const GlobalSpec* {
    for (const GlobalSpec& g : Globals()) {
      if (g.name == name) return &g;
    }
    return nullptr;
  };

  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    const bool is_option = !options_ended && arg.size() > 1 && arg[0] == '-';
    if (!is_option) {
      if (parsed.command == nullptr && !parsed.help) {
        if (group.empty()) {
          if (arg == "help") {
            parsed.help = true;
            continue;
          }
          bool known = false;
          for (const CommandSpec& c : Commands()) known = known || c.group == arg;
          if (!known) return Usage(absl::StrCat("unknown command '", arg, "'"));
          group = arg;
          continue;
        }
        parsed.command = FindCommand(group, arg);
        if (parsed.command == nullptr) {
          return Usage(absl::StrCat("unknown command '", group, " ", arg, "'"));
        }
        continue;
      }
      words.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_ended = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      parsed.help = true;
      continue;
    }
    // Split "--name=value". The value is never echoed in an error: it may be a secret.
    std::string name = arg;
    std::optional<std::string> inline_value;
    if (size_t eq = arg.find('='); eq != std::string::npos && absl::StartsWith(arg, "--")) {
      name = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
    }
    for (const SecretOption& secret : SecretOptions()) {
      if (name == secret.name) {
        return Usage(absl::StrCat(name,
                                  " is not accepted: secrets on the command line show in ps "
                                  "and shell history; ",
                                  secret.hint));
      }
    }
    auto take_value = [&](const std::string& value_name) -> absl::StatusOr<std::string> {
      if (inline_value.has_value()) return *inline_value;
      if (i + 1 >= args.size()) {
        return Usage(absl::StrCat("option ", name, " needs a value (", value_name, ")"));
      }
      return args[++i];
    };
    if (const GlobalSpec* g = global_spec(name)) {
      absl::StatusOr<std::string> value = take_value(g->value_name);
      if (!value.ok()) return value.status();
      globals[g->name] = *value;
      continue;
    }
    const OptionSpec* spec = nullptr;
    if (parsed.command != nullptr) {
      for (const OptionSpec& o : parsed.command->options) {
        if (o.name == name || (!o.alias.empty() && o.alias == name)) spec = &o;
      }
    }
    if (spec == nullptr) {
      if (parsed.command == nullptr) {
        return Usage(absl::StrCat(
            "unknown option ", name,
            group.empty() ? std::string() : absl::StrCat(" (before the command verb)")));
      }
      return Usage(
          absl::StrCat("unknown option ", name, " for '", parsed.command->FullName(), "'"));
    }
    std::vector<std::string>& values = parsed.options[spec->name];
    if (spec->value_name.empty()) {
      if (inline_value.has_value()) {
        return Usage(absl::StrCat("option ", name, " takes no value"));
      }
      if (!values.empty()) return Usage(absl::StrCat("option ", name, " given twice"));
      values.push_back("");
      continue;
    }
    if (!spec->repeatable && !values.empty()) {
      return Usage(absl::StrCat("option ", name, " given twice"));
    }
    absl::StatusOr<std::string> value = take_value(spec->value_name);
    if (!value.ok()) return value.status();
    values.push_back(*value);
  }

  parsed.group = group;
  if (parsed.help) return parsed;
  if (parsed.command == nullptr) {
    if (group.empty()) return Usage("missing command");
    return Usage(absl::StrCat("missing verb after '", group, "'"));
  }
  const std::vector<std::string>& expected = parsed.command->positionals;
  if (words.size() < expected.size()) {
    return Usage(absl::StrCat("'", parsed.command->FullName(), "' needs ", expected[words.size()]));
  }
  if (words.size() > expected.size()) {
    return Usage(absl::StrCat("unexpected argument '", words[expected.size()], "' for '",
                              parsed.command->FullName(), "'"));
  }
  parsed.positionals = std::move(words);

  // Global options: flag, then environment, then default.
  auto resolve = [&](const std::string& flag, const std::string& env_name,
                     const std::string& fallback) {
    if (auto it = globals.find(flag); it != globals.end()) return it->second;
    if (std::optional<std::string> v = env(env_name); v.has_value() && !v->empty()) return *v;
    return fallback;
  };
  GlobalOptions& g = parsed.global;
  g.scheduler_address = resolve("--scheduler", "ROSTERSYNC_SCHEDULER", kDefaultScheduler);
  g.roster_address = resolve("--roster", "ROSTERSYNC_ROSTER", kDefaultRoster);
  g.backup_address = resolve("--backup", "ROSTERSYNC_BACKUP", kDefaultBackup);
  g.transfer_address = resolve("--transfer", "ROSTERSYNC_TRANSFER", kDefaultTransfer);
  g.tenant = resolve("--tenant", "ROSTERSYNC_TENANT", "");
  if (g.tenant.empty()) {
    return Usage("missing --tenant (or environment variable ROSTERSYNC_TENANT)");
  }
  for (const auto& [flag, address] :
       {std::pair<std::string, std::string>{"--scheduler", g.scheduler_address},
        {"--roster", g.roster_address},
        {"--backup", g.backup_address},
        {"--transfer", g.transfer_address}}) {
    if (address.empty()) return Usage(absl::StrCat("empty address for ", flag));
  }
  const std::string output = globals.count("--output") ? globals["--output"] : "table";
  if (output == "table") {
    g.output = OutputFormat::kTable;
  } else if (output == "json") {
    g.output = OutputFormat::kJson;
  } else {
    return Usage(absl::StrCat("invalid value '", output, "' for --output (expected table|json)"));
  }
  if (auto it = globals.find("--timeout"); it != globals.end()) {
    absl::StatusOr<absl::Duration> timeout = ParseSeconds(it->second, "--timeout");
    if (!timeout.ok()) return timeout.status();
    g.timeout = *timeout;
    g.timeout_explicit = true;
  }
  return parsed;
}

std::string CommandUsage(const CommandSpec& command) {
  std::string line = absl::StrCat("  rosterctl ", command.FullName());
  for (const std::string& p : command.positionals) absl::StrAppend(&line, " ", p);
  std::string text = absl::StrCat(line, "\n      ", command.summary, "\n");
  for (const OptionSpec& o : command.options) {
    std::string flag = o.name;
    if (!o.alias.empty()) absl::StrAppend(&flag, ", ", o.alias);
    if (!o.value_name.empty()) absl::StrAppend(&flag, " ", o.value_name);
    absl::StrAppend(&text, "      ", flag, "\n          ", o.help, "\n");
  }
  return text;
}

std::string GroupUsage(absl::string_view group) {
  std::string text;
  for (const CommandSpec& c : Commands()) {
    if (c.group == group) absl::StrAppend(&text, CommandUsage(c));
  }
  return text;
}

std::string UsageText() {
  std::string text =
      "Usage: rosterctl [global options] <command> [arguments] [options]\n\nGlobal options:\n";
  for (const GlobalSpec& g : Globals()) {
    absl::StrAppend(&text, "  ", g.name, " ", g.value_name, "\n      ", g.help, "\n");
  }
  absl::StrAppend(&text, "\nCommands:\n");
  for (const CommandSpec& c : Commands()) absl::StrAppend(&text, CommandUsage(c));
  absl::StrAppend(&text,
                  "\nExit status: 0 success, 1 a call or the operation failed, 2 usage error.\n");
  return text;
}

absl::StatusOr<v1::RunState> ParseRunState(absl::string_view value, absl::string_view option) {
  return ParseEnum<v1::RunState>(value, option, v1::RunState_descriptor(), "RUN_STATE_");
}
absl::StatusOr<v1::FileKind> ParseFileKind(absl::string_view value, absl::string_view option) {
  return ParseEnum<v1::FileKind>(value, option, v1::FileKind_descriptor(), "FILE_KIND_");
}
absl::StatusOr<v1::PersonType> ParsePersonType(absl::string_view value, absl::string_view option) {
  return ParseEnum<v1::PersonType>(value, option, v1::PersonType_descriptor(), "PERSON_TYPE_");
}
absl::StatusOr<v1::RunDirection> ParseDirection(absl::string_view value, absl::string_view option) {
  return ParseEnum<v1::RunDirection>(value, option, v1::RunDirection_descriptor(),
                                     "RUN_DIRECTION_");
}
absl::StatusOr<v1::SyncPolicy> ParseSyncPolicy(absl::string_view value, absl::string_view option) {
  return ParseEnum<v1::SyncPolicy>(value, option, v1::SyncPolicy_descriptor(), "SYNC_POLICY_");
}

absl::StatusOr<bool> ParseBool(absl::string_view value, absl::string_view option) {
  const std::string v = absl::AsciiStrToLower(value);
  if (v == "true" || v == "yes" || v == "1") return true;
  if (v == "false" || v == "no" || v == "0") return false;
  return Usage(absl::StrCat("invalid value '", value, "' for ", option, " (expected true|false)"));
}

absl::StatusOr<int64_t> ParseInt(absl::string_view value, absl::string_view option, int64_t min,
                                 int64_t max) {
  int64_t n = 0;
  if (!absl::SimpleAtoi(value, &n) || n < min || n > max) {
    return Usage(absl::StrCat("invalid value '", value, "' for ", option, " (expected an integer ",
                              min, "..", max, ")"));
  }
  return n;
}

absl::StatusOr<absl::Duration> ParseSeconds(absl::string_view value, absl::string_view option) {
  double seconds = 0;
  if (!absl::SimpleAtod(value, &seconds) || !(seconds > 0) || seconds > 366 * 24 * 3600.0) {
    return Usage(absl::StrCat("invalid value '", value, "' for ", option,
                              " (expected a number of seconds > 0)"));
  }
  return absl::Seconds(seconds);
}

std::string RunStateName(v1::RunState state) {
  return EnumShortName<v1::RunState>(state, v1::RunState_descriptor(), "RUN_STATE_");
}
std::string FileKindName(v1::FileKind kind) {
  return EnumShortName<v1::FileKind>(kind, v1::FileKind_descriptor(), "FILE_KIND_");
}
std::string PersonTypeName(v1::PersonType type) {
  return EnumShortName<v1::PersonType>(type, v1::PersonType_descriptor(), "PERSON_TYPE_");
}
std::string DirectionName(v1::RunDirection direction) {
  return EnumShortName<v1::RunDirection>(direction, v1::RunDirection_descriptor(),
                                         "RUN_DIRECTION_");
}
std::string SyncPolicyName(v1::SyncPolicy policy) {
  return EnumShortName<v1::SyncPolicy>(policy, v1::SyncPolicy_descriptor(), "SYNC_POLICY_");
}

bool IsTerminal(v1::RunState state) {
  return state == v1::RUN_STATE_SUCCEEDED || state == v1::RUN_STATE_SKIPPED ||
         state == v1::RUN_STATE_HELD || state == v1::RUN_STATE_FAILED ||
         state == v1::RUN_STATE_CANCELLED;
}

bool IsSuccess(v1::RunState state) {
  return state == v1::RUN_STATE_SUCCEEDED || state == v1::RUN_STATE_SKIPPED;
}

}  // namespace rostersync::rosterctl
