#pragma once

// Runs: trigger, get (with its steps), list (newest first, filtered, paginated). Tenant
// scoped: another tenant's run is NOT_FOUND.
#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "common/pg.h"
#include "rostersync/v1/scheduler.grpc.pb.h"
#include "services/scheduler/run_orchestrator.h"

namespace rostersync::scheduler {

class RunService {
 public:
  RunService(PgPool* pool, RunOrchestrator* orchestrator);

  absl::StatusOr<v1::Run> Trigger(const v1::TriggerRunRequest& request);
  absl::StatusOr<v1::Run> Get(const v1::GetRunRequest& request);
  absl::StatusOr<v1::ListRunsResponse> List(const v1::ListRunsRequest& request);

 private:
  PgPool* pool_;
  RunOrchestrator* orchestrator_;
};

class RunGrpcService final : public v1::RunService::CallbackService {
 public:
  explicit RunGrpcService(RunService* impl) : impl_(impl) {}

  grpc::ServerUnaryReactor* TriggerRun(grpc::CallbackServerContext* context,
                                       const v1::TriggerRunRequest* request,
                                       v1::Run* response) override;
  grpc::ServerUnaryReactor* GetRun(grpc::CallbackServerContext* context,
                                   const v1::GetRunRequest* request, v1::Run* response) override;
  grpc::ServerUnaryReactor* ListRuns(grpc::CallbackServerContext* context,
                                     const v1::ListRunsRequest* request,
                                     v1::ListRunsResponse* response) override;

 private:
  RunService* impl_;
};

}  // namespace rostersync::scheduler
