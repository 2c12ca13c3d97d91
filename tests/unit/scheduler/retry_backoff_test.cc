// RetryBackoff: exponential from retry_initial, capped at retry_max, upper half random.
#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "services/scheduler/run_orchestrator.h"

namespace rostersync::scheduler {
namespace {

TEST(RetryBackoffTest, DoublesPerAttemptUpToTheMaximum) {
  const absl::Duration initial = absl::Seconds(30);
  const absl::Duration max = absl::Minutes(10);
  // unit_random 1 (the top of the range) shows the un-jittered backoff.
  EXPECT_EQ(RetryBackoff(1, initial, max, 1.0), absl::Seconds(30));
  EXPECT_EQ(RetryBackoff(2, initial, max, 1.0), absl::Seconds(60));
  EXPECT_EQ(RetryBackoff(3, initial, max, 1.0), absl::Seconds(120));
  EXPECT_EQ(RetryBackoff(5, initial, max, 1.0), absl::Seconds(480));
  EXPECT_EQ(RetryBackoff(6, initial, max, 1.0), absl::Minutes(10));   // 960 s capped
  EXPECT_EQ(RetryBackoff(60, initial, max, 1.0), absl::Minutes(10));  // no overflow
}

TEST(RetryBackoffTest, JitterStaysInTheUpperHalf) {
  const absl::Duration initial = absl::Seconds(10);
  const absl::Duration max = absl::Seconds(15);
  EXPECT_EQ(RetryBackoff(1, initial, max, 0.0), absl::Seconds(5));
  EXPECT_EQ(RetryBackoff(1, initial, max, 0.5), absl::Milliseconds(7500));
  EXPECT_EQ(RetryBackoff(2, initial, max, 0.0), absl::Milliseconds(7500));  // 20 s capped at 15
  // Out-of-range randomness is clamped, never a negative or longer wait.
  EXPECT_EQ(RetryBackoff(1, initial, max, -3.0), absl::Seconds(5));
  EXPECT_EQ(RetryBackoff(1, initial, max, 7.0), absl::Seconds(10));
}

TEST(StepNameTest, NamesTheWorkingStates) {
  EXPECT_EQ(StepName(v1::RUN_STATE_FETCHING), "fetch");
  EXPECT_EQ(StepName(v1::RUN_STATE_IMPORTING), "import");
  EXPECT_EQ(StepName(v1::RUN_STATE_RENDERING), "render");
  EXPECT_EQ(StepName(v1::RUN_STATE_UPLOADING), "upload");
  EXPECT_EQ(StepName(v1::RUN_STATE_HELD), "");
  EXPECT_EQ(StepName(v1::RUN_STATE_CANCELLED), "");
}

}  // namespace
}  // namespace rostersync::scheduler
