#pragma once

#include <functional>

// TransferService: ScanHostKey returns a server's host key type and SHA-256 fingerprint
// (handshake only, no credentials) so an operator can verify and pin it. TestConnection walks the
// steps of a session (resolve, tcp, handshake, host_key, auth, folder) and reports each with its
// outcome, detail and duration, plus the server's host key type and fingerprint (so an operator can
// pin it). Reprocess forgets processed-file ledger entries on purpose, so the next fetch hands the
// file over again. It never returns or logs a secret.
#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/sealing.h"
#include "rostersync/v1/transfer.grpc.pb.h"
#include "services/sftp_transfer/sftp_client.h"
#include "services/sftp_transfer/transfer_ledger.h"

namespace rostersync::transfer {

// The logic, free of gRPC.
class ConnectionTester {
 public:
  ConnectionTester(SftpConnector* connector, const Sealer* sealer);
  // INVALID_ARGUMENT for a malformed request, FAILED_PRECONDITION for credentials that cannot
  // be opened; a failing connection is an OK response with ok=false.
  absl::StatusOr<v1::TestConnectionResponse> Test(const v1::TestConnectionRequest& request);
  // INVALID_ARGUMENT for a malformed request; UNAVAILABLE when the server cannot be reached or
  // does not complete the SSH handshake within the connect timeout.
  absl::StatusOr<v1::ScanHostKeyResponse> ScanHostKey(const v1::ScanHostKeyRequest& request);

 private:
  SftpConnector* connector_;
  const Sealer* sealer_;
};

// Reprocess, free of gRPC: INVALID_ARGUMENT for a malformed request (tenant, integration, and a
// remote_path and/or a 64-hex-digit sha256 are needed), NOT_FOUND when no ledger entry
// matches; else the forgotten entries.
absl::StatusOr<v1::ReprocessResponse> Reprocess(TransferLedger& ledger,
                                                const v1::ReprocessRequest& request);

class TransferServiceImpl : public v1::TransferService::CallbackService {
 public:
  // `ledger` may be null: Reprocess then answers FAILED_PRECONDITION.
  explicit TransferServiceImpl(ConnectionTester* tester, TransferLedger* ledger = nullptr);
  // Waits for tests still running.
  ~TransferServiceImpl() override;

  grpc::ServerUnaryReactor* TestConnection(grpc::CallbackServerContext* context,
                                           const v1::TestConnectionRequest* request,
                                           v1::TestConnectionResponse* response) override;
  grpc::ServerUnaryReactor* ScanHostKey(grpc::CallbackServerContext* context,
                                        const v1::ScanHostKeyRequest* request,
                                        v1::ScanHostKeyResponse* response) override;
  grpc::ServerUnaryReactor* Reprocess(grpc::CallbackServerContext* context,
                                      const v1::ReprocessRequest* request,
                                      v1::ReprocessResponse* response) override;

 private:
  ConnectionTester* tester_;
  TransferLedger* ledger_;
  void RunOffCallbackThread(grpc::ServerUnaryReactor* reactor, std::function<grpc::Status()> work);

  absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace rostersync::transfer
