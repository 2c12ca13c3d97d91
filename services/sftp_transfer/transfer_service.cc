#include "services/sftp_transfer/transfer_service.h"

#include <functional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/ids.h"
#include "common/log.h"
#include "services/sftp_transfer/credentials.h"

namespace rostersync::transfer {

ConnectionTester::ConnectionTester(SftpConnector* connector, const Sealer* sealer)
    : connector_(connector), sealer_(sealer) {}

absl::StatusOr<v1::TestConnectionResponse> ConnectionTester::Test(
    const v1::TestConnectionRequest& request) {
  if (request.tenant_id().empty()) {
    return absl::InvalidArgumentError("TestConnection: tenant_id is empty");
  }
  if (request.endpoint().host().empty()) {
    return absl::InvalidArgumentError("TestConnection: endpoint.host is empty");
  }
  if (request.endpoint().username().empty()) {
    return absl::InvalidArgumentError("TestConnection: endpoint.username is empty");
  }
  if (request.endpoint().port() < 0 || request.endpoint().port() > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("TestConnection: endpoint.port ",
                                                   request.endpoint().port(), " is out of range"));
  }
  auto credentials =
      OpenCredentials(*sealer_, request.credentials(), absl::StrCat(request.tenant_id(), "/"));
  if (!credentials.ok()) return credentials.status();

  v1::TestConnectionResponse response;
  ConnectReport report;
  auto session = connector_->Connect(request.endpoint(), *credentials, &report);
  WipeCredentials(*credentials);
  for (const ConnectStep& step : report.steps) {
    v1::ConnectionStep* out = response.add_steps();
    out->set_name(step.name);
    out->set_ok(step.ok);
    out->set_detail(step.detail);
    out->set_duration_ms(absl::ToInt64Milliseconds(step.duration));
  }
  response.set_host_key_type(report.host_key.type);
  response.set_host_key_sha256(report.host_key.sha256);
  if (!session.ok()) {
    response.set_ok(false);
    return response;
  }

  v1::ConnectionStep* folder = response.add_steps();
  folder->set_name("folder");
  const std::string shown = request.remote_folder().empty() ? "." : request.remote_folder();
  absl::Time start = absl::Now();
  if (request.direction() == v1::RUN_DIRECTION_EXPORT) {
    const std::string probe = absl::StrCat(".rostersync-write-test-", NewId("probe"));
    auto written = (*session)->Upload(request.remote_folder(), probe, [](const ByteSink& sink) {
      return sink("rostersync write test\n");
    });
    absl::Status st = written.status();
    if (st.ok()) st = (*session)->Remove(JoinRemotePath(request.remote_folder(), probe));
    folder->set_ok(st.ok());
    folder->set_detail(st.ok() ? absl::StrCat("folder \"", shown,
                                              "\" is writable (wrote, renamed and removed a "
                                              "probe file)")
                               : std::string(st.message()));
  } else {
    auto entries = (*session)->List(request.remote_folder());
    folder->set_ok(entries.ok());
    folder->set_detail(entries.ok() ? absl::StrCat("folder \"", shown, "\" is listable (",
                                                   entries->size(), " entries)")
                                    : std::string(entries.status().message()));
  }
  folder->set_duration_ms(absl::ToInt64Milliseconds(absl::Now() - start));
  response.set_ok(folder->ok());
  return response;
}

absl::StatusOr<v1::ScanHostKeyResponse> ConnectionTester::ScanHostKey(
    const v1::ScanHostKeyRequest& request) {
  if (request.host().empty()) return absl::InvalidArgumentError("ScanHostKey: host is empty");
  if (request.port() < 0 || request.port() > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("ScanHostKey: port ", request.port(), " is out of range"));
  }
  if (request.connect_timeout_ms() < 0) {
    return absl::InvalidArgumentError("ScanHostKey: connect_timeout_ms is negative");
  }
  v1::SftpEndpoint endpoint;
  endpoint.set_host(request.host());
  endpoint.set_port(request.port());
  endpoint.set_connect_timeout_ms(request.connect_timeout_ms());
  auto key = connector_->ScanHostKey(endpoint);
  if (!key.ok()) return key.status();
  v1::ScanHostKeyResponse response;
  response.set_host_key_type(key->type);
  response.set_host_key_sha256(key->sha256);
  return response;
}

absl::StatusOr<v1::ReprocessResponse> Reprocess(TransferLedger& ledger,
                                                const v1::ReprocessRequest& request) {
  if (request.tenant_id().empty()) {
    return absl::InvalidArgumentError("Reprocess: tenant_id is empty");
  }
  if (request.integration_id().empty()) {
    return absl::InvalidArgumentError("Reprocess: integration_id is empty");
  }
  if (request.remote_path().empty() && request.sha256().empty()) {
    return absl::InvalidArgumentError(
        "Reprocess: give remote_path, sha256 or both (which processed file to forget)");
  }
  const std::string& sha = request.sha256();
  if (!sha.empty() &&
      (sha.size() != 64 || sha.find_first_not_of("0123456789abcdef") != std::string::npos)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Reprocess: sha256 \"", sha, "\" is not 64 lowercase hex digits"));
  }
  auto forgotten =
      ledger.Forget(request.tenant_id(), request.integration_id(), request.remote_path(), sha);
  if (!forgotten.ok()) return forgotten.status();
  if (forgotten->empty()) {
    std::string what;
    if (!request.remote_path().empty())
      what = absl::StrCat("remote path \"", request.remote_path(), "\"");
    if (!sha.empty()) absl::StrAppend(&what, what.empty() ? "" : " and ", "SHA-256 ", sha);
    return absl::NotFoundError(absl::StrCat("no processed file of integration ",
                                            request.integration_id(), " matches ", what));
  }
  v1::ReprocessResponse response;
  for (const ForgottenFile& f : *forgotten) {
    v1::ProcessedFileEntry* e = response.add_forgotten();
    e->set_remote_path(f.file.key.remote_path);
    e->set_size_bytes(f.file.key.size);
    e->set_mtime(f.file.key.mtime);
    e->set_sha256(f.file.sha256);
    e->set_file_id(f.file.file_id);
    e->set_job_id(f.file.job_id);
    const int64_t micros = absl::ToUnixMicros(f.processed_at);
    e->mutable_processed_at()->set_seconds(micros / 1000000);
    e->mutable_processed_at()->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
  }
  return response;
}

TransferServiceImpl::TransferServiceImpl(ConnectionTester* tester, TransferLedger* ledger)
    : tester_(tester), ledger_(ledger) {}

grpc::ServerUnaryReactor* TransferServiceImpl::Reprocess(grpc::CallbackServerContext* context,
                                                         const v1::ReprocessRequest* request,
                                                         v1::ReprocessResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  RunOffCallbackThread(reactor, [this, request, response] {
    if (ledger_ == nullptr) {
      return ToGrpcStatus(absl::FailedPreconditionError(
          "Reprocess: this sftp-transfer server has no ledger (no --postgres)"));
    }
    auto result = transfer::Reprocess(*ledger_, *request);
    if (!result.ok()) return ToGrpcStatus(result.status());
    *response = *std::move(result);
    for (const v1::ProcessedFileEntry& e : response->forgotten()) {
      log::Info("processed file forgotten for reprocessing",
                {{"tenant", request->tenant_id()},
                 {"integration_id", request->integration_id()},
                 {"remote_path", e.remote_path()},
                 {"sha256", e.sha256()},
                 {"file_id", e.file_id()}});
    }
    return grpc::Status::OK;
  });
  return reactor;
}

void TransferServiceImpl::RunOffCallbackThread(grpc::ServerUnaryReactor* reactor,
                                               std::function<grpc::Status()> work) {
  {
    absl::MutexLock lock(&mu_);
    ++in_flight_;
  }
  // A connection attempt can take up to its timeouts: keep it off gRPC's callback threads.
  // The destructor waits until every such call has finished.
  std::thread([this, reactor, work = std::move(work)] {
    reactor->Finish(work());
    absl::MutexLock lock(&mu_);
    --in_flight_;
  }).detach();
}

grpc::ServerUnaryReactor* TransferServiceImpl::ScanHostKey(grpc::CallbackServerContext* context,
                                                           const v1::ScanHostKeyRequest* request,
                                                           v1::ScanHostKeyResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  RunOffCallbackThread(reactor, [this, request, response] {
    auto result = tester_->ScanHostKey(*request);
    if (!result.ok()) return ToGrpcStatus(result.status());
    *response = *std::move(result);
    log::Info("host key scanned", {{"host", request->host()},
                                   {"port", std::to_string(request->port())},
                                   {"host_key", response->host_key_sha256()}});
    return grpc::Status::OK;
  });
  return reactor;
}

TransferServiceImpl::~TransferServiceImpl() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](int* n) { return *n == 0; }, &in_flight_));
}

grpc::ServerUnaryReactor* TransferServiceImpl::TestConnection(
    grpc::CallbackServerContext* context, const v1::TestConnectionRequest* request,
    v1::TestConnectionResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  RunOffCallbackThread(reactor, [this, request, response] {
    auto result = tester_->Test(*request);
    if (!result.ok()) return ToGrpcStatus(result.status());
    *response = *std::move(result);
    log::Info("connection tested", {{"tenant", request->tenant_id()},
                                    {"host", request->endpoint().host()},
                                    {"ok", response->ok() ? "true" : "false"}});
    return grpc::Status::OK;
  });
  return reactor;
}

}  // namespace rostersync::transfer
