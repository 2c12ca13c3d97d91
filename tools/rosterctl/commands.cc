// rosterctl's commands: what every command group shares (calls, deadlines, JSON, paging,
// reading local files, the dispatch) and the entry points RunCommand and Main. The commands
// themselves are in commands_<group>.cc.
#include "tools/rosterctl/commands.h"

#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "tools/rosterctl/command_runner.h"

namespace rostersync::rosterctl {
namespace internal {
namespace {

constexpr absl::Duration kLongCallTimeout = absl::Hours(1);
constexpr char kOutcomePayload[] = "type.rostersync.dev/rosterctl.Outcome";

}  // namespace

absl::Status OutcomeFailure(absl::string_view message) {
  absl::Status status = absl::AbortedError(message);
  status.SetPayload(kOutcomePayload, absl::Cord("1"));
  return status;
}
bool IsOutcomeFailure(const absl::Status& status) {
  return status.GetPayload(kOutcomePayload).has_value();
}

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

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

absl::StatusOr<int64_t> ParsePort(const ParsedArgs& args) {
  int64_t port = 22;
  if (args.Has("--port")) {
    ASSIGN_OR_RETURN(port, ParseInt(args.Get("--port"), "--port", 1, 65535));
  }
  return port;
}

std::string YesNo(bool b) { return b ? "yes" : "no"; }

void Runner::SetDeadline(grpc::ClientContext* c, Deadline deadline) const {
  const absl::Duration d = deadline == Deadline::kLong && !args_.global.timeout_explicit
                               ? kLongCallTimeout
                               : args_.global.timeout;
  c->set_deadline(absl::ToChronoTime(absl::Now() + d));
}

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

absl::Status Runner::Run() {
  const std::string name = args_.command->FullName();
  if (name == "integrations create") return IntegrationsCreate();
  if (name == "integrations list") return IntegrationsList();
  if (name == "integrations show") return IntegrationsShow();
  if (name == "integrations update") return IntegrationsUpdate();
  if (name == "integrations test") return IntegrationsTest();
  if (name == "integrations scan-host-key") return IntegrationsScanHostKey();
  if (name == "integrations reprocess") return IntegrationsReprocess();
  if (name == "integrations activate") return IntegrationsActivate();
  if (name == "integrations deactivate") return IntegrationsDeactivate();
  if (name == "integrations windows") return IntegrationsWindows();
  if (name == "integrations reseal") return IntegrationsReseal();
  if (name == "runs trigger") return RunsTrigger();
  if (name == "runs show") return RunsShow();
  if (name == "runs list") return RunsList();
  if (name == "runs cancel") return RunsCancel();
  if (name == "runs approve") return RunsApprove();
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

}  // namespace internal

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

namespace {

// The error of a local file that cannot be opened: NOT_FOUND, PERMISSION_DENIED or
// FAILED_PRECONDITION, naming the path.
absl::Status CannotOpen(const std::string& path, int e) {
  std::string message = absl::StrCat("cannot read ", path, ": ", std::strerror(e));
  if (e == ENOENT) return absl::NotFoundError(message);
  if (e == EACCES) return absl::PermissionDeniedError(message);
  return absl::FailedPreconditionError(message);
}

}  // namespace

absl::StatusOr<std::string> ReadLocalFile(const std::string& path, size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return CannotOpen(path, errno);
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

absl::Status StreamLocalFile(const std::string& path, size_t chunk_bytes,
                             const std::function<absl::Status(absl::string_view)>& sink) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return CannotOpen(path, errno);
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

int RunCommand(const ParsedArgs& args, CommandContext& ctx) {
  internal::Runner runner(args, ctx);
  const absl::Status status = runner.Run();
  if (status.ok()) return 0;
  const std::string name = args.command->FullName();
  if (IsUsageError(status)) {
    *ctx.err << "rosterctl: " << name << ": " << status.message() << "\n\nUsage:\n"
             << CommandUsage(*args.command);
    return 2;
  }
  if (internal::IsOutcomeFailure(status)) {
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
