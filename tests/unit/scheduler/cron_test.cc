#include "services/scheduler/cron.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace rostersync::scheduler {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

absl::TimeZone Zone(const std::string& name) {
  absl::TimeZone zone;
  EXPECT_TRUE(absl::LoadTimeZone(name, &zone)) << name;
  return zone;
}

absl::Time Utc(int y, int mo, int d, int h, int mi) {
  return absl::FromCivil(absl::CivilMinute(y, mo, d, h, mi), absl::UTCTimeZone());
}

CronSchedule MustParse(const std::string& spec) {
  auto parsed = CronSchedule::Parse(spec);
  EXPECT_TRUE(parsed.ok()) << spec << ": " << parsed.status();
  return *parsed;
}

// Every fire time in (from, to].
std::vector<absl::Time> Fires(const CronSchedule& cron, absl::TimeZone zone, absl::Time from,
                              absl::Time to) {
  std::vector<absl::Time> out;
  for (absl::Time t = cron.NextFire(from, zone); t <= to; t = cron.NextFire(t, zone)) {
    out.push_back(t);
    if (out.size() > 10000) break;
  }
  return out;
}

struct BadSpec {
  std::string spec;
  std::string field;
  std::string value;
};

TEST(CronParseTest, ErrorsNameTheFieldAndValue) {
  const std::vector<BadSpec> cases = {
      {"61 * * * *", "minute", "61"},       {"* 24 * * *", "hour", "24"},
      {"* * 0 * *", "day-of-month", "0"},   {"* * 32 * *", "day-of-month", "32"},
      {"* * * 13 *", "month", "13"},        {"* * * foo *", "month", "foo"},
      {"* * * * 8", "day-of-week", "8"},    {"* * * * funday", "day-of-week", "funday"},
      {"5-1 * * * *", "minute", "5-1"},     {"*/0 * * * *", "minute", "*/0"},
      {"1,,2 * * * *", "minute", "1,,2"},   {"x * * * *", "minute", "x"},
      {"0 0 30 2 *", "day-of-month", "30"},
  };
  for (const BadSpec& c : cases) {
    auto parsed = CronSchedule::Parse(c.spec);
    ASSERT_FALSE(parsed.ok()) << c.spec;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << c.spec;
    EXPECT_THAT(std::string(parsed.status().message()),
                AllOf(HasSubstr(c.field + " field"), HasSubstr("\"" + c.value)))
        << c.spec;
  }
}

TEST(CronParseTest, WrongFieldCountAndUnknownAlias) {
  auto three = CronSchedule::Parse("* * *");
  ASSERT_FALSE(three.ok());
  EXPECT_THAT(std::string(three.status().message()), HasSubstr("has 3 fields; want 5"));
  auto reboot = CronSchedule::Parse("@reboot");
  ASSERT_FALSE(reboot.ok());
  EXPECT_THAT(std::string(reboot.status().message()), HasSubstr("@reboot"));
  EXPECT_FALSE(CronSchedule::Parse("").ok());
}

TEST(CronNextFireTest, UtcBasics) {
  absl::TimeZone utc = absl::UTCTimeZone();
  CronSchedule quarter = MustParse("*/15 * * * *");
  EXPECT_EQ(quarter.NextFire(Utc(2026, 3, 2, 10, 7), utc), Utc(2026, 3, 2, 10, 15));
  // Strictly after: a fire time is not returned again.
  EXPECT_EQ(quarter.NextFire(Utc(2026, 3, 2, 10, 15), utc), Utc(2026, 3, 2, 10, 30));
  EXPECT_EQ(quarter.NextFire(Utc(2026, 3, 2, 10, 15) + absl::Seconds(1), utc),
            Utc(2026, 3, 2, 10, 30));
  // Year wrap.
  EXPECT_EQ(quarter.NextFire(Utc(2026, 12, 31, 23, 50), utc), Utc(2027, 1, 1, 0, 0));

  // Weekdays at 09:00: from Saturday to Monday.
  CronSchedule weekdays = MustParse("0 9 * * mon-fri");
  EXPECT_EQ(weekdays.NextFire(Utc(2026, 3, 7, 12, 0), utc), Utc(2026, 3, 9, 9, 0));
  // Ranges with steps, lists and month names.
  CronSchedule mixed = MustParse("5,35 8-18/5 * JAN,jul *");
  EXPECT_EQ(mixed.NextFire(Utc(2026, 3, 1, 0, 0), utc), Utc(2026, 7, 1, 8, 5));
  EXPECT_EQ(mixed.NextFire(Utc(2026, 7, 1, 8, 35), utc), Utc(2026, 7, 1, 13, 5));
  EXPECT_EQ(mixed.NextFire(Utc(2026, 7, 31, 18, 35), utc), Utc(2027, 1, 1, 8, 5));
  // 7 is Sunday as well as 0.
  EXPECT_EQ(MustParse("0 0 * * 7").NextFire(Utc(2026, 3, 2, 0, 0), utc), Utc(2026, 3, 8, 0, 0));
  // Leap day.
  EXPECT_EQ(MustParse("0 0 29 2 *").NextFire(Utc(2026, 3, 1, 0, 0), utc), Utc(2028, 2, 29, 0, 0));
}

TEST(CronNextFireTest, DailyAlias) {
  CronSchedule daily = MustParse("@daily");
  EXPECT_EQ(daily.spec(), "@daily");
  EXPECT_EQ(daily.NextFire(Utc(2026, 6, 10, 12, 0), absl::UTCTimeZone()), Utc(2026, 6, 11, 0, 0));
  // Midnight in New York (EDT, UTC-4) is 04:00 UTC.
  EXPECT_EQ(daily.NextFire(Utc(2026, 6, 10, 12, 0), Zone("America/New_York")),
            Utc(2026, 6, 11, 4, 0));
  CronSchedule hourly = MustParse("@hourly");
  EXPECT_EQ(hourly.NextFire(Utc(2026, 6, 10, 12, 1), absl::UTCTimeZone()), Utc(2026, 6, 10, 13, 0));
}

TEST(CronNextFireTest, DayOfMonthOrDayOfWeekWhenBothRestricted) {
  absl::TimeZone utc = absl::UTCTimeZone();
  // The 10th OR any Friday. 2026-03-06 and 2026-03-13 are Fridays, 2026-03-10 a Tuesday.
  CronSchedule either = MustParse("0 0 10 * fri");
  EXPECT_EQ(either.NextFire(Utc(2026, 3, 1, 0, 0), utc), Utc(2026, 3, 6, 0, 0));
  EXPECT_EQ(either.NextFire(Utc(2026, 3, 6, 0, 0), utc), Utc(2026, 3, 10, 0, 0));
  EXPECT_EQ(either.NextFire(Utc(2026, 3, 10, 0, 0), utc), Utc(2026, 3, 13, 0, 0));
  // Only one restricted: the other ("*") does not widen it.
  EXPECT_EQ(MustParse("0 0 10 * *").NextFire(Utc(2026, 3, 1, 0, 0), utc), Utc(2026, 3, 10, 0, 0));
  EXPECT_EQ(MustParse("0 0 * * 5").NextFire(Utc(2026, 3, 6, 0, 0), utc), Utc(2026, 3, 13, 0, 0));
  // "*/2" in day-of-month counts as unrestricted (Vixie): AND with Fridays.
  EXPECT_EQ(MustParse("0 0 */2 * 5").NextFire(Utc(2026, 3, 1, 0, 0), utc), Utc(2026, 3, 13, 0, 0));
}

TEST(CronNextFireTest, NewYorkSpringForwardFiresOnceAtTheTransition) {
  absl::TimeZone ny = Zone("America/New_York");
  CronSchedule cron = MustParse("30 2 * * *");
  // 2026-03-08 02:00 EST jumps to 03:00 EDT (07:00 UTC): 02:30 does not exist that day.
  std::vector<absl::Time> fires = Fires(cron, ny, Utc(2026, 3, 7, 0, 0), Utc(2026, 3, 10, 0, 0));
  ASSERT_EQ(fires.size(), 3u);
  EXPECT_EQ(fires[0], Utc(2026, 3, 7, 7, 30));  // 02:30 EST
  EXPECT_EQ(fires[1], Utc(2026, 3, 8, 7, 0));   // the transition, 03:00 EDT
  EXPECT_EQ(fires[2], Utc(2026, 3, 9, 6, 30));  // 02:30 EDT

  // Every minute of the missing hour collapses into one fire at the transition.
  std::vector<absl::Time> every =
      Fires(MustParse("* 2 * * *"), ny, Utc(2026, 3, 8, 6, 0), Utc(2026, 3, 8, 8, 0));
  ASSERT_EQ(every.size(), 1u);
  EXPECT_EQ(every[0], Utc(2026, 3, 8, 7, 0));
}

TEST(CronNextFireTest, NewYorkFallBackFiresOnce) {
  absl::TimeZone ny = Zone("America/New_York");
  // 2026-11-01 02:00 EDT falls back to 01:00 EST: 01:30 happens twice.
  std::vector<absl::Time> fires =
      Fires(MustParse("30 1 * * *"), ny, Utc(2026, 11, 1, 0, 0), Utc(2026, 11, 2, 12, 0));
  ASSERT_EQ(fires.size(), 2u);
  EXPECT_EQ(fires[0], Utc(2026, 11, 1, 5, 30));  // first 01:30 (EDT)
  EXPECT_EQ(fires[1], Utc(2026, 11, 2, 6, 30));  // next day, 01:30 EST
  // Asked from inside the repeated hour (second 01:15, EST), it does not fire at the second
  // 01:30 either.
  EXPECT_EQ(MustParse("30 1 * * *").NextFire(Utc(2026, 11, 1, 6, 15), ny), Utc(2026, 11, 2, 6, 30));
  // Hourly: 00:00, 01:00 (EDT), then 02:00 EST; no second 01:00.
  std::vector<absl::Time> hourly =
      Fires(MustParse("0 * * * *"), ny, Utc(2026, 11, 1, 3, 30), Utc(2026, 11, 1, 7, 30));
  ASSERT_EQ(hourly.size(), 3u);
  EXPECT_EQ(hourly[0], Utc(2026, 11, 1, 4, 0));
  EXPECT_EQ(hourly[1], Utc(2026, 11, 1, 5, 0));
  EXPECT_EQ(hourly[2], Utc(2026, 11, 1, 7, 0));
}

TEST(CronNextFireTest, BerlinSpringForwardAndFallBack) {
  absl::TimeZone berlin = Zone("Europe/Berlin");
  CronSchedule cron = MustParse("30 2 * * *");
  // 2026-03-29 02:00 CET jumps to 03:00 CEST (01:00 UTC).
  std::vector<absl::Time> spring =
      Fires(cron, berlin, Utc(2026, 3, 28, 12, 0), Utc(2026, 3, 30, 12, 0));
  ASSERT_EQ(spring.size(), 2u);
  EXPECT_EQ(spring[0], Utc(2026, 3, 29, 1, 0));
  EXPECT_EQ(spring[1], Utc(2026, 3, 30, 0, 30));  // 02:30 CEST
  // 2026-10-25 03:00 CEST falls back to 02:00 CET: 02:30 happens twice, fires once.
  std::vector<absl::Time> fall =
      Fires(cron, berlin, Utc(2026, 10, 24, 12, 0), Utc(2026, 10, 26, 12, 0));
  ASSERT_EQ(fall.size(), 2u);
  EXPECT_EQ(fall[0], Utc(2026, 10, 25, 0, 30));  // first 02:30 (CEST)
  EXPECT_EQ(fall[1], Utc(2026, 10, 26, 1, 30));  // 02:30 CET
}

}  // namespace
}  // namespace rostersync::scheduler
