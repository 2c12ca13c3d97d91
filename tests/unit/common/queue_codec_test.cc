#include "common/queue_codec.h"

#include <gtest/gtest.h>

namespace rostersync {
namespace {

TEST(QueueCodecTest, TransferJobRoundTrip) {
  v1::TransferJob job;
  job.set_job_id("run_1:fetch");
  job.set_run_id("run_1");
  job.set_tenant_id("acme");
  job.set_op(v1::TransferJob::OP_FETCH);
  job.set_file_glob("roster_*.csv");
  job.mutable_credentials()->set_ciphertext(std::string("\x00\x01sealed", 8));
  auto decoded = DecodeQueueMessage<v1::TransferJob>(EncodeQueueMessage(job));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->job_id(), "run_1:fetch");
  EXPECT_EQ(decoded->op(), v1::TransferJob::OP_FETCH);
  EXPECT_EQ(decoded->credentials().ciphertext(), job.credentials().ciphertext());
}

TEST(QueueCodecTest, RunEventRoundTrip) {
  v1::RunEvent event;
  event.set_job_id("run_1:import");
  event.set_run_id("run_1");
  event.set_tenant_id("acme");
  event.set_type(v1::RunEvent::TYPE_IMPORTED);
  event.mutable_import()->set_added(3);
  auto decoded = DecodeQueueMessage<v1::RunEvent>(EncodeQueueMessage(event));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->import().added(), 3);
}

TEST(QueueCodecTest, RejectsEmptyPayload) {
  auto decoded = DecodeQueueMessage<v1::RosterJob>("");
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(QueueCodecTest, RejectsGarbage) {
  auto decoded = DecodeQueueMessage<v1::RosterJob>("\xff\xff\xff\xff garbage");
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(decoded.status().message().find("rostersync.v1.RosterJob"), std::string::npos);
}

TEST(QueueCodecTest, RejectsJobWithoutIds) {
  v1::RosterJob job;
  job.set_op(v1::RosterJob::OP_EXPORT);
  job.set_tenant_id("acme");
  auto decoded = DecodeQueueMessage<v1::RosterJob>(EncodeQueueMessage(job));
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace rostersync
