// The fixtures learn where a server listens from its own log (tests/fixtures/subprocess.h):
// WaitForServiceStarted reads the ports from a service's "service started" JSON line, and
// WaitForLogLine waits for a server's own words. Children here are /bin/sh scripts that write
// such logs, slowly or not at all.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tests/fixtures/subprocess.h"

namespace rostersync::testing {
namespace {

using ::testing::HasSubstr;

class ServiceLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("rs-service-log");
    log_ = dir_ + "/service.log";
  }
  void TearDown() override { RemoveTree(dir_); }

  std::unique_ptr<Subprocess> Sh(const std::string& script) {
    Subprocess::Options options;
    options.argv = {"/bin/sh", "-c", script};
    options.log_path = log_;
    auto proc = Subprocess::Spawn(options);
    EXPECT_TRUE(proc.ok()) << proc.status();
    return proc.ok() ? std::move(*proc) : nullptr;
  }

  std::string dir_;
  std::string log_;
};

// A line of another message that mentions "service started", a line from an earlier process
// (before `from`), and the right line written in two halves: only the whole right line counts.
TEST_F(ServiceLogTest, PortsComeFromThisProcesssWholeServiceStartedLine) {
  WriteFileOrDie(log_,
                 R"({"msg":"service started","grpc_port":"1111","metrics_port":"1112"})"
                 "\n");
  const size_t from = FileSize(log_);
  auto proc = Sh(
      R"(printf '%s\n' '{"msg":"roster service started","grpc_port":"7","metrics_port":"8"}';)"
      R"(printf '%s' '{"msg":"service started","grpc_port":"4242",'; sleep 0.3;)"
      R"(printf '%s\n' '"metrics_port":"4343"}'; exec sleep 30)");
  ASSERT_NE(proc, nullptr);
  auto ports = WaitForServiceStarted(*proc, log_, from, absl::Seconds(20));
  ASSERT_TRUE(ports.ok()) << ports.status();
  EXPECT_EQ(ports->grpc, 4242);
  EXPECT_EQ(ports->metrics, 4343);
}

TEST_F(ServiceLogTest, APortThatIsNotAStringIsNotTaken) {
  auto proc = Sh(R"(printf '%s\n' '{"msg":"service started","grpc_port":4242,"metrics_port":"1"}';)"
                 R"(exec sleep 30)");
  ASSERT_NE(proc, nullptr);
  auto ports = WaitForServiceStarted(*proc, log_, 0, absl::Milliseconds(300));
  ASSERT_FALSE(ports.ok());
  EXPECT_EQ(ports.status().code(), absl::StatusCode::kDeadlineExceeded);
}

// A server that cannot bind exits: the wait ends at once with its exit code and its log.
TEST_F(ServiceLogTest, AProcessThatExitsFailsTheWaitWithItsCodeAndLog) {
  auto proc = Sh("echo 'grpc_address 127.0.0.1:5: cannot listen'; exit 3");
  ASSERT_NE(proc, nullptr);
  const pid_t pid = proc->pid();
  auto ports = WaitForServiceStarted(*proc, log_, 0, absl::Seconds(60));
  ASSERT_FALSE(ports.ok());
  EXPECT_EQ(ports.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(ports.status().message()),
              HasSubstr(absl::StrCat("pid ", pid, " exited with code 3")));
  EXPECT_THAT(std::string(ports.status().message()), HasSubstr("cannot listen"));
}

TEST_F(ServiceLogTest, ALogLineIsWaitedForUntilTheTimeout) {
  WriteFileOrDie(log_, "Ready to accept connections (an earlier run)\n");
  const size_t from = FileSize(log_);
  auto proc = Sh("sleep 1; echo 'Ready to accept connections tcp'; exec sleep 30");
  ASSERT_NE(proc, nullptr);
  // The earlier run's line is before `from`: it does not count.
  EXPECT_EQ(WaitForLogLine(*proc, log_, from, "Ready to accept connections",
                           absl::Milliseconds(100))
                .code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(
      WaitForLogLine(*proc, log_, from, "Ready to accept connections", absl::Seconds(20)).ok());
  absl::Status never = WaitForLogLine(*proc, log_, from, "database system is ready",
                                      absl::Milliseconds(200));
  EXPECT_EQ(never.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(never.message()), HasSubstr("Ready to accept connections tcp"));
}

TEST_F(ServiceLogTest, AClosedPortRefusesConnections) {
  ClosedPort closed;
  ASSERT_GT(closed.port(), 0);
  EXPECT_FALSE(WaitForPort(closed.port(), absl::Milliseconds(100)).ok());
}

}  // namespace
}  // namespace rostersync::testing
