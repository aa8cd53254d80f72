#pragma once

#include <cstdint>
#include <string>

#include "circolo/engine/clock.hpp"

namespace circolo::db {

// SQL fragments that move timestamps exactly, as microseconds since the Unix epoch, between
// PostgreSQL and engine::TimePoint (SOCI's std::tm would drop the time zone and microseconds).
inline std::string micros_to_timestamptz(const std::string& placeholder) {
  return "(timestamptz 'epoch' + " + placeholder + " * interval '1 microsecond')";
}
inline std::string timestamptz_to_micros(const std::string& column) {
  return "cast(extract(epoch from " + column + ") * 1000000 as bigint)";
}

inline long long to_micros(engine::TimePoint t) {
  return t.time_since_epoch().count();
}
inline engine::TimePoint from_micros(long long us) {
  return engine::TimePoint{std::chrono::microseconds{us}};
}

}  // namespace circolo::db
