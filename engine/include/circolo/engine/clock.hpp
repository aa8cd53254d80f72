#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace circolo::engine {

using TimePoint = std::chrono::sys_time<std::chrono::microseconds>;

// Every domain decision takes its "now" from a Clock, so that tests can fix time exactly.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const override;
};

// A clock that moves only when told to; thread-safe so concurrent tests can share it.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start) : now_(start.time_since_epoch().count()) {}
  TimePoint now() const override {
    return TimePoint{std::chrono::microseconds{now_.load(std::memory_order_acquire)}};
  }
  void set(TimePoint t) { now_.store(t.time_since_epoch().count(), std::memory_order_release); }
  void advance(std::chrono::microseconds d) {
    now_.fetch_add(d.count(), std::memory_order_acq_rel);
  }

 private:
  std::atomic<std::int64_t> now_;
};

// Parses RFC 3339 ("2026-12-05T10:15:00+01:00", "...T09:15:00.5Z"); fractions beyond
// microseconds are truncated. nullopt for anything else, including impossible dates.
std::optional<TimePoint> parse_rfc3339(std::string_view text);

// RFC 3339 in UTC, with microseconds only when not zero: 2026-11-22T07:07:03Z.
std::string format_rfc3339(TimePoint t);

}  // namespace circolo::engine
