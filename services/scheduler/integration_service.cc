#include "services/scheduler/integration_service.h"

#include <google/protobuf/util/message_differencer.h>

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
  static const std::vector<std::string> kFields = {"name",
                                                   "endpoint",
                                                   "schedule",
                                                   "time_zone",
                                                   "import_settings",
                                                   "export_settings",
                                                   "active",
                                                   "blackout_windows",
                                                   "add_only_windows",
                                                   "misfire_window_s"};
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
  if (path == "blackout_windows") *to.mutable_blackout_windows() = from.blackout_windows();
  if (path == "add_only_windows") *to.mutable_add_only_windows() = from.add_only_windows();
  if (path == "misfire_window_s") to.set_misfire_window_s(from.misfire_window_s());
}

// The first failed step of a connection test, for the activation refusal.
std::string FailedStep(const v1::TestConnectionResponse& response) {
  for (const v1::ConnectionStep& step : response.steps()) {
    if (!step.ok()) {
      return absl::StrCat("step \"", step.name(), "\"",
                          step.detail().empty() ? "" : absl::StrCat(": ", step.detail()));
    }
  }
  return "no step reported a failure, but the test did not pass";
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
  // Output-only fields are the server's; a new integration starts active unless asked not to
  // (activation checks below).
  in.clear_created_at();
  in.clear_updated_at();
  in.clear_next_run_at();
  in.set_active(!request.inactive());
  ApplyIntegrationDefaults(in);
  RETURN_IF_ERROR(ValidateIntegration(in));
  RETURN_IF_ERROR(ValidateCredentials(request.credentials()));
  in.set_credential_kind(KindOf(request.credentials()));

  StoredIntegration stored;
  ASSIGN_OR_RETURN(stored.sealed_credentials,
                   SealCredentials(request.credentials(), in.tenant_id(), in.integration_id()));
  if (in.active()) RETURN_IF_ERROR(CheckActivation(in, stored.sealed_credentials));
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

  // 1. Read and merge with no lock held; validate and seal.
  StoredIntegration stored;
  RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    ASSIGN_OR_RETURN(stored,
                     IntegrationStore::Get(txn, patch.tenant_id(), patch.integration_id()));
    return absl::OkStatus();
  }));
  const StoredIntegration as_read = stored;
  v1::Integration& in = stored.integration;
  const bool was_active = in.active();
  const std::string endpoint_before = in.endpoint().SerializeAsString();
  bool timing_changed = false;
  for (const std::string& path : paths) {
    CopyField(path, patch, in);
    timing_changed |= path == "schedule" || path == "time_zone" || path == "active";
  }
  ApplyIntegrationDefaults(in);
  // Turning an integration off is always allowed, even when its stored definition predates a
  // stricter validation rule: an operator must be able to stop it. Anything else validates the
  // whole merged definition.
  const bool only_deactivating = paths.size() == 1 && paths[0] == "active" && !in.active();
  if (!only_deactivating) RETURN_IF_ERROR(ValidateIntegration(in));
  if (replace_credentials) {
    ASSIGN_OR_RETURN(stored.sealed_credentials,
                     SealCredentials(request.credentials(), in.tenant_id(), in.integration_id()));
    in.set_credential_kind(KindOf(request.credentials()));
  }
  // 2. Turning it on, or changing where or how an active one connects, is an activation: the
  // connection test runs with no transaction open and no row locked (it can take as long as
  // the endpoint's timeouts).
  if (in.active() && (!was_active || replace_credentials ||
                      in.endpoint().SerializeAsString() != endpoint_before)) {
    RETURN_IF_ERROR(CheckActivation(in, stored.sealed_credentials));
  }
  // 3. Write, provided nobody changed the integration meanwhile.
  RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& txn) -> absl::Status {
    ASSIGN_OR_RETURN(StoredIntegration current,
                     IntegrationStore::Get(txn, patch.tenant_id(), patch.integration_id(),
                                           /*for_update=*/true));
    if (!google::protobuf::util::MessageDifferencer::Equals(current.integration,
                                                            as_read.integration) ||
        current.sealed_credentials != as_read.sealed_credentials) {
      return absl::AbortedError(absl::StrCat(
          "integration ", patch.integration_id(),
          " was changed by another request while this update ran its checks; nothing was "
          "changed by this one: read it again and retry"));
    }
    const absl::Time now = clock_->Now();
    if (timing_changed) ComputeNextRun(in, now);
    *in.mutable_updated_at() = ToProtoTime(now);
    return IntegrationStore::Update(txn, stored);
  }));
  const v1::Integration& out = in;
  log::Info("integration updated", {{"tenant", out.tenant_id()},
                                    {"integration_id", out.integration_id()},
                                    {"fields", absl::StrJoin(paths, ",")},
                                    {"credentials_replaced", replace_credentials ? "yes" : "no"}});
  return out;
}

absl::StatusOr<v1::TestConnectionResponse> IntegrationService::CallTestConnection(
    const v1::Integration& in, const std::string& sealed_credentials) const {
  if (transfer_ == nullptr) {
    return absl::UnavailableError("transfer service: no --transfer_address configured");
  }
  v1::TestConnectionRequest test;
  test.set_tenant_id(in.tenant_id());
  *test.mutable_endpoint() = in.endpoint();
  test.mutable_credentials()->set_ciphertext(sealed_credentials);
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
  return response;
}

absl::StatusOr<v1::ScanHostKeyResponse> IntegrationService::CallScanHostKey(
    const v1::SftpEndpoint& ep) const {
  v1::ScanHostKeyRequest scan;
  scan.set_host(ep.host());
  scan.set_port(ep.port());
  scan.set_connect_timeout_ms(ep.connect_timeout_ms());
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(
      absl::Now() + absl::Milliseconds(ep.connect_timeout_ms()) + absl::Seconds(5)));
  v1::ScanHostKeyResponse response;
  grpc::Status status = transfer_->ScanHostKey(&context, scan, &response);
  if (!status.ok()) {
    absl::Status s = FromGrpcStatus(status);
    return absl::Status(s.code(), absl::StrCat("activation refused: the host key scan of ",
                                               ep.host(), ":", ep.port(),
                                               " could not run: ", s.message()));
  }
  return response;
}

absl::Status IntegrationService::CheckActivation(v1::Integration& in,
                                                 const std::string& sealed_credentials) const {
  v1::SftpEndpoint& ep = *in.mutable_endpoint();
  const bool pinned = !ep.host_key_sha256().empty();
  if (!pinned && !ep.trust_on_first_use()) {
    return absl::FailedPreconditionError(
        "activation refused: integration.endpoint.host_key_sha256: no host key is pinned; pin "
        "the server's key (`rosterctl integrations scan-host-key`, then check it with the "
        "server's operator) or set endpoint.trust_on_first_use");
  }
  if (transfer_ == nullptr) {
    if (pinned) return absl::OkStatus();
    return absl::FailedPreconditionError(
        "activation refused: integration.endpoint.host_key_sha256: not pinned, and trust on "
        "first use needs a connection test, but no transfer service is configured");
  }
  if (!pinned) {
    // Trust on first use: learn the key with a handshake only (no credentials are sent), pin
    // it, and let the connection test below authenticate only to a server holding that key.
    ASSIGN_OR_RETURN(v1::ScanHostKeyResponse scanned, CallScanHostKey(ep));
    if (!IsSha256Fingerprint(scanned.host_key_sha256())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "activation refused: integration.endpoint.host_key_sha256: trust on first use, but "
          "the host key scan of ", ep.host(), ":", ep.port(), " reported no usable key (\"",
          scanned.host_key_sha256(), "\")"));
    }
    ep.set_host_key_sha256(scanned.host_key_sha256());
    log::Warn("host key pinned on first use", {{"tenant", in.tenant_id()},
                                               {"integration_id", in.integration_id()},
                                               {"host", ep.host()},
                                               {"host_key_type", scanned.host_key_type()},
                                               {"host_key_sha256", ep.host_key_sha256()}});
  }
  auto response = CallTestConnection(in, sealed_credentials);
  if (!response.ok()) {
    return absl::Status(response.status().code(),
                        absl::StrCat("activation refused: the connection test could not run: ",
                                     response.status().message()));
  }
  if (!response->ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "activation refused: the connection test to ", ep.host(), ":", ep.port(), " failed at ",
        FailedStep(*response), " (run `rosterctl integrations test` for every step)"));
  }
  log::Info("integration activation checks passed", {{"tenant", in.tenant_id()},
                                                     {"integration_id", in.integration_id()},
                                                     {"host_key_sha256", ep.host_key_sha256()}});
  return absl::OkStatus();
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
  const v1::Integration& in = stored.integration;
  ASSIGN_OR_RETURN(v1::TestConnectionResponse response,
                   CallTestConnection(in, stored.sealed_credentials));
  log::Info("integration tested", {{"tenant", in.tenant_id()},
                                   {"integration_id", in.integration_id()},
                                   {"ok", response.ok() ? "true" : "false"}});
  return response;
}

absl::StatusOr<v1::ResealCredentialsResponse> IntegrationService::Reseal(
    const v1::ResealCredentialsRequest& request) {
  v1::ResealCredentialsResponse response;
  response.set_key_id(sealer_->key_id());
  constexpr int kBatch = 200;
  std::string after;
  while (true) {
    std::vector<std::pair<std::string, std::string>> ids;
    RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& txn) -> absl::Status {
      ASSIGN_OR_RETURN(ids, IntegrationStore::ListIds(txn, request.tenant_id(), after, kBatch));
      return absl::OkStatus();
    }));
    for (const auto& [tenant_id, integration_id] : ids) {
      after = integration_id;
      enum class Outcome { kResealed, kCurrent, kFailed } outcome = Outcome::kCurrent;
      std::string why;
      // One transaction per integration: a failure leaves the others re-sealed.
      RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& txn) -> absl::Status {
        outcome = Outcome::kCurrent;
        ASSIGN_OR_RETURN(StoredIntegration stored,
                         IntegrationStore::Get(txn, tenant_id, integration_id,
                                               /*for_update=*/true));
        if (sealer_->SealedUnderCurrentKey(stored.sealed_credentials)) return absl::OkStatus();
        auto resealed = sealer_->Reseal(stored.sealed_credentials,
                                        CredentialContext(tenant_id, integration_id));
        if (!resealed.ok()) {
          outcome = Outcome::kFailed;
          why = std::string(resealed.status().message());  // names key ids, never secrets
          return absl::OkStatus();
        }
        RETURN_IF_ERROR(IntegrationStore::SetSealedCredentials(txn, integration_id, *resealed));
        outcome = Outcome::kResealed;
        return absl::OkStatus();
      }));
      switch (outcome) {
        case Outcome::kResealed:
          response.set_resealed(response.resealed() + 1);
          log::Info("credentials re-sealed", {{"tenant", tenant_id},
                                              {"integration_id", integration_id},
                                              {"key_id", sealer_->key_id()}});
          break;
        case Outcome::kCurrent:
          response.set_already_current(response.already_current() + 1);
          break;
        case Outcome::kFailed:
          response.set_failed(response.failed() + 1);
          response.add_failed_integration_ids(integration_id);
          log::Error(absl::StrCat("credentials not re-sealed: ", why),
                     {{"tenant", tenant_id}, {"integration_id", integration_id}});
          break;
      }
    }
    if (static_cast<int>(ids.size()) < kBatch) break;
  }
  log::Info("credential re-seal finished",
            {{"tenant", request.tenant_id()},
             {"key_id", response.key_id()},
             {"resealed", absl::StrCat(response.resealed())},
             {"already_current", absl::StrCat(response.already_current())},
             {"failed", absl::StrCat(response.failed())}});
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

namespace rostersync::scheduler {

grpc::ServerUnaryReactor* IntegrationGrpcService::ResealCredentials(
    grpc::CallbackServerContext* context, const v1::ResealCredentialsRequest* request,
    v1::ResealCredentialsResponse* response) {
  return FinishUnary(context, impl_->Reseal(*request), response);
}

}  // namespace rostersync::scheduler
