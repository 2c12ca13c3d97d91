#include "services/roster/roster_service.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/page_token.h"
#include "common/status_macros.h"
#include "services/roster/bulk_upsert.h"
#include "services/roster/restorer.h"

namespace rostersync::roster {
namespace {

constexpr int kDefaultPeoplePage = 100;
constexpr int kMaxPeoplePage = 1000;
constexpr int kDefaultImportsPage = 50;
constexpr int kMaxImportsPage = 500;

absl::Status RequireTenant(const std::string& tenant_id) {
  if (tenant_id.empty()) return absl::InvalidArgumentError("tenant_id is required");
  return absl::OkStatus();
}

template <typename Response>
grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* ctx, Response* response,
                                absl::StatusOr<Response> result) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (result.ok()) *response = *std::move(result);
  reactor->Finish(ToGrpcStatus(result.status()));
  return reactor;
}

}  // namespace

absl::StatusOr<v1::Person> RosterServiceImpl::DoGetPerson(const v1::GetPersonRequest& r) {
  RETURN_IF_ERROR(RequireTenant(r.tenant_id()));
  if (r.person_id().empty()) return absl::InvalidArgumentError("person_id is required");
  return store_.GetPerson(r.tenant_id(), r.person_id());
}

absl::StatusOr<v1::ListPeopleResponse> RosterServiceImpl::DoListPeople(
    const v1::ListPeopleRequest& r) {
  RETURN_IF_ERROR(RequireTenant(r.tenant_id()));
  if (!v1::PersonType_IsValid(r.person_type())) {
    return absl::InvalidArgumentError(
        absl::StrCat("person_type: unknown value ", static_cast<int>(r.person_type())));
  }
  PeopleFilter filter;
  filter.person_type = r.person_type();
  if (r.has_active()) filter.active = r.active();
  for (const auto& [name, value] : r.attributes()) {
    if (name.empty()) return absl::InvalidArgumentError("attributes: an attribute name is empty");
    filter.attributes[name] = value;
  }
  ASSIGN_OR_RETURN(filter.after_person_id, DecodePageToken(r.page_token()));
  const int size = ClampPageSize(r.page_size(), kDefaultPeoplePage, kMaxPeoplePage);
  filter.limit = size + 1;  // one more tells whether there is a next page
  ASSIGN_OR_RETURN(std::vector<v1::Person> people, store_.ListPeople(r.tenant_id(), filter));
  v1::ListPeopleResponse response;
  const bool more = static_cast<int>(people.size()) > size;
  if (more) people.resize(size);
  for (v1::Person& p : people) *response.add_people() = std::move(p);
  if (more) {
    response.set_next_page_token(
        EncodePageToken(response.people(response.people_size() - 1).person_id()));
  }
  return response;
}

absl::StatusOr<v1::Person> RosterServiceImpl::DoAssignSeat(const v1::AssignSeatRequest& r) {
  RETURN_IF_ERROR(RequireTenant(r.tenant_id()));
  if (r.person_id().empty()) return absl::InvalidArgumentError("person_id is required");
  return store_.AssignSeat(r.tenant_id(), r.person_id(), r.seat());
}

absl::StatusOr<v1::ListImportsResponse> RosterServiceImpl::DoListImports(
    const v1::ListImportsRequest& r) {
  RETURN_IF_ERROR(RequireTenant(r.tenant_id()));
  ImportsFilter filter;
  filter.integration_id = r.integration_id();
  ASSIGN_OR_RETURN(std::string key, DecodePageToken(r.page_token()));
  if (!key.empty() && (!absl::SimpleAtoi(key, &filter.before_seq) || filter.before_seq <= 0)) {
    return absl::InvalidArgumentError("page_token: not a token from ListImports");
  }
  const int size = ClampPageSize(r.page_size(), kDefaultImportsPage, kMaxImportsPage);
  filter.limit = size + 1;
  std::vector<int64_t> seqs;
  ASSIGN_OR_RETURN(std::vector<v1::ImportSummary> imports,
                   store_.ListImports(r.tenant_id(), filter, &seqs));
  v1::ListImportsResponse response;
  const bool more = static_cast<int>(imports.size()) > size;
  if (more) imports.resize(size);
  for (v1::ImportSummary& s : imports) *response.add_imports() = std::move(s);
  if (more) response.set_next_page_token(EncodePageToken(std::to_string(seqs[size - 1])));
  return response;
}

absl::StatusOr<v1::ImportSummary> RosterServiceImpl::DoGetImport(const v1::GetImportRequest& r) {
  RETURN_IF_ERROR(RequireTenant(r.tenant_id()));
  if (r.import_id().empty()) return absl::InvalidArgumentError("import_id is required");
  return store_.GetImport(r.tenant_id(), r.import_id());
}

absl::StatusOr<v1::ImportSummary> RosterServiceImpl::DoRestoreBackup(
    const v1::RestoreBackupRequest& r) {
  RETURN_IF_ERROR(RequireTenant(r.tenant_id()));
  if (archive_ == nullptr) {
    return absl::FailedPreconditionError("RestoreBackup: this server has no archive configured");
  }
  return Restorer(store_, *archive_).Restore(r);
}

absl::StatusOr<v1::ImportSummary> RosterServiceImpl::DoBulkUpsertPeople(
    const v1::BulkUpsertPeopleRequest& r) {
  RETURN_IF_ERROR(RequireTenant(r.tenant_id()));
  if (archive_ == nullptr) {
    return absl::FailedPreconditionError(
        "BulkUpsertPeople: this server has no archive configured");
  }
  return BulkUpserter(store_, *archive_).Upsert(r);
}

grpc::ServerUnaryReactor* RosterServiceImpl::RestoreBackup(grpc::CallbackServerContext* ctx,
                                                           const v1::RestoreBackupRequest* request,
                                                           v1::ImportSummary* response) {
  return Reply(ctx, response, DoRestoreBackup(*request));
}

grpc::ServerUnaryReactor* RosterServiceImpl::BulkUpsertPeople(
    grpc::CallbackServerContext* ctx, const v1::BulkUpsertPeopleRequest* request,
    v1::ImportSummary* response) {
  return Reply(ctx, response, DoBulkUpsertPeople(*request));
}

grpc::ServerUnaryReactor* RosterServiceImpl::GetPerson(grpc::CallbackServerContext* ctx,
                                                       const v1::GetPersonRequest* request,
                                                       v1::Person* response) {
  return Reply(ctx, response, DoGetPerson(*request));
}

grpc::ServerUnaryReactor* RosterServiceImpl::ListPeople(grpc::CallbackServerContext* ctx,
                                                        const v1::ListPeopleRequest* request,
                                                        v1::ListPeopleResponse* response) {
  return Reply(ctx, response, DoListPeople(*request));
}

grpc::ServerUnaryReactor* RosterServiceImpl::AssignSeat(grpc::CallbackServerContext* ctx,
                                                        const v1::AssignSeatRequest* request,
                                                        v1::Person* response) {
  return Reply(ctx, response, DoAssignSeat(*request));
}

grpc::ServerUnaryReactor* RosterServiceImpl::ListImports(grpc::CallbackServerContext* ctx,
                                                         const v1::ListImportsRequest* request,
                                                         v1::ListImportsResponse* response) {
  return Reply(ctx, response, DoListImports(*request));
}

grpc::ServerUnaryReactor* RosterServiceImpl::GetImport(grpc::CallbackServerContext* ctx,
                                                       const v1::GetImportRequest* request,
                                                       v1::ImportSummary* response) {
  return Reply(ctx, response, DoGetImport(*request));
}

}  // namespace rostersync::roster
