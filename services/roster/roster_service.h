#pragma once

// RosterService over gRPC (callback API): people, seats and import history, every call
// scoped by tenant_id.
#include "rostersync/v1/roster.grpc.pb.h"
#include "services/roster/roster_store.h"

namespace rostersync::roster {

class RosterServiceImpl final : public v1::RosterService::CallbackService {
 public:
  explicit RosterServiceImpl(RosterStore& store) : store_(store) {}

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

  // The handlers' logic, without gRPC (used by the reactors and by tests).
  absl::StatusOr<v1::Person> DoGetPerson(const v1::GetPersonRequest& request);
  absl::StatusOr<v1::ListPeopleResponse> DoListPeople(const v1::ListPeopleRequest& request);
  absl::StatusOr<v1::Person> DoAssignSeat(const v1::AssignSeatRequest& request);
  absl::StatusOr<v1::ListImportsResponse> DoListImports(const v1::ListImportsRequest& request);
  absl::StatusOr<v1::ImportSummary> DoGetImport(const v1::GetImportRequest& request);

 private:
  RosterStore& store_;
};

}  // namespace rostersync::roster
