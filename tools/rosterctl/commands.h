#pragma once

// rosterctl's commands: each builds its request(s), calls one service with a deadline, and
// prints a table or protobuf JSON. Stubs, output streams, the environment and the file reader
// are injected, so tests run the commands against in-process fake services.
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "rostersync/v1/backup.grpc.pb.h"
#include "rostersync/v1/roster.grpc.pb.h"
#include "rostersync/v1/scheduler.grpc.pb.h"
#include "rostersync/v1/transfer.grpc.pb.h"
#include "tools/rosterctl/cli_args.h"

namespace rostersync::rosterctl {

struct ServiceStubs {
  std::unique_ptr<v1::IntegrationService::StubInterface> integrations;
  std::unique_ptr<v1::RunService::StubInterface> runs;
  std::unique_ptr<v1::RosterService::StubInterface> roster;
  std::unique_ptr<v1::BackupService::StubInterface> backup;
  std::unique_ptr<v1::TransferService::StubInterface> transfer;
};

// Insecure channels to the addresses in `global` (connections are made lazily, on first call).
ServiceStubs MakeStubs(const GlobalOptions& global);

// Reads a whole local file of at most `max_bytes`. NOT_FOUND / PERMISSION_DENIED /
// OUT_OF_RANGE (too large) name the path but never the contents.
using FileReader =
    std::function<absl::StatusOr<std::string>(const std::string& path, size_t max_bytes)>;
absl::StatusOr<std::string> ReadLocalFile(const std::string& path, size_t max_bytes);

struct CommandContext {
  ServiceStubs* stubs = nullptr;
  std::ostream* out = nullptr;  // results (and downloaded bytes without -o)
  std::ostream* err = nullptr;  // errors and progress
  EnvLookup env;
  FileReader read_file = ReadLocalFile;
  absl::Duration poll_interval = absl::Seconds(1);           // runs trigger --wait
  absl::Duration default_wait_timeout = absl::Seconds(600);  // when --wait-timeout is absent
};

// Runs a parsed command and returns the exit status: 0 success; 1 a call failed or the outcome
// is a failure (failed run, failed connection test); 2 a usage error found while building the
// request (the usage text of the command is printed). Errors go to ctx.err as
// "rosterctl: <command>: <grpc code>: <message>".
int RunCommand(const ParsedArgs& args, CommandContext& ctx);

// Parses argv, prints usage on error or --help, builds stubs, runs. main() is just this.
int Main(const std::vector<std::string>& args, const EnvLookup& env, std::ostream& out,
         std::ostream& err);

// Request building, exposed for tests.
absl::StatusOr<v1::CreateIntegrationRequest> BuildCreateIntegrationRequest(
    const ParsedArgs& args, const EnvLookup& env, const FileReader& read_file);
// `integrations update`: the options given applied to `current` (its ids, and its endpoint as
// the base of the endpoint options), with the mask naming only what changes; the endpoint is
// sent whole (the base plus the changes), also when only the credentials are replaced.
absl::StatusOr<v1::UpdateIntegrationRequest> BuildUpdateIntegrationRequest(
    const ParsedArgs& args, const v1::Integration& current, const EnvLookup& env,
    const FileReader& read_file);
// Parses one --map value "Source Header=canonical_field" (split at the last '=').
absl::StatusOr<std::pair<std::string, std::string>> ParseHeaderMapping(absl::string_view value);

// Parses "NAME=VALUE" (split at the first '='; both trimmed; NAME non-empty) for --attr and
// --attr-type.
absl::StatusOr<std::pair<std::string, std::string>> ParseKeyValue(absl::string_view value,
                                                                  absl::string_view option);
// A share in [0, 1], e.g. "0.2".
absl::StatusOr<double> ParseShare(absl::string_view value, absl::string_view option);
// Sets the ImportPolicy fields of whichever policy options `args` carries (--sync, --encoding,
// --delimiter, --date-format, --attr-type, --max-*, --allow-header-change) over `policy`.
// --delimiter also takes the words comma, semicolon, tab (or \t) and pipe.
absl::Status ApplyPolicyOptions(const ParsedArgs& args, v1::ImportPolicy* policy);
// The header of `imports preview|upload FILE`: the integration's mapping and policy (when
// `integration` is given) overridden by the options.
absl::StatusOr<v1::UploadRosterHeader> BuildUploadHeader(const ParsedArgs& args,
                                                         const v1::Integration* integration,
                                                         bool preview);

// Calls `sink` with successive chunks of at most `chunk_bytes` of a local file. Errors name
// the path.
absl::Status StreamLocalFile(const std::string& path, size_t chunk_bytes,
                             const std::function<absl::Status(absl::string_view)>& sink);

// An import as `imports show` / `imports upload` print it (counts, held removals and how to
// approve them, error report, header notes, row errors).
std::string FormatImportSummary(const v1::ImportSummary& summary);
// A diff (preview or restore preview): counts per change kind, examples, header notes, diff
// file.
std::string FormatDiff(const v1::ImportSummary& summary);

// Formats one run the way `runs show` does (also printed by `runs trigger --wait`).
std::string FormatRun(const v1::Run& run);

}  // namespace rostersync::rosterctl
