#pragma once

// Five-field cron schedules ("minute hour day-of-month month day-of-week"), evaluated in the
// civil time of an IANA time zone.
//
// Syntax (Vixie cron): each field is a comma-separated list of "*", "N", "A-B", each
// optionally followed by "/STEP"; "N/STEP" means "N-max/STEP". Months accept jan..dec and
// days of week sun..sat (0 and 7 are both Sunday). Aliases: @yearly, @annually, @monthly,
// @weekly, @daily, @midnight, @hourly.
//
// When both day-of-month and day-of-week are restricted (neither starts with "*"), a day
// matches when EITHER matches (Vixie semantics); otherwise both must match.
//
// Time-zone transitions: a local time that does not exist (spring forward) fires at the
// transition instant; a local time that occurs twice (fall back) fires once, at its first
// occurrence.
#include <bitset>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace rostersync::scheduler {

class CronSchedule {
 public:
  // INVALID_ARGUMENT naming the field and the offending value on a malformed spec.
  static absl::StatusOr<CronSchedule> Parse(std::string_view spec);

  // The first fire time strictly after `after`. Always finite: Parse rejects schedules
  // that can never fire.
  absl::Time NextFire(absl::Time after, absl::TimeZone zone) const;

  const std::string& spec() const { return spec_; }

 private:
  CronSchedule() = default;
  bool DayMatches(int year, int month, int day) const;

  std::string spec_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_of_month_;  // 1..31
  std::bitset<13> months_;         // 1..12
  std::bitset<7> days_of_week_;    // 0..6, Sunday = 0
  bool dom_star_ = false;
  bool dow_star_ = false;
};

}  // namespace rostersync::scheduler
