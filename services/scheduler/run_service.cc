#include "services/scheduler/run_service.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
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

RunService::RunService(PgPool* pool, RunOrchestrator* orchestrator)
    : pool_(pool), orchestrator_(orchestrator) {}

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

grpc::ServerUnaryReactor* RunGrpcService::ListRuns(grpc::CallbackServerContext* context,
                                                   const v1::ListRunsRequest* request,
                                                   v1::ListRunsResponse* response) {
  return FinishUnary(context, impl_->List(*request), response);
}

}  // namespace rostersync::scheduler
