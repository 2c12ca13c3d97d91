// PlanDueSlot: misfire catch-up and blackout slots, with times as a fake clock would give them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/time/civil_time.h"
#include "services/scheduler/schedule_ticker.h"

namespace rostersync::scheduler {
namespace {

using ::testing::HasSubstr;

absl::Time Utc(int y, int mo, int d, int h, int mi) {
  return absl::FromCivil(absl::CivilMinute(y, mo, d, h, mi), absl::UTCTimeZone());
}

absl::TimeZone Zone(const char* name) {
  absl::TimeZone zone;
  EXPECT_TRUE(absl::LoadTimeZone(name, &zone));
  return zone;
}

CronSchedule Cron(const char* spec) { return CronSchedule::Parse(spec).value(); }

TEST(PlanDueSlotTest, OnTimeSlotRuns) {
  v1::Integration in;
  const CronSchedule hourly = Cron("0 * * * *");
  SlotPlan plan = PlanDueSlot(in, hourly, absl::UTCTimeZone(), Utc(2026, 3, 1, 10, 0),
                              Utc(2026, 3, 1, 10, 0) + absl::Seconds(5), absl::Hours(1));
  ASSERT_TRUE(plan.run_slot.has_value());
  EXPECT_EQ(*plan.run_slot, Utc(2026, 3, 1, 10, 0));
  EXPECT_FALSE(plan.skip_slot.has_value());
  EXPECT_EQ(plan.missed, 0);
  EXPECT_EQ(plan.next_run_at, Utc(2026, 3, 1, 11, 0));
}

TEST(PlanDueSlotTest, DownAcrossFiveSlotsRunsTheMostRecentOnce) {
  v1::Integration in;
  const CronSchedule every_10 = Cron("*/10 * * * *");
  // Down from before 10:00 until 10:47: slots 10:00 .. 10:40 missed (5).
  SlotPlan plan = PlanDueSlot(in, every_10, absl::UTCTimeZone(), Utc(2026, 3, 1, 10, 0),
                              Utc(2026, 3, 1, 10, 47), absl::Hours(1));
  ASSERT_TRUE(plan.run_slot.has_value());
  EXPECT_EQ(*plan.run_slot, Utc(2026, 3, 1, 10, 40));
  EXPECT_EQ(plan.missed, 4);
  EXPECT_FALSE(plan.skip_slot.has_value());
  EXPECT_EQ(plan.next_run_at, Utc(2026, 3, 1, 10, 50));
}

TEST(PlanDueSlotTest, DownBeyondTheWindowRunsNothingAndMovesOn) {
  v1::Integration in;
  const CronSchedule daily = Cron("30 2 * * *");
  const absl::TimeZone berlin = Zone("Europe/Berlin");
  // Slot 2026-03-02 02:30 CET (01:30 UTC); back up at 05:00 UTC, 3.5 hours later.
  SlotPlan plan =
      PlanDueSlot(in, daily, berlin, Utc(2026, 3, 2, 1, 30), Utc(2026, 3, 2, 5, 0), absl::Hours(1));
  EXPECT_FALSE(plan.run_slot.has_value());
  ASSERT_TRUE(plan.skip_slot.has_value());
  EXPECT_EQ(*plan.skip_slot, Utc(2026, 3, 2, 1, 30));
  EXPECT_THAT(plan.skip_reason, HasSubstr("beyond the misfire window of 1h"));
  EXPECT_EQ(plan.next_run_at, Utc(2026, 3, 3, 1, 30));
  EXPECT_GT(plan.next_run_at, Utc(2026, 3, 2, 5, 0));

  // A per-integration window of 4 hours would have caught it up.
  in.set_misfire_window_s(4 * 3600);
  SlotPlan wide = PlanDueSlot(in, daily, berlin, Utc(2026, 3, 2, 1, 30), Utc(2026, 3, 2, 5, 0),
                              MisfireWindow(in));
  ASSERT_TRUE(wide.run_slot.has_value());
  EXPECT_EQ(*wide.run_slot, Utc(2026, 3, 2, 1, 30));
}

TEST(PlanDueSlotTest, DownForDaysCountsTheMissedSlots) {
  v1::Integration in;
  const CronSchedule daily = Cron("@daily");
  SlotPlan plan = PlanDueSlot(in, daily, absl::UTCTimeZone(), Utc(2026, 3, 1, 0, 0),
                              Utc(2026, 3, 6, 0, 20), absl::Hours(1));
  ASSERT_TRUE(plan.run_slot.has_value());
  EXPECT_EQ(*plan.run_slot, Utc(2026, 3, 6, 0, 0));
  EXPECT_EQ(plan.missed, 5);  // March 1..5
  // Down for a year with a minute schedule: bounded work, still one decision.
  const CronSchedule minutely = Cron("* * * * *");
  SlotPlan year = PlanDueSlot(in, minutely, absl::UTCTimeZone(), Utc(2025, 3, 1, 0, 0),
                              Utc(2026, 3, 1, 0, 0) + absl::Seconds(30), absl::Hours(1));
  ASSERT_TRUE(year.run_slot.has_value());
  EXPECT_EQ(*year.run_slot, Utc(2026, 3, 1, 0, 0));
  EXPECT_EQ(year.next_run_at, Utc(2026, 3, 1, 0, 1));
}

TEST(PlanDueSlotTest, DstInNewYorkCatchUpAcrossSpringForward) {
  v1::Integration in;
  in.set_time_zone("America/New_York");
  const absl::TimeZone ny = Zone("America/New_York");
  const CronSchedule daily = Cron("30 2 * * *");
  // 2026-03-08: 02:30 does not exist in New York; the slot is the transition, 07:00 UTC.
  const absl::Time slot = daily.NextFire(Utc(2026, 3, 7, 12, 0), ny);
  EXPECT_EQ(slot, Utc(2026, 3, 8, 7, 0));
  SlotPlan plan = PlanDueSlot(in, daily, ny, slot, slot + absl::Minutes(30), absl::Hours(1));
  ASSERT_TRUE(plan.run_slot.has_value());
  EXPECT_EQ(*plan.run_slot, slot);
  EXPECT_EQ(plan.next_run_at, Utc(2026, 3, 9, 6, 30));  // 02:30 EDT
}

TEST(PlanDueSlotTest, BlackoutSlotIsSkippedWithTheWindowAcrossFallBack) {
  v1::Integration in;
  in.set_time_zone("Europe/Berlin");
  v1::TimeWindow* w = in.add_blackout_windows();
  w->set_start("2026-10-24");
  w->set_end("2026-10-25");
  w->set_reason("rollover");
  const absl::TimeZone berlin = Zone("Europe/Berlin");
  const CronSchedule daily = Cron("30 2 * * *");
  // 2026-10-25 02:30 occurs twice in Berlin; the slot is the first (00:30 UTC), in blackout.
  const absl::Time slot = daily.NextFire(Utc(2026, 10, 24, 12, 0), berlin);
  EXPECT_EQ(slot, Utc(2026, 10, 25, 0, 30));
  SlotPlan plan = PlanDueSlot(in, daily, berlin, slot, slot + absl::Seconds(5), absl::Hours(1));
  EXPECT_FALSE(plan.run_slot.has_value());
  ASSERT_TRUE(plan.skip_slot.has_value());
  EXPECT_EQ(*plan.skip_slot, slot);
  EXPECT_THAT(plan.skip_reason, HasSubstr("blackout window 2026-10-24 .. 2026-10-25 (rollover)"));
  // The next slot (Oct 26 02:30 CET = 01:30 UTC) is after the window and runs.
  EXPECT_EQ(plan.next_run_at, Utc(2026, 10, 26, 1, 30));
  SlotPlan after = PlanDueSlot(in, daily, berlin, plan.next_run_at,
                               plan.next_run_at + absl::Seconds(5), absl::Hours(1));
  ASSERT_TRUE(after.run_slot.has_value());
}

TEST(PlanDueSlotTest, CatchUpThatWouldStartInsideABlackoutIsSkipped) {
  v1::Integration in;
  v1::TimeWindow* w = in.add_blackout_windows();
  w->set_start("2026-03-01T02:00");
  w->set_end("2026-03-01T04:00");
  w->set_reason("maintenance");
  const CronSchedule at_0155 = Cron("55 1 * * *");
  // The 01:55 slot is before the blackout, but the scheduler is back at 02:30, inside it and
  // within the misfire window: the catch-up run would start during the blackout.
  SlotPlan plan = PlanDueSlot(in, at_0155, absl::UTCTimeZone(), Utc(2026, 3, 1, 1, 55),
                              Utc(2026, 3, 1, 2, 30), absl::Hours(1));
  EXPECT_FALSE(plan.run_slot.has_value());
  ASSERT_TRUE(plan.skip_slot.has_value());
  EXPECT_EQ(*plan.skip_slot, Utc(2026, 3, 1, 1, 55));
  EXPECT_THAT(plan.skip_reason, HasSubstr("maintenance"));
  // Back at 01:58 instead (before the blackout), the slot runs.
  SlotPlan early = PlanDueSlot(in, at_0155, absl::UTCTimeZone(), Utc(2026, 3, 1, 1, 55),
                               Utc(2026, 3, 1, 1, 58), absl::Hours(1));
  EXPECT_TRUE(early.run_slot.has_value());
}

TEST(MisfireWindowTest, DefaultOverrideAndClamp) {
  v1::Integration in;
  EXPECT_EQ(MisfireWindow(in), kDefaultMisfireWindow);
  SetDefaultMisfireWindow(absl::Minutes(30));
  EXPECT_EQ(MisfireWindow(in), absl::Minutes(30));
  SetDefaultMisfireWindow(absl::Seconds(1));
  EXPECT_EQ(DefaultMisfireWindow(), kMinMisfireWindow);
  SetDefaultMisfireWindow(kDefaultMisfireWindow);
  in.set_misfire_window_s(600);
  EXPECT_EQ(MisfireWindow(in), absl::Minutes(10));
}

}  // namespace
}  // namespace rostersync::scheduler
