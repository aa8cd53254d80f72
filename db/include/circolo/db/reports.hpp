#pragma once

#include <optional>
#include <string>
#include <vector>

#include <soci/soci.h>

#include "circolo/engine/clock.hpp"

// Reports for finance and operations: read-only aggregates.
namespace circolo::db::reports {

// Outstanding points (a liability until spent or expired): available and pending, by tier.
struct LiabilityRow {
  std::optional<std::string> tier;  // none: members without a tier yet
  long long members = 0;            // members holding outstanding points
  long long available = 0, pending = 0;
};
std::vector<LiabilityRow> liability(soci::session& sql, engine::TimePoint now);

}  // namespace circolo::db::reports
