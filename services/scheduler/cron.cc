#include "services/scheduler/cron.h"

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"

namespace rostersync::scheduler {
namespace {

struct FieldSpec {
  const char* name;
  int min;
  int max;
  const std::vector<std::string>* names;  // names[i] stands for min + i; may be null
};

const std::vector<std::string> kMonthNames = {"jan", "feb", "mar", "apr", "may", "jun",
                                              "jul", "aug", "sep", "oct", "nov", "dec"};
const std::vector<std::string> kDayNames = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

absl::Status FieldError(const FieldSpec& field, absl::string_view value, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("schedule: ", field.name, " field: \"", value, "\" ", why));
}

absl::StatusOr<int> ParseValue(const FieldSpec& field, absl::string_view text,
                               absl::string_view item) {
  if (text.empty()) return FieldError(field, item, "has an empty value");
  if (field.names != nullptr && absl::ascii_isalpha(static_cast<unsigned char>(text[0]))) {
    std::string lower = absl::AsciiStrToLower(text);
    for (size_t i = 0; i < field.names->size(); ++i) {
      if ((*field.names)[i] == lower) return field.min + static_cast<int>(i);
    }
    return FieldError(field, item, absl::StrCat("has an unknown name \"", text, "\""));
  }
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      return FieldError(field, item, absl::StrCat("is not a number or a range (\"", text, "\")"));
    }
  }
  int value = 0;
  if (!absl::SimpleAtoi(text, &value) || value < field.min || value > field.max) {
    return FieldError(field, item, absl::StrCat("is out of range ", field.min, "-", field.max));
  }
  return value;
}

// Parses one field into `bits` (index = value). Returns whether the field starts with "*".
absl::StatusOr<bool> ParseField(const FieldSpec& field, absl::string_view text,
                                std::vector<bool>& bits) {
  bits.assign(field.max + 1, false);
  if (text.empty()) return FieldError(field, text, "is empty");
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    if (item.empty()) return FieldError(field, text, "has an empty list element");
    absl::string_view base = item;
    int step = 1;
    bool has_step = false;
    if (size_t slash = item.find('/'); slash != absl::string_view::npos) {
      base = item.substr(0, slash);
      absl::string_view step_text = item.substr(slash + 1);
      if (!absl::SimpleAtoi(step_text, &step) || step < 1 || step > field.max - field.min + 1) {
        return FieldError(field, item, absl::StrCat("has an invalid step \"", step_text, "\""));
      }
      has_step = true;
    }
    int lo = 0;
    int hi = 0;
    if (base == "*") {
      lo = field.min;
      hi = field.max;
    } else if (size_t dash = base.find('-'); dash != absl::string_view::npos) {
      auto a = ParseValue(field, base.substr(0, dash), item);
      if (!a.ok()) return a.status();
      auto b = ParseValue(field, base.substr(dash + 1), item);
      if (!b.ok()) return b.status();
      lo = *a;
      hi = *b;
      if (lo > hi) return FieldError(field, item, "is a reversed range");
    } else {
      auto a = ParseValue(field, base, item);
      if (!a.ok()) return a.status();
      lo = *a;
      hi = has_step ? field.max : *a;
    }
    for (int v = lo; v <= hi; v += step) bits[v] = true;
  }
  return !text.empty() && text[0] == '*';
}

std::string ExpandAlias(absl::string_view spec) {
  std::string lower = absl::AsciiStrToLower(spec);
  if (lower == "@yearly" || lower == "@annually") return "0 0 1 1 *";
  if (lower == "@monthly") return "0 0 1 * *";
  if (lower == "@weekly") return "0 0 * * 0";
  if (lower == "@daily" || lower == "@midnight") return "0 0 * * *";
  if (lower == "@hourly") return "0 * * * *";
  return "";
}

int MaxDaysInMonth(int month) {
  static constexpr int kDays[] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return kDays[month];
}

}  // namespace

absl::StatusOr<CronSchedule> CronSchedule::Parse(std::string_view spec_in) {
  absl::string_view spec(spec_in.data(), spec_in.size());
  std::string text(absl::StripAsciiWhitespace(spec));
  if (text.empty()) return absl::InvalidArgumentError("schedule: empty cron expression");
  if (text[0] == '@') {
    std::string expanded = ExpandAlias(text);
    if (expanded.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "schedule: unknown alias \"", text,
          "\" (use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)"));
    }
    auto parsed = Parse(expanded);
    if (parsed.ok()) parsed->spec_ = text;
    return parsed;
  }
  std::vector<absl::string_view> fields =
      absl::StrSplit(text, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  if (fields.size() != 5) {
    return absl::InvalidArgumentError(
        absl::StrCat("schedule: \"", text, "\" has ", fields.size(),
                     " fields; want 5 (minute hour day-of-month month day-of-week)"));
  }
  static const FieldSpec kMinute{"minute", 0, 59, nullptr};
  static const FieldSpec kHour{"hour", 0, 23, nullptr};
  static const FieldSpec kDom{"day-of-month", 1, 31, nullptr};
  static const FieldSpec kMonth{"month", 1, 12, &kMonthNames};
  static const FieldSpec kDow{"day-of-week", 0, 7, &kDayNames};

  CronSchedule s;
  s.spec_ = text;
  std::vector<bool> bits;
  auto star = ParseField(kMinute, fields[0], bits);
  if (!star.ok()) return star.status();
  for (int i = 0; i < 60; ++i) s.minutes_[i] = bits[i];
  star = ParseField(kHour, fields[1], bits);
  if (!star.ok()) return star.status();
  for (int i = 0; i < 24; ++i) s.hours_[i] = bits[i];
  star = ParseField(kDom, fields[2], bits);
  if (!star.ok()) return star.status();
  s.dom_star_ = *star;
  for (int i = 1; i <= 31; ++i) s.days_of_month_[i] = bits[i];
  star = ParseField(kMonth, fields[3], bits);
  if (!star.ok()) return star.status();
  for (int i = 1; i <= 12; ++i) s.months_[i] = bits[i];
  star = ParseField(kDow, fields[4], bits);
  if (!star.ok()) return star.status();
  s.dow_star_ = *star;
  for (int i = 0; i <= 6; ++i) s.days_of_week_[i] = bits[i];
  if (bits[7]) s.days_of_week_[0] = true;  // 7 is Sunday too

  // A restricted day-of-month with an unrestricted day-of-week must fit some chosen month.
  if (!s.dom_star_ && s.dow_star_) {
    bool possible = false;
    for (int m = 1; m <= 12 && !possible; ++m) {
      if (!s.months_[m]) continue;
      for (int d = 1; d <= MaxDaysInMonth(m); ++d) {
        if (s.days_of_month_[d]) {
          possible = true;
          break;
        }
      }
    }
    if (!possible) {
      return absl::InvalidArgumentError(absl::StrCat("schedule: day-of-month field: \"", fields[2],
                                                     "\" never occurs in the months chosen by \"",
                                                     fields[3], "\""));
    }
  }
  return s;
}

bool CronSchedule::DayMatches(int year, int month, int day) const {
  bool dom = days_of_month_[day];
  absl::Weekday wd = absl::GetWeekday(absl::CivilDay(year, month, day));
  // absl::Weekday: monday = 0 ... sunday = 6; cron: sunday = 0.
  int cron_dow = (static_cast<int>(wd) + 1) % 7;
  bool dow = days_of_week_[cron_dow];
  if (dom_star_ || dow_star_) return dom && dow;
  return dom || dow;
}

absl::Time CronSchedule::NextFire(absl::Time after, absl::TimeZone zone) const {
  absl::CivilMinute c = absl::ToCivilMinute(after, zone);
  const absl::civil_year_t last_year = c.year() + 10;
  while (c.year() <= last_year) {
    if (!months_[c.month()]) {
      c = absl::CivilMinute(absl::CivilMonth(c) + 1);
      continue;
    }
    if (!DayMatches(static_cast<int>(c.year()), c.month(), c.day())) {
      c = absl::CivilMinute(absl::CivilDay(c) + 1);
      continue;
    }
    if (!hours_[c.hour()]) {
      c = absl::CivilMinute(absl::CivilHour(c) + 1);
      continue;
    }
    if (!minutes_[c.minute()]) {
      c += 1;
      continue;
    }
    absl::TimeZone::TimeInfo info = zone.At(absl::CivilSecond(c));
    // SKIPPED (spring forward): fire at the transition. REPEATED (fall back): `pre` is the
    // first occurrence. UNIQUE: pre == post.
    absl::Time t = info.kind == absl::TimeZone::TimeInfo::SKIPPED ? info.trans : info.pre;
    if (t > after) return t;
    c += 1;
  }
  return absl::InfiniteFuture();  // unreachable for schedules accepted by Parse
}

}  // namespace rostersync::scheduler
