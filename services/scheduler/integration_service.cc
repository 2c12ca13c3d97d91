#include "services/scheduler/integration_service.h"

#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/grpc_status.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/page_token.h"
#include "common/status_macros.h"
#include "common/time_util.h"
#include "services/scheduler/cron.h"
#include "services/scheduler/integration_store.h"
#include "services/scheduler/integration_validation.h"
#include "services/scheduler/run_orchestrator.h"
#include "services/scheduler/unary_reactor.h"

namespace rostersync::scheduler {
namespace {

constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 500;

const std::vector<std::string>& MutableFields() {
  static const std::vector<std::string> kFields = {
      "name", "endpoint", "schedule", "time_zone", "import_settings", "export_settings", "active"};
  return kFields;
}

v1::CredentialKind KindOf(const v1::Credentials& credentials) {
  switch (credentials.kind_case()) {
    case v1::Credentials::kPassword:
      return v1::CREDENTIAL_KIND_PASSWORD;
    case v1::Credentials::kPrivateKey:
      return v1::CREDENTIAL_KIND_PRIVATE_KEY;
    default:
      return v1::CREDENTIAL_KIND_UNSPECIFIED;
  }
}

absl::Status RequireIds(const std::string& tenant_id, const std::string& integration_id) {
  if (tenant_id.empty()) return absl::InvalidArgumentError("tenant_id: is required");
  if (integration_id.empty()) return absl::InvalidArgumentError("integration_id: is required");
  return absl::OkStatus();
}

void CopyField(const std::string& path, const v1::Integration& from, v1::Integration& to) {
  if (path == "name") to.set_name(from.name());
  if (path == "endpoint") *to.mutable_endpoint() = from.endpoint();
  if (path == "schedule") to.set_schedule(from.schedule());
  if (path == "time_zone") to.set_time_zone(from.time_zone());
  if (path == "import_settings") *to.mutable_import_settings() = from.import_settings();
  if (path == "export_settings") *to.mutable_export_settings() = from.export_settings();
  if (path == "active") to.set_active(from.active());
}

}  // namespace

IntegrationService::IntegrationService(PgPool* pool, const Sealer* sealer, Clock* clock,
                                       v1::TransferService::StubInterface* transfer)
    : pool_(pool), sealer_(sealer), clock_(clock), transfer_(transfer) {}

absl::StatusOr<std::string> IntegrationService::SealCredentials(
    const v1::Credentials& credentials, const std::string& tenant_id,
    const std::string& integration_id) const {
  std::string plaintext = credentials.SerializeAsString();
  auto sealed = sealer_->Seal(plaintext, CredentialContext(tenant_id, integration_id));
  SecureWipe(plaintext);
  if (!sealed.ok()) {
    // The status comes from the sealer, which never includes the plaintext.
    return absl::InternalError(
        absl::StrCat("sealing credentials failed: ", sealed.status().message()));
  }
  return sealed;
}

void IntegrationService::ComputeNextRun(v1::Integration& in, absl::Time now) const {
  in.clear_next_run_at();
  if (!in.active() || in.schedule().empty()) return;
  auto cron = CronSchedule::Parse(in.schedule());
  absl::TimeZone zone;
  if (!cron.ok() || !absl::LoadTimeZone(in.time_zone(), &zone)) return;  // validated before
  *in.mutable_next_run_at() = ToProtoTime(cron->NextFire(now, zone));
}

absl::StatusOr<v1::Integration> IntegrationService::Create(
    const v1::CreateIntegrationRequest& request) {
  v1::Integration in = request.integration();
  in.set_integration_id(NewId("int"));
  // Output-only fields are the server's; a new integration starts active.
  in.clear_created_at();
  in.clear_updated_at();
  in.clear_next_run_at();
  in.set_active(true);
  ApplyIntegrationDefaults(in);
  RETURN_IF_ERROR(ValidateIntegration(in));
  RETURN_IF_ERROR(ValidateCredentials(request.credentials()));
  in.set_credential_kind(KindOf(request.credentials()));

  StoredIntegration stored;
  ASSIGN_OR_RETURN(stored.sealed_credentials,
                   SealCredentials(request.credentials(), in.tenant_id(), in.integration_id()));
  const absl::Time now = clock_->Now();
  *in.mutable_created_at() = ToProtoTime(now);
  *in.mutable_updated_at() = ToProtoTime(now);
  ComputeNextRun(in, now);
  stored.integration = in;
  RETURN_IF_ERROR(
      pool_->Transact([&](pqxx::work& txn) { return IntegrationStore::Insert(txn, stored); }));
  log::Info("integration created",
            {{"tenant", in.tenant_id()},
             {"integration_id", in.integration_id()},
             {"name", in.name()},
             {"direction", v1::RunDirection_Name(in.direction())},
             {"host", in.endpoint().host()},
             {"credential_kind", v1::CredentialKind_Name(in.credential_kind())}});
  return in;
}

absl::StatusOr<v1::Integration> IntegrationService::Get(const v1::GetIntegrationRequest& request) {
  RETURN_IF_ERROR(RequireIds(request.tenant_id(), request.integration_id()));
  v1::Integration out;
  RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    ASSIGN_OR_RETURN(StoredIntegration stored,
                     IntegrationStore::Get(txn, request.tenant_id(), request.integration_id()));
    out = std::move(stored.integration);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::ListIntegrationsResponse> IntegrationService::List(
    const v1::ListIntegrationsRequest& request) {
  if (request.tenant_id().empty()) return absl::InvalidArgumentError("tenant_id: is required");
  if (request.page_size() < 0) {
    return absl::InvalidArgumentError("page_size: must not be negative");
  }
  ASSIGN_OR_RETURN(std::string after, DecodePageToken(request.page_token()));
  const int limit = ClampPageSize(request.page_size(), kDefaultPageSize, kMaxPageSize);
  v1::ListIntegrationsResponse response;
  RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<v1::Integration> page,
                     IntegrationStore::List(txn, request.tenant_id(), after, limit + 1));
    const bool more = static_cast<int>(page.size()) > limit;
    if (more) page.resize(limit);
    for (v1::Integration& in : page) *response.add_integrations() = std::move(in);
    if (more) {
      response.set_next_page_token(EncodePageToken(
          response.integrations(response.integrations_size() - 1).integration_id()));
    }
    return absl::OkStatus();
  }));
  return response;
}

absl::StatusOr<v1::Integration> IntegrationService::Update(
    const v1::UpdateIntegrationRequest& request) {
  const v1::Integration& patch = request.integration();
  RETURN_IF_ERROR(RequireIds(patch.tenant_id(), patch.integration_id()));
  std::vector<std::string> paths(request.update_mask().paths().begin(),
                                 request.update_mask().paths().end());
  if (paths.empty()) paths = MutableFields();
  const std::set<std::string> mutable_fields(MutableFields().begin(), MutableFields().end());
  for (const std::string& path : paths) {
    if (path == "direction") {
      return absl::InvalidArgumentError(
          "update_mask: direction cannot be changed; create a new integration");
    }
    if (mutable_fields.count(path) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "update_mask: \"", path,
          "\" is not a mutable field (one of: ", absl::StrJoin(MutableFields(), ", "), ")"));
    }
  }
  const bool replace_credentials =
      request.credentials().kind_case() != v1::Credentials::KIND_NOT_SET;
  if (replace_credentials) RETURN_IF_ERROR(ValidateCredentials(request.credentials()));

  v1::Integration out;
  RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    ASSIGN_OR_RETURN(StoredIntegration stored,
                     IntegrationStore::Get(txn, patch.tenant_id(), patch.integration_id(),
                                           /*for_update=*/true));
    v1::Integration& in = stored.integration;
    bool timing_changed = false;
    for (const std::string& path : paths) {
      CopyField(path, patch, in);
      timing_changed |= path == "schedule" || path == "time_zone" || path == "active";
    }
    ApplyIntegrationDefaults(in);
    RETURN_IF_ERROR(ValidateIntegration(in));
    if (replace_credentials) {
      ASSIGN_OR_RETURN(stored.sealed_credentials,
                       SealCredentials(request.credentials(), in.tenant_id(), in.integration_id()));
      in.set_credential_kind(KindOf(request.credentials()));
    }
    const absl::Time now = clock_->Now();
    if (timing_changed) ComputeNextRun(in, now);
    *in.mutable_updated_at() = ToProtoTime(now);
    RETURN_IF_ERROR(IntegrationStore::Update(txn, stored));
    out = in;
    return absl::OkStatus();
  }));
  log::Info("integration updated", {{"tenant", out.tenant_id()},
                                    {"integration_id", out.integration_id()},
                                    {"fields", absl::StrJoin(paths, ",")},
                                    {"credentials_replaced", replace_credentials ? "yes" : "no"}});
  return out;
}

absl::StatusOr<v1::TestConnectionResponse> IntegrationService::Test(
    const v1::TestIntegrationRequest& request) {
  RETURN_IF_ERROR(RequireIds(request.tenant_id(), request.integration_id()));
  StoredIntegration stored;
  RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    ASSIGN_OR_RETURN(stored,
                     IntegrationStore::Get(txn, request.tenant_id(), request.integration_id()));
    return absl::OkStatus();
  }));
  if (transfer_ == nullptr) {
    return absl::UnavailableError("transfer service: no --transfer_address configured");
  }
  const v1::Integration& in = stored.integration;
  v1::TestConnectionRequest test;
  test.set_tenant_id(in.tenant_id());
  *test.mutable_endpoint() = in.endpoint();
  test.mutable_credentials()->set_ciphertext(stored.sealed_credentials);
  test.mutable_credentials()->set_context(CredentialContext(in.tenant_id(), in.integration_id()));
  test.set_remote_folder(in.direction() == v1::RUN_DIRECTION_IMPORT
                             ? in.import_settings().remote_folder()
                             : in.export_settings().remote_folder());
  test.set_direction(in.direction());

  grpc::ClientContext context;
  const absl::Duration deadline = absl::Milliseconds(in.endpoint().connect_timeout_ms()) +
                                  2 * absl::Milliseconds(in.endpoint().operation_timeout_ms()) +
                                  absl::Seconds(5);
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  v1::TestConnectionResponse response;
  grpc::Status status = transfer_->TestConnection(&context, test, &response);
  if (!status.ok()) {
    absl::Status s = FromGrpcStatus(status);
    return absl::Status(s.code(), absl::StrCat("transfer service: ", s.message()));
  }
  log::Info("integration tested", {{"tenant", in.tenant_id()},
                                   {"integration_id", in.integration_id()},
                                   {"ok", response.ok() ? "true" : "false"}});
  return response;
}

grpc::ServerUnaryReactor* IntegrationGrpcService::CreateIntegration(
    grpc::CallbackServerContext* context, const v1::CreateIntegrationRequest* request,
    v1::Integration* response) {
  return FinishUnary(context, impl_->Create(*request), response);
}

grpc::ServerUnaryReactor* IntegrationGrpcService::GetIntegration(
    grpc::CallbackServerContext* context, const v1::GetIntegrationRequest* request,
    v1::Integration* response) {
  return FinishUnary(context, impl_->Get(*request), response);
}

grpc::ServerUnaryReactor* IntegrationGrpcService::ListIntegrations(
    grpc::CallbackServerContext* context, const v1::ListIntegrationsRequest* request,
    v1::ListIntegrationsResponse* response) {
  return FinishUnary(context, impl_->List(*request), response);
}

grpc::ServerUnaryReactor* IntegrationGrpcService::UpdateIntegration(
    grpc::CallbackServerContext* context, const v1::UpdateIntegrationRequest* request,
    v1::Integration* response) {
  return FinishUnary(context, impl_->Update(*request), response);
}

grpc::ServerUnaryReactor* IntegrationGrpcService::TestIntegration(
    grpc::CallbackServerContext* context, const v1::TestIntegrationRequest* request,
    v1::TestConnectionResponse* response) {
  return FinishUnary(context, impl_->Test(*request), response);
}

}  // namespace rostersync::scheduler
