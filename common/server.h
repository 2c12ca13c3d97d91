#pragma once

// Runs a service: gRPC server (callback API services, health, reflection, keepalive) and a
// Prometheus /metrics endpoint on its own port. The gRPC port is not shared (no SO_REUSEPORT):
// a second process on the same address fails to start instead of taking half the calls.
// Graceful stop on SIGTERM/SIGINT: health NOT_SERVING, stop hooks (stop taking jobs),
// Shutdown(now + grace), return 0.
//
// main() must call InitService() first, before any thread is created, so that the
// termination signals are blocked in every thread and delivered to Wait().
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace rostersync {

// Blocks SIGTERM/SIGINT/SIGPIPE for the process and sets up logging for `service_name`.
void InitService(const std::string& service_name);

struct ServerOptions {
  std::string service_name;
  std::string grpc_address;     // "127.0.0.1:0" picks a free port
  std::string metrics_address;  // "127.0.0.1:9464" ("127.0.0.1:0" picks a free port); empty
                                // disables /metrics
  absl::Duration grace = absl::Seconds(10);
};

class ServiceRunner {
 public:
  static absl::StatusOr<std::unique_ptr<ServiceRunner>> Start(
      const ServerOptions& options, const std::vector<grpc::Service*>& services);
  ~ServiceRunner();

  // The ports actually bound (0: no /metrics). The "service started" log line reports both,
  // so a service started on port 0 tells where it listens.
  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }
  // Called, in order, after health turns NOT_SERVING and before the server shuts down.
  void AddStopHook(std::function<void()> hook);
  // Waits for SIGTERM or SIGINT, then stops gracefully. Returns the process exit code.
  int WaitForTermination();
  // Stops gracefully without a signal (tests).
  void Stop();

 private:
  ServiceRunner() = default;
  ServerOptions options_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<class MetricsExposer> exposer_;
  std::vector<std::function<void()>> stop_hooks_;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
  bool stopped_ = false;
};

// A channel to another service with keepalive set.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address);

}  // namespace rostersync
