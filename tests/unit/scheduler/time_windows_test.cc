#include "services/scheduler/time_windows.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/time/civil_time.h"

namespace rostersync::scheduler {
namespace {

using ::testing::HasSubstr;

absl::Time Local(const char* zone_name, int y, int mo, int d, int h, int mi) {
  absl::TimeZone zone;
  EXPECT_TRUE(absl::LoadTimeZone(zone_name, &zone));
  return absl::FromCivil(absl::CivilMinute(y, mo, d, h, mi), zone);
}

absl::Time Utc(int y, int mo, int d, int h, int mi) {
  return absl::FromCivil(absl::CivilMinute(y, mo, d, h, mi), absl::UTCTimeZone());
}

v1::TimeWindow Window(const std::string& start, const std::string& end,
                      const std::string& reason = "") {
  v1::TimeWindow w;
  w.set_start(start);
  w.set_end(end);
  w.set_reason(reason);
  return w;
}

TEST(ParseTimeWindowTest, DatesAndDateTimes) {
  auto days = ParseTimeWindow(Window("2026-07-01", "2026-08-15"));
  ASSERT_TRUE(days.ok()) << days.status();
  EXPECT_EQ(days->start, absl::CivilMinute(2026, 7, 1, 0, 0));
  EXPECT_EQ(days->end, absl::CivilMinute(2026, 8, 16, 0, 0));  // the end date is included
  auto minutes = ParseTimeWindow(Window("2026-07-01T22:00", "2026-07-02T06:30"));
  ASSERT_TRUE(minutes.ok()) << minutes.status();
  EXPECT_EQ(minutes->end, absl::CivilMinute(2026, 7, 2, 6, 30));
  EXPECT_TRUE(ParseTimeWindow(Window("2026-07-01", "2026-07-01")).ok());  // one whole day
}

TEST(ParseTimeWindowTest, ErrorsNameStartOrEndAndTheValue) {
  auto missing = ParseTimeWindow(Window("", "2026-07-01"));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("start: is required"));
  auto bad_end = ParseTimeWindow(Window("2026-07-01", "July 4th"));
  EXPECT_THAT(std::string(bad_end.status().message()), HasSubstr("end: \"July 4th\""));
  auto no_day = ParseTimeWindow(Window("2026-02-30", "2026-03-01"));
  EXPECT_THAT(std::string(no_day.status().message()), HasSubstr("start: \"2026-02-30\""));
  auto hour_25 = ParseTimeWindow(Window("2026-02-01T25:00", "2026-03-01"));
  EXPECT_FALSE(hour_25.ok());
  auto seconds = ParseTimeWindow(Window("2026-02-01T01:00:00", "2026-03-01"));
  EXPECT_FALSE(seconds.ok());
  auto reversed = ParseTimeWindow(Window("2026-07-02", "2026-07-01"));
  EXPECT_THAT(std::string(reversed.status().message()),
              HasSubstr("end: \"2026-07-01\" is not after"));
  auto empty = ParseTimeWindow(Window("2026-07-01T10:00", "2026-07-01T10:00"));
  EXPECT_FALSE(empty.ok());
}

TEST(WindowsAtTest, BlackoutAndAddOnlyAreEvaluatedInTheIntegrationsZone) {
  v1::Integration in;
  in.set_time_zone("America/New_York");
  *in.add_blackout_windows() = Window("2026-07-01", "2026-07-03", "rollover");
  *in.add_add_only_windows() = Window("2026-07-04", "2026-08-31");
  // 2026-07-01 00:30 in New York is 04:30 UTC: inside, though the UTC date differs.
  EXPECT_TRUE(WindowsAt(in, Local("America/New_York", 2026, 7, 1, 0, 30)).blackout);
  EXPECT_FALSE(WindowsAt(in, Local("America/New_York", 2026, 6, 30, 23, 59)).blackout);
  // 2026-07-01 02:00 UTC is still June 30 in New York.
  EXPECT_FALSE(WindowsAt(in, Utc(2026, 7, 1, 2, 0)).blackout);
  WindowStatus last_minute = WindowsAt(in, Local("America/New_York", 2026, 7, 3, 23, 59));
  EXPECT_TRUE(last_minute.blackout);
  EXPECT_EQ(last_minute.blackout_window, "2026-07-01 .. 2026-07-03 (rollover)");
  EXPECT_FALSE(last_minute.add_only);
  WindowStatus next_day = WindowsAt(in, Local("America/New_York", 2026, 7, 4, 0, 0));
  EXPECT_FALSE(next_day.blackout);
  EXPECT_TRUE(next_day.add_only);
  EXPECT_FALSE(WindowsAt(in, Local("America/New_York", 2026, 9, 1, 0, 0)).add_only);
}

TEST(WindowsAtTest, SpringForwardAndFallBackInBerlin) {
  v1::Integration in;
  in.set_time_zone("Europe/Berlin");
  // Spring forward 2026-03-29: 02:00 -> 03:00 local. A window 02:15-02:45 never occurs...
  *in.add_blackout_windows() = Window("2026-03-29T02:15", "2026-03-29T02:45");
  // ...and one 01:30-03:30 spans one real hour (00:30-01:30 UTC).
  *in.add_add_only_windows() = Window("2026-03-29T01:30", "2026-03-29T03:30");
  for (absl::Time t = Utc(2026, 3, 28, 23, 0); t < Utc(2026, 3, 29, 4, 0); t += absl::Minutes(5)) {
    EXPECT_FALSE(WindowsAt(in, t).blackout) << t;
    const bool inside = t >= Utc(2026, 3, 29, 0, 30) && t < Utc(2026, 3, 29, 1, 30);
    EXPECT_EQ(WindowsAt(in, t).add_only, inside) << t;
  }

  // Fall back 2026-10-25: 03:00 CEST -> 02:00 CET; 02:00-03:00 local happens twice. A window
  // 02:00-03:00 covers both (00:00-02:00 UTC).
  v1::Integration fall;
  fall.set_time_zone("Europe/Berlin");
  *fall.add_blackout_windows() = Window("2026-10-25T02:00", "2026-10-25T03:00");
  EXPECT_FALSE(WindowsAt(fall, Utc(2026, 10, 24, 23, 59)).blackout);
  EXPECT_TRUE(WindowsAt(fall, Utc(2026, 10, 25, 0, 0)).blackout);   // 02:00 CEST
  EXPECT_TRUE(WindowsAt(fall, Utc(2026, 10, 25, 0, 59)).blackout);  // 02:59 CEST
  EXPECT_TRUE(WindowsAt(fall, Utc(2026, 10, 25, 1, 0)).blackout);   // 02:00 CET
  EXPECT_TRUE(WindowsAt(fall, Utc(2026, 10, 25, 1, 59)).blackout);  // 02:59 CET
  EXPECT_FALSE(WindowsAt(fall, Utc(2026, 10, 25, 2, 0)).blackout);  // 03:00 CET
}

TEST(CheckNotInBlackoutTest, RefusesNamingTheWindow) {
  v1::Integration in;
  in.set_integration_id("int_1");
  in.set_time_zone("UTC");
  *in.add_blackout_windows() = Window("2026-07-01", "2026-07-31", "rollover");
  EXPECT_TRUE(CheckNotInBlackout(in, Utc(2026, 6, 30, 12, 0)).ok());
  absl::Status refused = CheckNotInBlackout(in, Utc(2026, 7, 10, 12, 0));
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("2026-07-01 .. 2026-07-31 (rollover)"));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("int_1"));
}

TEST(ApplyAddOnlyWindowTest, ForcesKeepOnlyInsideTheWindow) {
  v1::Integration in;
  in.set_time_zone("America/Los_Angeles");
  *in.add_add_only_windows() = Window("2026-08-01", "2026-08-31", "new school year");
  v1::RosterJob job;
  job.mutable_policy()->set_sync_policy(v1::SYNC_POLICY_DELETE);
  job.set_sync_policy(v1::SYNC_POLICY_DELETE);

  v1::RosterJob outside = job;
  EXPECT_EQ(ApplyAddOnlyWindow(in, Local("America/Los_Angeles", 2026, 7, 31, 23, 0), outside), "");
  EXPECT_EQ(outside.policy().sync_policy(), v1::SYNC_POLICY_DELETE);

  v1::RosterJob inside = job;
  std::string note = ApplyAddOnlyWindow(in, Local("America/Los_Angeles", 2026, 8, 1, 0, 0), inside);
  EXPECT_THAT(note, HasSubstr("add-only window 2026-08-01 .. 2026-08-31 (new school year)"));
  EXPECT_EQ(inside.policy().sync_policy(), v1::SYNC_POLICY_KEEP);
  EXPECT_EQ(inside.sync_policy(), v1::SYNC_POLICY_KEEP);
}

}  // namespace
}  // namespace rostersync::scheduler
