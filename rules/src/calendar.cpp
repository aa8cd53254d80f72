// Calendar arithmetic in the program's time zone: durations added to instants, the periods and
// keys of limits, calendar periods and the period indexes of streaks.
#include "circolo/rules/evaluate.hpp"

#include <date/tz.h>

#include <cstdio>

#include "program_impl.hpp"

namespace circolo::rules {

namespace detail {

date::local_time<std::chrono::microseconds> local_time(const date::time_zone* zone, TimePoint t) {
  struct Offset {
    const date::time_zone* zone = nullptr;
    date::sys_seconds begin, end;  // the offset holds in [begin, end)
    std::chrono::seconds offset{0};
  };
  thread_local Offset cached;
  if (cached.zone != zone || t < cached.begin || t >= cached.end) {
    const auto info = zone->get_info(date::floor<std::chrono::seconds>(t));
    cached = {zone, info.begin, info.end, info.offset};
  }
  return date::local_time<std::chrono::microseconds>{t.time_since_epoch() + cached.offset};
}

TimePoint add(const date::time_zone* zone, TimePoint t, const Duration& d) {
  using namespace std::chrono;
  switch (d.unit) {
    case Unit::hours:
      return t + hours(d.amount);
    case Unit::days:
    case Unit::weeks:
    case Unit::months: {
      // Calendar arithmetic on the local date, keeping the local time of day (DST-safe).
      const auto local = local_time(zone, t);
      const auto day = date::floor<date::days>(local);
      const auto time_of_day = local - day;
      date::year_month_day ymd{day};
      if (d.unit == Unit::days)
        ymd = date::year_month_day{date::local_days{ymd} + date::days{d.amount}};
      else if (d.unit == Unit::weeks)
        ymd = date::year_month_day{date::local_days{ymd} + date::days{7 * d.amount}};
      else {
        ymd += date::months{d.amount};
        if (!ymd.ok()) ymd = ymd.year() / ymd.month() / date::last;
      }
      const auto target = date::local_days{ymd} + time_of_day;
      return date::floor<microseconds>(zone->to_sys(target, date::choose::latest));
    }
  }
  return t;
}

}  // namespace detail

using detail::add;
using engine::TimePoint;

std::string limit_key(const std::string& campaign, const std::string& rule, const Limit& limit,
                      const std::string& member_id, const std::string& period) {
  return campaign + "/" + rule + "/" +
         (limit.scope == LimitScope::member ? "member:" + member_id : std::string("campaign")) +
         "/" + period;
}

std::string CompiledProgram::period(LimitPeriod p, TimePoint time) const {
  if (p == LimitPeriod::ever) return "ever";
  const auto local = detail::local_time(impl_->zone, time);
  const date::year_month_day ymd{date::floor<date::days>(local)};
  char buf[24];
  if (p == LimitPeriod::day) {
    std::snprintf(buf, sizeof buf, "day:%04d-%02u-%02u", int(ymd.year()), unsigned(ymd.month()),
                  unsigned(ymd.day()));
  } else if (p == LimitPeriod::month) {
    std::snprintf(buf, sizeof buf, "month:%04d-%02u", int(ymd.year()), unsigned(ymd.month()));
  } else {
    // The week starting on Monday that contains the day, named by that Monday.
    const auto day = date::floor<date::days>(local);
    const date::weekday w{day};
    const auto monday = day - date::days{(w.c_encoding() + 6) % 7};
    const date::year_month_day m{monday};
    std::snprintf(buf, sizeof buf, "week:%04d-%02u-%02u", int(m.year()), unsigned(m.month()),
                  unsigned(m.day()));
  }
  return buf;
}

std::optional<engine::TimePoint> CompiledProgram::default_expiry(engine::TimePoint from) const {
  if (!impl_->points_expire) return std::nullopt;
  return add(impl_->zone, from, *impl_->points_expire);
}

engine::TimePoint CompiledProgram::after(const Duration& duration, engine::TimePoint from) const {
  return add(impl_->zone, from, duration);
}

engine::TimePoint CompiledProgram::window_start(const Duration& window,
                                                engine::TimePoint end) const {
  Duration back = window;
  back.amount = -back.amount;
  return add(impl_->zone, end, back);
}

std::optional<CompiledProgram::CalendarPeriod> CompiledProgram::calendar_period(
    const std::string& kind, engine::TimePoint time) const {
  const auto day = date::floor<date::days>(detail::local_time(impl_->zone, time));
  const date::year_month_day ymd{day};
  date::local_days first{}, next{};
  if (kind == "day") {
    first = day;
    next = day + date::days{1};
  } else if (kind == "week") {
    first = day - date::days{(date::weekday{day}.c_encoding() + 6) % 7};
    next = first + date::days{7};
  } else if (kind == "month") {
    first = date::local_days{ymd.year() / ymd.month() / 1};
    next = date::local_days{(ymd.year() / ymd.month() + date::months{1}) / 1};
  } else if (kind == "year") {
    first = date::local_days{ymd.year() / 1 / 1};
    next = date::local_days{(ymd.year() + date::years{1}) / 1 / 1};
  } else {
    return std::nullopt;
  }
  const date::year_month_day f{first};
  char buf[32];
  if (kind == "month")
    std::snprintf(buf, sizeof buf, "month:%04d-%02u", int(f.year()), unsigned(f.month()));
  else if (kind == "year")
    std::snprintf(buf, sizeof buf, "year:%04d", int(f.year()));
  else
    std::snprintf(buf, sizeof buf, "%s:%04d-%02u-%02u", kind.c_str(), int(f.year()),
                  unsigned(f.month()), unsigned(f.day()));
  const auto instant = [&](date::local_days d) {
    return date::floor<std::chrono::microseconds>(impl_->zone->to_sys(d, date::choose::earliest));
  };
  return CalendarPeriod{buf, instant(first), instant(next)};
}

std::int64_t CompiledProgram::period_index(Unit unit, engine::TimePoint time) const {
  const auto day =
      date::floor<date::days>(detail::local_time(impl_->zone, time)).time_since_epoch().count();
  if (unit != Unit::weeks) return day;
  // 1970-01-01 was a Thursday: day + 3 counts from the Monday before it.
  const auto shifted = day + 3;
  return shifted >= 0 ? shifted / 7 : -((-shifted + 6) / 7);
}

}  // namespace circolo::rules
