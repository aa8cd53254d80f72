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
  // Written digit by digit: every effect and response carries times, and snprintf was a few
  // per cent of an event's decision.
  char buffer[40];
  std::size_t n = 0;
  const auto put = [&](long long value, int width) {
    for (int i = width - 1; i >= 0; --i) {
      buffer[n + static_cast<std::size_t>(i)] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
    n += static_cast<std::size_t>(width);
  };
  const int year = int(ymd.year());
  if (year < 0 || year > 9999) {  // outside RFC 3339: as snprintf writes it
    const long long us = hms.subseconds().count();
    std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02lld:%02lld:%02lld", year,
                  unsigned(ymd.month()), unsigned(ymd.day()), (long long)hms.hours().count(),
                  (long long)hms.minutes().count(), (long long)hms.seconds().count());
    std::string out = buffer;
    if (us != 0) {
      std::snprintf(buffer, sizeof buffer, ".%06lld", us);
      out += buffer;
    }
    return out + "Z";
  }
  put(year, 4);
  buffer[n++] = '-';
  put(unsigned(ymd.month()), 2);
  buffer[n++] = '-';
  put(unsigned(ymd.day()), 2);
  buffer[n++] = 'T';
  put(hms.hours().count(), 2);
  buffer[n++] = ':';
  put(hms.minutes().count(), 2);
  buffer[n++] = ':';
  put(hms.seconds().count(), 2);
  if (const long long us = hms.subseconds().count(); us != 0) {
    buffer[n++] = '.';
    put(us, 6);
  }
  buffer[n++] = 'Z';
  return std::string(buffer, n);
}

std::optional<TimePoint> parse_rfc3339(std::string_view s) {
  using namespace std::chrono;
  auto digits = [&](std::size_t pos, std::size_t n, int& out) {
    if (pos + n > s.size()) return false;
    out = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  int y, mo, d, h, mi, sec;
  if (!digits(0, 4, y) || s.size() < 20 || s[4] != '-' || !digits(5, 2, mo) || s[7] != '-' ||
      !digits(8, 2, d) || (s[10] != 'T' && s[10] != 't') || !digits(11, 2, h) || s[13] != ':' ||
      !digits(14, 2, mi) || s[16] != ':' || !digits(17, 2, sec)) {
    return std::nullopt;
  }
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                           day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 59) return std::nullopt;
  std::size_t pos = 19;
  long long micros = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 6) micros = micros * 10 + (s[pos] - '0');
      ++n;
      ++pos;
    }
    if (n == 0) return std::nullopt;
    for (int k = n; k < 6; ++k) micros *= 10;
  }
  if (pos >= s.size()) return std::nullopt;
  minutes offset{0};
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh, om;
    if (!digits(pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(pos + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset = hours(oh) + minutes(om);
    if (s[pos] == '-') offset = -offset;
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  return TimePoint{sys_days{ymd} + hours(h) + minutes(mi) + seconds(sec) + microseconds(micros) -
                   offset};
}

}  // namespace circolo::engine
