#include "common/server.h"

#include <pthread.h>
#include <signal.h>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <prometheus/exposer.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/metrics.h"

namespace rostersync {

class MetricsExposer {
 public:
  explicit MetricsExposer(const std::string& address) : exposer_(address) {
    exposer_.RegisterCollectable(MetricsRegistry());
  }
  int port() const {
    std::vector<int> ports = exposer_.GetListeningPorts();
    return ports.empty() ? 0 : ports.front();
  }

 private:
  prometheus::Exposer exposer_;
};

namespace {
sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}
}  // namespace

void InitService(const std::string& service_name) {
  sigset_t set = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  log::Init(service_name);
}

absl::StatusOr<std::unique_ptr<ServiceRunner>> ServiceRunner::Start(
    const ServerOptions& options, const std::vector<grpc::Service*>& services) {
  auto runner = std::unique_ptr<ServiceRunner>(new ServiceRunner());
  runner->options_ = options;
  if (!options.metrics_address.empty()) {
    try {
      runner->exposer_ = std::make_unique<MetricsExposer>(options.metrics_address);
      runner->metrics_port_ = runner->exposer_->port();
    } catch (const std::exception& e) {
      return absl::UnavailableError(absl::StrCat("metrics_address ", options.metrics_address,
                                                 ": cannot listen: ", e.what()));
    }
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.grpc_address, grpc::InsecureServerCredentials(),
                           &runner->grpc_port_);
  // gRPC sets SO_REUSEPORT by default: two processes could then listen on one port and share
  // its connections. A port taken is an error here.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.SetMaxReceiveMessageSize(16 * 1024 * 1024);
  for (grpc::Service* service : services) builder.RegisterService(service);
  runner->server_ = builder.BuildAndStart();
  if (runner->server_ == nullptr || runner->grpc_port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("grpc_address ", options.grpc_address, ": cannot listen"));
  }
  runner->server_->GetHealthCheckService()->SetServingStatus(true);
  log::Info("service started", {{"grpc_port", std::to_string(runner->grpc_port_)},
                                {"metrics_port", std::to_string(runner->metrics_port_)},
                                {"metrics_address", options.metrics_address}});
  return runner;
}

ServiceRunner::~ServiceRunner() { Stop(); }

void ServiceRunner::AddStopHook(std::function<void()> hook) {
  stop_hooks_.push_back(std::move(hook));
}

int ServiceRunner::WaitForTermination() {
  sigset_t set = TerminationSignals();
  int sig = 0;
  sigwait(&set, &sig);
  log::Info("termination signal received", {{"signal", std::to_string(sig)}});
  Stop();
  return 0;
}

void ServiceRunner::Stop() {
  if (stopped_ || server_ == nullptr) return;
  stopped_ = true;
  server_->GetHealthCheckService()->SetServingStatus(false);
  for (auto& hook : stop_hooks_) hook();
  server_->Shutdown(std::chrono::system_clock::now() +
                    absl::ToChronoMilliseconds(options_.grace));
  server_->Wait();
  log::Info("service stopped");
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetMaxReceiveMessageSize(16 * 1024 * 1024);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

}  // namespace rostersync
