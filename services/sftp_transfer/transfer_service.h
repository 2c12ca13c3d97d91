#pragma once

#include <functional>

// TransferService: ScanHostKey returns a server's host key type and SHA-256 fingerprint
// (handshake only, no credentials) so an operator can verify and pin it. TestConnection walks the
// steps of a session (resolve, tcp, handshake, host_key, auth, folder) and reports each with its
// outcome, detail and duration, plus the server's host key type and fingerprint (so an operator can
// pin it). It never returns or logs a secret.
#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/sealing.h"
#include "rostersync/v1/transfer.grpc.pb.h"
#include "services/sftp_transfer/sftp_client.h"

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

class TransferServiceImpl : public v1::TransferService::CallbackService {
 public:
  explicit TransferServiceImpl(ConnectionTester* tester);
  // Waits for tests still running.
  ~TransferServiceImpl() override;

  grpc::ServerUnaryReactor* TestConnection(grpc::CallbackServerContext* context,
                                           const v1::TestConnectionRequest* request,
                                           v1::TestConnectionResponse* response) override;
  grpc::ServerUnaryReactor* ScanHostKey(grpc::CallbackServerContext* context,
                                        const v1::ScanHostKeyRequest* request,
                                        v1::ScanHostKeyResponse* response) override;

 private:
  ConnectionTester* tester_;
  void RunOffCallbackThread(grpc::ServerUnaryReactor* reactor, std::function<grpc::Status()> work);

  absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace rostersync::transfer
