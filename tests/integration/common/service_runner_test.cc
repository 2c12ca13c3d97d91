// ServiceRunner on real loopback sockets: port 0 binds free ports and reports them
// (grpc_port()/metrics_port(); the fixtures read them from the "service started" log line,
// tested in tests/unit/common/service_log_test.cc), and a port another server already holds is
// an error, not a shared listener.
#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/server.h"
#include "tests/fixtures/http_get.h"

namespace rostersync {
namespace {

using ::testing::HasSubstr;

ServerOptions Options(const std::string& grpc_address, const std::string& metrics_address) {
  ServerOptions options;
  options.service_name = "runner-test";
  options.grpc_address = grpc_address;
  options.metrics_address = metrics_address;
  options.grace = absl::Milliseconds(100);
  return options;
}

// A gRPC connection (HTTP/2 handshake included) to 127.0.0.1:port succeeds.
bool AcceptsGrpc(int port) {
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                     grpc::InsecureChannelCredentials());
  return channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10));
}

TEST(ServiceRunnerTest, PortZeroBindsFreePortsAndReportsThem) {
  auto runner = ServiceRunner::Start(Options("127.0.0.1:0", "127.0.0.1:0"), {});
  ASSERT_TRUE(runner.ok()) << runner.status();
  const int grpc_port = (*runner)->grpc_port();
  const int metrics_port = (*runner)->metrics_port();
  ASSERT_GT(grpc_port, 0);
  ASSERT_GT(metrics_port, 0);
  EXPECT_TRUE(AcceptsGrpc(grpc_port));
  auto metrics = testing::HttpGet(metrics_port, "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  (*runner)->Stop();
}

TEST(ServiceRunnerTest, NoMetricsAddressMeansNoMetricsPort) {
  auto runner = ServiceRunner::Start(Options("127.0.0.1:0", ""), {});
  ASSERT_TRUE(runner.ok()) << runner.status();
  EXPECT_GT((*runner)->grpc_port(), 0);
  EXPECT_EQ((*runner)->metrics_port(), 0);
}

// gRPC would set SO_REUSEPORT by default, and a second server on the same port would then
// start and take part of the first one's connections.
TEST(ServiceRunnerTest, AGrpcPortAnotherServerHoldsIsAnError) {
  auto first = ServiceRunner::Start(Options("127.0.0.1:0", ""), {});
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string taken = absl::StrCat("127.0.0.1:", (*first)->grpc_port());
  auto second = ServiceRunner::Start(Options(taken, ""), {});
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr(absl::StrCat("grpc_address ", taken, ": cannot listen")));
  EXPECT_TRUE(AcceptsGrpc((*first)->grpc_port()));
}

TEST(ServiceRunnerTest, AMetricsPortAnotherServerHoldsIsAnError) {
  auto first = ServiceRunner::Start(Options("127.0.0.1:0", "127.0.0.1:0"), {});
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string taken = absl::StrCat("127.0.0.1:", (*first)->metrics_port());
  auto second = ServiceRunner::Start(Options("127.0.0.1:0", taken), {});
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr(absl::StrCat("metrics_address ", taken, ": cannot listen")));
}

}  // namespace
}  // namespace rostersync
