#include "circolo/engine/clock.hpp"

#include <cstdio>

namespace circolo::engine {

TimePoint SystemClock::now() const {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

std::string format_rfc3339(TimePoint t) {
  using namespace std::chrono;
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss hms{t - day};
  char buffer[40];
  const long long us = hms.subseconds().count();
  if (us == 0) {
    std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02lld:%02lld:%02lldZ", int(ymd.year()),
                  unsigned(ymd.month()), unsigned(ymd.day()), (long long)hms.hours().count(),
                  (long long)hms.minutes().count(), (long long)hms.seconds().count());
  } else {
    std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ",
                  int(ymd.year()), unsigned(ymd.month()), unsigned(ymd.day()),
                  (long long)hms.hours().count(), (long long)hms.minutes().count(),
                  (long long)hms.seconds().count(), us);
  }
  return buffer;
}

}  // namespace circolo::engine
