#pragma once

#include <optional>
#include <string>
#include <vector>

#include <soci/soci.h>
#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "circolo/api/app.hpp"
#include "circolo/api/programs.hpp"
#include "circolo/rules/evaluate.hpp"

// Challenges, badges, tiers' progress and leaderboards, as touchpoints and the wallet see them.
namespace circolo::api {

// Each challenge of the program with the member's progress as of `now`.
nlohmann::json member_challenges_json(soci::session& sql, const rules::CompiledProgram& program,
                                      const std::string& member_id, engine::TimePoint now);
nlohmann::json badges_json(soci::session& sql, const std::string& member_id);
// {"id","name","progress":{"points","next_tier","needed"}}: the qualifying points in the next
// tier's window and how many more it takes (progress null at the top).
nlohmann::json tier_progress_json(soci::session& sql, const rules::CompiledProgram& program,
                                  const std::optional<std::string>& tier,
                                  const std::string& member_id, engine::TimePoint now);

struct TierReview {
  long long members = 0;  // reviewed
  long long lowered = 0;  // moved down to the tier their qualifying points reach now
};
// Events raise tiers at once; this lowers those whose qualifying points fell below their
// tier's threshold (the daily job, or an admin on demand; one member or all). One transaction
// per member, with a tier.changed event; safe on several instances at once.
boost::asio::awaitable<TierReview> review_tiers(Services& services, const ProgramStore& store,
                                                std::optional<std::string> member_id);

// Leaderboard rows nobody asks for any more: days older than 62 days, weeks older than 53
// weeks (months, years and "all" are kept). Returns the rows removed.
boost::asio::awaitable<long long> purge_leaderboards(Services& services, const ProgramStore& store);

void register_gamification_routes(App& app, const ProgramStore& store);

}  // namespace circolo::api
