#pragma once

// RosterService over gRPC (callback API): people, seats and import history, every call
// scoped by tenant_id.
#include "common/archive_client.h"
#include "rostersync/v1/roster.grpc.pb.h"
#include "services/roster/roster_store.h"

namespace rostersync::roster {

class RosterServiceImpl final : public v1::RosterService::CallbackService {
 public:
  explicit RosterServiceImpl(RosterStore& store) : store_(store) {}
  // With the archive, the bulk paths (RestoreBackup, BulkUpsertPeople) are served too;
  // without it they answer FAILED_PRECONDITION.
  RosterServiceImpl(RosterStore& store, Archive& archive) : store_(store), archive_(&archive) {}

  grpc::ServerUnaryReactor* GetPerson(grpc::CallbackServerContext* ctx,
                                      const v1::GetPersonRequest* request,
                                      v1::Person* response) override;
  grpc::ServerUnaryReactor* ListPeople(grpc::CallbackServerContext* ctx,
                                       const v1::ListPeopleRequest* request,
                                       v1::ListPeopleResponse* response) override;
  grpc::ServerUnaryReactor* AssignSeat(grpc::CallbackServerContext* ctx,
                                       const v1::AssignSeatRequest* request,
                                       v1::Person* response) override;
  grpc::ServerUnaryReactor* ListImports(grpc::CallbackServerContext* ctx,
                                        const v1::ListImportsRequest* request,
                                        v1::ListImportsResponse* response) override;
  grpc::ServerUnaryReactor* GetImport(grpc::CallbackServerContext* ctx,
                                      const v1::GetImportRequest* request,
                                      v1::ImportSummary* response) override;

  grpc::ServerUnaryReactor* RestoreBackup(grpc::CallbackServerContext* ctx,
                                          const v1::RestoreBackupRequest* request,
                                          v1::ImportSummary* response) override;
  grpc::ServerUnaryReactor* BulkUpsertPeople(grpc::CallbackServerContext* ctx,
                                             const v1::BulkUpsertPeopleRequest* request,
                                             v1::ImportSummary* response) override;

  // Import pipeline RPCs (implemented in import_rpcs.cc; need the archive).
  grpc::ServerUnaryReactor* PreviewImport(grpc::CallbackServerContext* ctx,
                                          const v1::PreviewImportRequest* request,
                                          v1::ImportSummary* response) override;
  grpc::ServerUnaryReactor* ApproveDeletions(grpc::CallbackServerContext* ctx,
                                             const v1::ApproveDeletionsRequest* request,
                                             v1::ImportSummary* response) override;
  grpc::ServerReadReactor<v1::UploadRosterRequest>* UploadRoster(
      grpc::CallbackServerContext* ctx, v1::ImportSummary* response) override;
  absl::StatusOr<v1::ImportSummary> DoPreviewImport(const v1::PreviewImportRequest& request);
  absl::StatusOr<v1::ImportSummary> DoApproveDeletions(const v1::ApproveDeletionsRequest& request);

  // The handlers' logic, without gRPC (used by the reactors and by tests).
  absl::StatusOr<v1::ImportSummary> DoRestoreBackup(const v1::RestoreBackupRequest& request);
  absl::StatusOr<v1::ImportSummary> DoBulkUpsertPeople(
      const v1::BulkUpsertPeopleRequest& request);
  absl::StatusOr<v1::Person> DoGetPerson(const v1::GetPersonRequest& request);
  absl::StatusOr<v1::ListPeopleResponse> DoListPeople(const v1::ListPeopleRequest& request);
  absl::StatusOr<v1::Person> DoAssignSeat(const v1::AssignSeatRequest& request);
  absl::StatusOr<v1::ListImportsResponse> DoListImports(const v1::ListImportsRequest& request);
  absl::StatusOr<v1::ImportSummary> DoGetImport(const v1::GetImportRequest& request);

 private:
  RosterStore& store_;
  Archive* archive_ = nullptr;  // not owned; null: no bulk paths
};

}  // namespace rostersync::roster
