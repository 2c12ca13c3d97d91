#pragma once

// Integrations: create, get, list, update, test, re-seal. Credentials are validated, sealed
// under the master key with the context "<tenant_id>/<integration_id>" and stored; no response
// and no log line ever carries them (responses only say which kind they are). Everything is
// scoped by tenant: another tenant's integration is NOT_FOUND.
//
// Activation (Create without `inactive`, or Update turning `active` on; also an active
// integration whose endpoint or credentials change) requires a pinned host key, or
// endpoint.trust_on_first_use, and a passing TransferService.TestConnection. With trust on
// first use and no pin, the key is learned with TransferService.ScanHostKey (a handshake, no
// credentials sent) and pinned before the connection test authenticates. Refusals are
// FAILED_PRECONDITION naming endpoint.host_key_sha256 or the failing connection step. Without
// a transfer stub (library use in tests of other features) only the pin is checked.
//
// Update reads and merges without a lock, runs the activation checks with no transaction
// open, then writes only if the stored integration is unchanged (else ABORTED: retry).
// Turning an integration off is never refused by validation.
#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pg.h"
#include "common/sealing.h"
#include "rostersync/v1/scheduler.grpc.pb.h"
#include "rostersync/v1/transfer.grpc.pb.h"
#include "services/scheduler/clock.h"

namespace rostersync::scheduler {

class IntegrationService {
 public:
  // `transfer` is the sftp-transfer service's stub (TestConnection); may be null, in which
  // case TestIntegration is UNAVAILABLE.
  IntegrationService(PgPool* pool, const Sealer* sealer, Clock* clock,
                     v1::TransferService::StubInterface* transfer);

  absl::StatusOr<v1::Integration> Create(const v1::CreateIntegrationRequest& request);
  absl::StatusOr<v1::Integration> Get(const v1::GetIntegrationRequest& request);
  absl::StatusOr<v1::ListIntegrationsResponse> List(const v1::ListIntegrationsRequest& request);
  absl::StatusOr<v1::Integration> Update(const v1::UpdateIntegrationRequest& request);
  absl::StatusOr<v1::TestConnectionResponse> Test(const v1::TestIntegrationRequest& request);
  // Re-seals every integration's credentials (of request.tenant_id when set) under the
  // current master key, one transaction per integration; idempotent.
  absl::StatusOr<v1::ResealCredentialsResponse> Reseal(const v1::ResealCredentialsRequest& request);

 private:
  absl::StatusOr<std::string> SealCredentials(const v1::Credentials& credentials,
                                              const std::string& tenant_id,
                                              const std::string& integration_id) const;
  // TransferService.TestConnection for `in` with its sealed credentials.
  absl::StatusOr<v1::TestConnectionResponse> CallTestConnection(
      const v1::Integration& in, const std::string& sealed_credentials) const;
  // Trust on first use: the server's key from a handshake alone (no authentication).
  absl::StatusOr<v1::ScanHostKeyResponse> CallScanHostKey(const v1::SftpEndpoint& ep) const;
  // The activation checks (see above); may pin in.endpoint.host_key_sha256.
  absl::Status CheckActivation(v1::Integration& in, const std::string& sealed_credentials) const;
  // next_run_at for an active scheduled integration; cleared otherwise.
  void ComputeNextRun(v1::Integration& integration, absl::Time now) const;

  PgPool* pool_;
  const Sealer* sealer_;
  Clock* clock_;
  v1::TransferService::StubInterface* transfer_;
};

// The gRPC face of IntegrationService.
class IntegrationGrpcService final : public v1::IntegrationService::CallbackService {
 public:
  explicit IntegrationGrpcService(IntegrationService* impl) : impl_(impl) {}

  grpc::ServerUnaryReactor* CreateIntegration(grpc::CallbackServerContext* context,
                                              const v1::CreateIntegrationRequest* request,
                                              v1::Integration* response) override;
  grpc::ServerUnaryReactor* GetIntegration(grpc::CallbackServerContext* context,
                                           const v1::GetIntegrationRequest* request,
                                           v1::Integration* response) override;
  grpc::ServerUnaryReactor* ListIntegrations(grpc::CallbackServerContext* context,
                                             const v1::ListIntegrationsRequest* request,
                                             v1::ListIntegrationsResponse* response) override;
  grpc::ServerUnaryReactor* UpdateIntegration(grpc::CallbackServerContext* context,
                                              const v1::UpdateIntegrationRequest* request,
                                              v1::Integration* response) override;
  grpc::ServerUnaryReactor* TestIntegration(grpc::CallbackServerContext* context,
                                            const v1::TestIntegrationRequest* request,
                                            v1::TestConnectionResponse* response) override;
  grpc::ServerUnaryReactor* ResealCredentials(grpc::CallbackServerContext* context,
                                              const v1::ResealCredentialsRequest* request,
                                              v1::ResealCredentialsResponse* response) override;

 private:
  IntegrationService* impl_;
};

}  // namespace rostersync::scheduler
