#pragma once

// Runs: trigger, get (with its steps), list (newest first, filtered, paginated), cancel,
// approve. Tenant scoped: another tenant's run is NOT_FOUND.
#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/pg.h"
#include "rostersync/v1/roster.grpc.pb.h"
#include "rostersync/v1/scheduler.grpc.pb.h"
#include "services/scheduler/run_orchestrator.h"

namespace rostersync::scheduler {

class RunService {
 public:
  // `roster` (may be null: Approve is then UNAVAILABLE) is the roster service that
  // ApproveRun passes through to; each call gets `roster_timeout`, which is also how long an
  // approval claim holds off CancelRun and other ApproveRuns (an older claim has expired).
  RunService(PgPool* pool, RunOrchestrator* orchestrator,
             v1::RosterService::StubInterface* roster = nullptr,
             absl::Duration roster_timeout = absl::Minutes(10));

  absl::StatusOr<v1::Run> Trigger(const v1::TriggerRunRequest& request);
  absl::StatusOr<v1::Run> Get(const v1::GetRunRequest& request);
  absl::StatusOr<v1::ListRunsResponse> List(const v1::ListRunsRequest& request);
  // Returns the run with its steps (the last says what the cancel did).
  absl::StatusOr<v1::Run> Cancel(const v1::CancelRunRequest& request);
  // Claims the HELD run (RunOrchestrator::ClaimApproval), calls the roster with no
  // transaction open, then completes it (SUCCEEDED) or, when the roster refused, releases the
  // claim (HELD again); when the roster's answer is lost (deadline, dropped connection) the
  // claim stays until it expires. Blocks on the roster service (a pre-approval backup and the
  // removals): never call it on a gRPC callback thread.
  absl::StatusOr<v1::Run> Approve(const v1::ApproveRunRequest& request);

 private:
  PgPool* pool_;
  RunOrchestrator* orchestrator_;
  v1::RosterService::StubInterface* roster_;
  absl::Duration roster_timeout_;
};

class RunGrpcService final : public v1::RunService::CallbackService {
 public:
  explicit RunGrpcService(RunService* impl) : impl_(impl) {}
  // Waits for ApproveRun calls still running on their own threads.
  ~RunGrpcService() override;

  grpc::ServerUnaryReactor* TriggerRun(grpc::CallbackServerContext* context,
                                       const v1::TriggerRunRequest* request,
                                       v1::Run* response) override;
  grpc::ServerUnaryReactor* GetRun(grpc::CallbackServerContext* context,
                                   const v1::GetRunRequest* request, v1::Run* response) override;
  grpc::ServerUnaryReactor* ListRuns(grpc::CallbackServerContext* context,
                                     const v1::ListRunsRequest* request,
                                     v1::ListRunsResponse* response) override;
  grpc::ServerUnaryReactor* CancelRun(grpc::CallbackServerContext* context,
                                      const v1::CancelRunRequest* request,
                                      v1::Run* response) override;
  // Runs on a thread of its own, off gRPC's callback threads.
  grpc::ServerUnaryReactor* ApproveRun(grpc::CallbackServerContext* context,
                                       const v1::ApproveRunRequest* request,
                                       v1::Run* response) override;

 private:
  RunService* impl_;
  absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace rostersync::scheduler
