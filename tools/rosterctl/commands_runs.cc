// rosterctl runs trigger|show|list|cancel|approve.
#include <algorithm>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "tools/rosterctl/command_runner.h"
#include "tools/rosterctl/commands.h"
#include "tools/rosterctl/table_printer.h"

namespace rostersync::rosterctl {
namespace internal {

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
  RETURN_IF_ERROR(
      Call(ctx_.stubs->runs.get(), &v1::RunService::StubInterface::TriggerRun, request, &run));
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
    v1::Run polled;
    const absl::Status status =
        Call(ctx_.stubs->runs.get(), &v1::RunService::StubInterface::GetRun, get, &polled);
    if (!status.ok()) {
      // A service restart while we wait is not the run's failure: keep polling.
      if (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)) continue;
      return status;
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
                    "; approve with `rosterctl runs approve ", SanitizeCell(run.run_id()), "`");
  }
  return OutcomeFailure(message);
}

absl::Status Runner::RunsShow() {
  v1::GetRunRequest request;
  request.set_tenant_id(Tenant());
  request.set_run_id(args_.positionals[0]);
  v1::Run run;
  RETURN_IF_ERROR(
      Call(ctx_.stubs->runs.get(), &v1::RunService::StubInterface::GetRun, request, &run));
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
  v1::ListRunsRequest base;
  base.set_tenant_id(Tenant());
  base.set_integration_id(args_.Get("--integration"));
  base.set_state(state);
  return List(
      limit, 500, ctx_.stubs->runs.get(), &v1::RunService::StubInterface::ListRuns, base,
      [](v1::ListRunsResponse& r) { return r.mutable_runs(); },
      {"RUN", "INTEGRATION", "DIRECTION", "STATE", "TRIGGER", "CREATED", "FINISHED", "ERROR"},
      [](const v1::Run& r) -> std::vector<std::string> {
        return {r.run_id(),
                r.integration_id(),
                DirectionName(r.direction()),
                RunStateName(r.state()),
                TriggerName(r.trigger()),
                FormatTimestamp(r.created_at()),
                FormatTimestamp(r.finished_at()),
                r.error()};
      },
      "runs");
}

namespace {

// --by, else $USER, else "rosterctl".
std::string Operator(const ParsedArgs& args) {
  if (args.Has("--by") && !args.Get("--by").empty()) return args.Get("--by");
  const char* user = std::getenv("USER");
  return user != nullptr && *user != '\0' ? std::string(user) : std::string("rosterctl");
}

}  // namespace

absl::Status Runner::RunsCancel() {
  v1::CancelRunRequest request;
  request.set_tenant_id(Tenant());
  request.set_run_id(args_.positionals[0]);
  request.set_requested_by(Operator(args_));
  request.set_reason(args_.Get("--reason"));
  v1::Run run;
  RETURN_IF_ERROR(
      Call(ctx_.stubs->runs.get(), &v1::RunService::StubInterface::CancelRun, request, &run));
  if (Json()) return PrintJson(run);
  out_ << "Run " << SanitizeCell(run.run_id()) << " "
       << absl::AsciiStrToUpper(RunStateName(run.state())) << " by "
       << SanitizeCell(run.cancelled_by());
  if (!run.cancel_reason().empty()) out_ << ": " << SanitizeCell(run.cancel_reason());
  out_ << "\n";
  return absl::OkStatus();
}

absl::Status Runner::RunsApprove() {
  v1::ApproveRunRequest request;
  request.set_tenant_id(Tenant());
  request.set_run_id(args_.positionals[0]);
  request.set_approved_by(Operator(args_));
  v1::Run run;
  RETURN_IF_ERROR(Call(ctx_.stubs->runs.get(), &v1::RunService::StubInterface::ApproveRun,
                       request, &run, Deadline::kLong));
  if (Json()) return PrintJson(run);
  out_ << "Approved run " << SanitizeCell(run.run_id()) << " (import "
       << SanitizeCell(run.import_summary().import_id()) << "): "
       << run.import_summary().deleted() << " deleted, " << run.import_summary().deactivated()
       << " deactivated\n\n"
       << FormatRun(run);
  return absl::OkStatus();
}

}  // namespace internal

std::string FormatRun(const v1::Run& run) {
  KeyValuePrinter kv;
  kv.Add("Run", run.run_id());
  kv.Add("Integration", run.integration_id());
  kv.Add("Direction", DirectionName(run.direction()));
  kv.Add("State", absl::AsciiStrToUpper(RunStateName(run.state())));
  kv.Add("Trigger", internal::TriggerName(run.trigger()));
  kv.Add("Scheduled for", FormatTimestamp(run.scheduled_for()));
  kv.Add("Created", FormatTimestamp(run.created_at()));
  kv.Add("Updated", FormatTimestamp(run.updated_at()));
  kv.Add("Finished", FormatTimestamp(run.finished_at()));
  if (run.attempt() > 1) kv.Add("Attempt", absl::StrCat(run.attempt(), " of the current step"));
  if (run.has_retry_at()) kv.Add("Retry at", FormatTimestamp(run.retry_at()));
  if (!run.error().empty()) {
    kv.Add(run.state() == v1::RUN_STATE_FAILED ? "Error" : "Last error", run.error());
  }
  if (run.state() == v1::RUN_STATE_CANCELLED) {
    kv.Add("Cancelled by", OrDash(run.cancelled_by()));
    if (!run.cancel_reason().empty()) kv.Add("Cancel reason", run.cancel_reason());
  }
  if (run.has_approved_at()) {
    kv.Add("Approved by", OrDash(run.approved_by()));
    kv.Add("Approved", FormatTimestamp(run.approved_at()));
  }
  kv.Add("Source file", OrDash(run.source_file_id()));
  kv.Add("Export file", OrDash(run.export_file_id()));
  kv.Add("Remote path", OrDash(run.remote_path()));
  kv.Add("Bytes", absl::StrCat(run.bytes_transferred()));
  if (run.has_import_summary()) internal::AddImportCounts(kv, run.import_summary());
  std::string text = kv.Render();
  if (!run.steps().empty()) {
    // TOOK: until the next step (for the last one of an unfinished run: still running).
    TablePrinter t({"AT", "STATE", "ATTEMPT", "TOOK", "DETAIL"});
    for (int i = 0; i < run.steps_size(); ++i) {
      const v1::RunStepRecord& s = run.steps(i);
      std::string took = "-";
      if (i + 1 < run.steps_size()) {
        took = absl::FormatDuration(absl::Trunc(
            absl::Seconds(run.steps(i + 1).at().seconds() - s.at().seconds()), absl::Seconds(1)));
      }
      t.AddRow({FormatTimestamp(s.at()), RunStateName(s.state()),
                absl::StrCat(std::max(1, s.attempt())), took, s.detail()});
    }
    absl::StrAppend(&text, "\nSteps:\n", t.Render());
  }
  if (run.has_import_summary())
    absl::StrAppend(&text, internal::FormatRowErrors(run.import_summary()));
  return text;
}

}  // namespace rostersync::rosterctl
