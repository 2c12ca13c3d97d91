#include "services/scheduler/run_service.h"

#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/page_token.h"
#include "common/status_macros.h"
#include "common/time_util.h"
#include "services/scheduler/run_store.h"
#include "services/scheduler/unary_reactor.h"

namespace rostersync::scheduler {
namespace {

constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 500;

// A runs page token carries "<created_at micros>:<run_id>" of the last run on the page.
absl::StatusOr<std::optional<std::pair<int64_t, std::string>>> DecodeRunCursor(
    const std::string& token) {
  ASSIGN_OR_RETURN(std::string key, DecodePageToken(token));
  if (key.empty()) return std::optional<std::pair<int64_t, std::string>>();
  size_t colon = key.find(':');
  int64_t micros = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(absl::string_view(key.data(), colon), &micros) || colon + 1 >= key.size()) {
    return absl::InvalidArgumentError("page_token: not a runs page token");
  }
  return std::optional<std::pair<int64_t, std::string>>(
      std::make_pair(micros, key.substr(colon + 1)));
}

}  // namespace

RunService::RunService(PgPool* pool, RunOrchestrator* orchestrator,
                       v1::RosterService::StubInterface* roster, absl::Duration roster_timeout)
    : pool_(pool), orchestrator_(orchestrator), roster_(roster), roster_timeout_(roster_timeout) {}

absl::StatusOr<v1::Run> RunService::Cancel(const v1::CancelRunRequest& request) {
  // An approval claim younger than the roster timeout means the roster may be applying the
  // removals right now: CancelRun refuses then.
  ASSIGN_OR_RETURN(v1::Run run,
                   orchestrator_->CancelRun(request.tenant_id(), request.run_id(),
                                            request.requested_by(), request.reason(),
                                            roster_timeout_));
  // With its steps: the last one says what the cancel did (and, for a HELD run, what it did
  // not: the held removals stay on the import).
  v1::GetRunRequest get;
  get.set_tenant_id(run.tenant_id());
  get.set_run_id(run.run_id());
  return Get(get);
}

namespace {

// A status the roster answered with (its ApproveDeletions is one transaction: nothing was
// applied), as opposed to one where its answer may have been lost (a deadline, a dropped
// connection) and the removals may have been applied or still be being applied.
bool RosterRefused(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kUnauthenticated:
      return true;
    default:
      return false;
  }
}

}  // namespace

absl::StatusOr<v1::Run> RunService::Approve(const v1::ApproveRunRequest& request) {
  if (request.tenant_id().empty()) return absl::InvalidArgumentError("tenant_id: is required");
  if (request.run_id().empty()) return absl::InvalidArgumentError("run_id: is required");
  if (roster_ == nullptr) {
    return absl::UnavailableError("roster service: no --roster_address configured");
  }
  v1::GetRunRequest get;
  get.set_tenant_id(request.tenant_id());
  get.set_run_id(request.run_id());
  // 1. Claim: HELD -> "approval in progress" in one locked transaction, so a CancelRun (or a
  //    second ApproveRun) cannot get in while the roster applies the removals.
  bool already_approved = false;
  ASSIGN_OR_RETURN(RunRecord claimed,
                   orchestrator_->ClaimApproval(request.tenant_id(), request.run_id(),
                                                request.approved_by(), roster_timeout_,
                                                &already_approved));
  if (already_approved) return Get(get);
  const absl::Time claimed_at = *claimed.approval_started_at;
  const std::string import_id = claimed.run.import_summary().import_id();
  // 2. The roster, with no transaction open (it takes a backup first: minutes).
  v1::ApproveDeletionsRequest approve;
  approve.set_tenant_id(claimed.run.tenant_id());
  approve.set_import_id(import_id);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + roster_timeout_));
  v1::ImportSummary approval;
  grpc::Status status = roster_->ApproveDeletions(&context, approve, &approval);
  if (!status.ok()) {
    absl::Status s = FromGrpcStatus(status);
    std::string message = absl::StrCat("roster service: ApproveDeletions of import ", import_id,
                                       ": ", s.message());
    if (RosterRefused(s.code())) {
      // 3b. Refused, nothing applied: the run is plainly HELD again.
      absl::Status released =
          orchestrator_->ReleaseApproval(claimed.run.tenant_id(), claimed.run.run_id(),
                                         claimed_at);
      if (!released.ok()) {
        absl::StrAppend(&message, "; the run's approval claim was not cleared (",
                        released.message(), "), it expires after ",
                        absl::FormatDuration(roster_timeout_ + kApprovalClaimGrace));
      }
    } else {
      // The roster's answer may be lost while it applies (or applied) the removals: keep the
      // claim until it expires so a cancel cannot contradict it.
      absl::StrAppend(&message, "; the outcome is unknown, so the run stays marked approval in "
                                "progress until ",
                      absl::FormatTime(absl::RFC3339_sec,
                                       claimed_at + roster_timeout_ + kApprovalClaimGrace,
                                       absl::UTCTimeZone()),
                      "; then approve again (safe: the roster's ApproveDeletions is "
                      "idempotent) or check rosterctl imports show ", import_id);
    }
    return absl::Status(s.code(), message);
  }
  // 3a. Applied: the run becomes SUCCEEDED and the claim is cleared.
  RETURN_IF_ERROR(orchestrator_->CompleteApproval(claimed.run.tenant_id(), claimed.run.run_id(),
                                                  approval, request.approved_by())
                      .status());
  return Get(get);
}

absl::StatusOr<v1::Run> RunService::Trigger(const v1::TriggerRunRequest& request) {
  return orchestrator_->TriggerRun(request.tenant_id(), request.integration_id());
}

absl::StatusOr<v1::Run> RunService::Get(const v1::GetRunRequest& request) {
  if (request.tenant_id().empty()) return absl::InvalidArgumentError("tenant_id: is required");
  if (request.run_id().empty()) return absl::InvalidArgumentError("run_id: is required");
  v1::Run run;
  RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    ASSIGN_OR_RETURN(RunRecord rec, RunStore::Get(txn, request.tenant_id(), request.run_id()));
    ASSIGN_OR_RETURN(std::vector<v1::RunStepRecord> steps, RunStore::Steps(txn, request.run_id()));
    run = std::move(rec.run);
    for (v1::RunStepRecord& step : steps) *run.add_steps() = std::move(step);
    return absl::OkStatus();
  }));
  return run;
}

absl::StatusOr<v1::ListRunsResponse> RunService::List(const v1::ListRunsRequest& request) {
  if (request.tenant_id().empty()) return absl::InvalidArgumentError("tenant_id: is required");
  if (request.page_size() < 0) {
    return absl::InvalidArgumentError("page_size: must not be negative");
  }
  RunStore::ListQuery query;
  query.tenant_id = request.tenant_id();
  query.integration_id = request.integration_id();
  query.state = request.state();
  ASSIGN_OR_RETURN(query.before, DecodeRunCursor(request.page_token()));
  const int limit = ClampPageSize(request.page_size(), kDefaultPageSize, kMaxPageSize);
  query.limit = limit + 1;
  v1::ListRunsResponse response;
  RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<RunRecord> page, RunStore::List(txn, query));
    const bool more = static_cast<int>(page.size()) > limit;
    if (more) page.resize(limit);
    for (RunRecord& rec : page) *response.add_runs() = std::move(rec.run);
    if (more) {
      const v1::Run& last = response.runs(response.runs_size() - 1);
      response.set_next_page_token(EncodePageToken(
          absl::StrCat(absl::ToUnixMicros(FromProtoTime(last.created_at())), ":", last.run_id())));
    }
    return absl::OkStatus();
  }));
  return response;
}

grpc::ServerUnaryReactor* RunGrpcService::TriggerRun(grpc::CallbackServerContext* context,
                                                     const v1::TriggerRunRequest* request,
                                                     v1::Run* response) {
  return FinishUnary(context, impl_->Trigger(*request), response);
}

grpc::ServerUnaryReactor* RunGrpcService::GetRun(grpc::CallbackServerContext* context,
                                                 const v1::GetRunRequest* request,
                                                 v1::Run* response) {
  return FinishUnary(context, impl_->Get(*request), response);
}

RunGrpcService::~RunGrpcService() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](int* n) { return *n == 0; }, &in_flight_));
}

grpc::ServerUnaryReactor* RunGrpcService::CancelRun(grpc::CallbackServerContext* context,
                                                    const v1::CancelRunRequest* request,
                                                    v1::Run* response) {
  return FinishUnary(context, impl_->Cancel(*request), response);
}

grpc::ServerUnaryReactor* RunGrpcService::ApproveRun(grpc::CallbackServerContext* context,
                                                     const v1::ApproveRunRequest* request,
                                                     v1::Run* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  {
    absl::MutexLock lock(&mu_);
    ++in_flight_;
  }
  // The roster's ApproveDeletions takes a backup first: keep it off the callback threads.
  std::thread([this, reactor, request, response] {
    absl::StatusOr<v1::Run> result = impl_->Approve(*request);
    if (result.ok()) *response = *std::move(result);
    reactor->Finish(ToGrpcStatus(result.status()));
    absl::MutexLock lock(&mu_);
    --in_flight_;
  }).detach();
  return reactor;
}

grpc::ServerUnaryReactor* RunGrpcService::ListRuns(grpc::CallbackServerContext* context,
                                                   const v1::ListRunsRequest* request,
                                                   v1::ListRunsResponse* response) {
  return FinishUnary(context, impl_->List(*request), response);
}

}  // namespace rostersync::scheduler
