#pragma once

// rosterctl's command line: global options (with environment defaults), the command table,
// and the parser. Parsing never touches the network or the file system, so it is unit-tested
// on its own. Every error returned by Parse() is a usage error (exit status 2) whose message
// names the offending option or word.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "rostersync/v1/common.pb.h"

namespace rostersync::rosterctl {

enum class OutputFormat { kTable, kJson };

struct GlobalOptions {
  std::string scheduler_address;
  std::string roster_address;
  std::string backup_address;
  std::string transfer_address;  // sftp-transfer (integrations scan-host-key)
  std::string tenant;
  OutputFormat output = OutputFormat::kTable;
  absl::Duration timeout = absl::Seconds(30);
  // --timeout was given: long-running calls (upload, restore) use it instead of their own
  // longer default.
  bool timeout_explicit = false;
};

struct OptionSpec {
  std::string name;        // with dashes: "--integration", "-o"
  std::string value_name;  // empty: a switch that takes no value
  bool repeatable = false;
  std::string help;
  std::string alias;  // another spelling, e.g. "--output-file" for "-o"
};

struct CommandSpec {
  std::string group;                     // "runs"
  std::string verb;                      // "trigger"
  std::vector<std::string> positionals;  // names of required positional arguments
  std::vector<OptionSpec> options;
  std::string summary;

  std::string FullName() const { return group + " " + verb; }
};

// Every command rosterctl knows, in the order the usage text lists them.
const std::vector<CommandSpec>& Commands();
const CommandSpec* FindCommand(absl::string_view group, absl::string_view verb);

struct ParsedArgs {
  GlobalOptions global;
  bool help = false;                     // --help / -h / "help": print usage and exit 0
  std::string group;                     // "runs"; may be set without a command when help is set
  const CommandSpec* command = nullptr;  // null only when help is set
  std::vector<std::string> positionals;
  // Option name (canonical spelling, e.g. "--map") -> values in order. A switch has one empty
  // value when present.
  std::map<std::string, std::vector<std::string>> options;

  bool Has(const std::string& name) const { return options.count(name) > 0; }
  // The (last) value of an option, or `fallback` when absent.
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  const std::vector<std::string>& GetAll(const std::string& name) const;
};

// A usage error: INVALID_ARGUMENT marked so that rosterctl exits 2 and prints the usage text
// (an INVALID_ARGUMENT that a server returns is an RPC failure, exit 1).
absl::Status UsageError(absl::string_view message);
bool IsUsageError(const absl::Status& status);

// Reads an environment variable; nullopt when unset. Injected so tests need no real env.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup ProcessEnv();

// Parses argv[1..]. Global options may appear anywhere; command options after the command.
// Returns INVALID_ARGUMENT (a usage error) naming the bad option, value or word.
absl::StatusOr<ParsedArgs> Parse(const std::vector<std::string>& args, const EnvLookup& env);

// The full usage text, or the text of one command (or one group when verb is empty).
std::string UsageText();
std::string CommandUsage(const CommandSpec& command);
std::string GroupUsage(absl::string_view group);

// Value parsers shared by the commands. Each accepts the short lowercase spelling
// ("succeeded"), the upper-case one ("SUCCEEDED") and the full enum name
// ("RUN_STATE_SUCCEEDED"); an unknown value is INVALID_ARGUMENT naming `option`.
absl::StatusOr<v1::RunState> ParseRunState(absl::string_view value, absl::string_view option);
absl::StatusOr<v1::FileKind> ParseFileKind(absl::string_view value, absl::string_view option);
absl::StatusOr<v1::PersonType> ParsePersonType(absl::string_view value, absl::string_view option);
absl::StatusOr<v1::RunDirection> ParseDirection(absl::string_view value, absl::string_view option);
absl::StatusOr<v1::SyncPolicy> ParseSyncPolicy(absl::string_view value, absl::string_view option);
absl::StatusOr<bool> ParseBool(absl::string_view value, absl::string_view option);
// A positive integer within [min, max].
absl::StatusOr<int64_t> ParseInt(absl::string_view value, absl::string_view option, int64_t min,
                                 int64_t max);
// Seconds, e.g. "30" or "2.5"; must be > 0.
absl::StatusOr<absl::Duration> ParseSeconds(absl::string_view value, absl::string_view option);

// Short, lowercase names for display ("succeeded", "import", "error_report", "part_time").
std::string RunStateName(v1::RunState state);
std::string FileKindName(v1::FileKind kind);
std::string PersonTypeName(v1::PersonType type);
std::string DirectionName(v1::RunDirection direction);
std::string SyncPolicyName(v1::SyncPolicy policy);

// SUCCEEDED, SKIPPED, HELD and FAILED: the run will not change state by itself any more.
bool IsTerminal(v1::RunState state);
// SUCCEEDED or SKIPPED: `runs trigger --wait` exits 0.
bool IsSuccess(v1::RunState state);

}  // namespace rostersync::rosterctl
