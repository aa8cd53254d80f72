#pragma once

#include <optional>
#include <string>
#include <vector>

#include <soci/soci.h>

#include "circolo/engine/clock.hpp"

// What campaigns did and whether an admin paused them: read-only, for operators.
namespace circolo::db::campaigns {

struct Activity {
  std::string campaign;
  long long budget_used = 0;  // points awarded against its budget (kept across versions)
  std::optional<engine::TimePoint> last_fired_at;  // when an event it fired on was recorded
  std::optional<engine::TimePoint> paused_at;
  std::optional<std::string> paused_by;
};

// One row per id, in the order given. The last firing is the newest event whose effects name
// the campaign: a scan of the events with effects, like the other reports.
std::vector<Activity> activity(soci::session& sql, const std::vector<std::string>& ids);

}  // namespace circolo::db::campaigns
