#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <soci/soci.h>

#include "circolo/db/batch.hpp"
#include "circolo/engine/challenges.hpp"
#include "circolo/engine/clock.hpp"
#include "circolo/engine/event/inputs.hpp"
#include "circolo/engine/leaderboard.hpp"

// Challenge progress, badges and leaderboard points. The caller holds the member's row lock:
// one member's events are applied one at a time, so a challenge completes once.
namespace circolo::db::gamification {

using ChallengeState = engine::challenges::State;

// The stored states of `challenges` for a member, with their current contributions (a
// challenge it never progressed in is missing).
std::map<std::string, ChallengeState> load(soci::session& sql, const std::string& member_id,
                                           const std::vector<std::string>& challenges);

// Removes what `event_id` (a refunded purchase) added to rounds still open; returns the
// challenges it touched.
std::vector<std::string> take_back(soci::session& sql, const std::string& member_id,
                                   const std::string& event_id);
// The contributions of a refunded purchase `event_id` to rounds still open, and a partial
// refund's new amounts for some of them (decided by engine::event).
std::vector<engine::event::OpenContribution> open_contributions(soci::session& sql,
                                                                const std::string& member_id,
                                                                const std::string& event_id);
void set_amounts(soci::session& sql, const std::string& member_id, const std::string& event_id,
                 const std::vector<engine::event::OpenContribution>& contributions);

// Sent with the batch that ends the event's transaction.
void save_state(Batch& batch, const std::string& member_id, const ChallengeState& state);
struct NewContribution {
  std::string challenge, digest, event_id;
  int round = 0;
  bool explicit_progress = false;
  engine::TimePoint at{};
  long long amount = 1;
  std::string key;
};
// All of an event's contributions, in one statement.
void add_contributions(Batch& batch, const std::string& member_id,
                       const std::vector<NewContribution>& contributions);

// Badges: a second grant of the same badge changes nothing.
void grant_badge(Batch& batch, const std::string& member_id, const std::string& badge,
                 engine::TimePoint at, const std::string& event_id);
struct Badge {
  std::string badge;
  engine::TimePoint granted_at{};
};
std::vector<Badge> badges_of(soci::session& sql, const std::string& member_id);

// Leaderboards: `points` (negative for a reversal; a period never goes below 0) added to the
// member's score in each of `periods`.
void add_points(Batch& batch, const std::string& member_id, const std::vector<std::string>& periods,
                long long points);
struct Ranked {
  long long rank = 0;  // ties share a rank; the next rank skips (1, 2, 2, 4)
  std::string member_id;
  std::optional<std::string> name;
  long long points = 0;
};
std::vector<Ranked> top(soci::session& sql, const std::string& period, int limit);
// The first `limit` scores of a period with their members (highest first, ties by member id),
// opted out or not; and, for some members, whether boards list them and the name they show.
std::vector<engine::leaderboard::Leader> leaders(soci::session& sql, const std::string& period,
                                                 int limit);
struct Listing {
  bool listed = true;
  std::optional<std::string> name;
};
std::map<std::string, Listing> listings(soci::session& sql, const std::vector<std::string>& ids);
// Drops the rows of days before `first_day` ("day:2026-09-21") and of weeks before
// `first_week` ("week:2026-05-25"): nobody asks for those periods any more. Returns rows gone.
long long purge_periods(soci::session& sql, const std::string& first_day,
                        const std::string& first_week);
// The member's points in the period (0 if it earned none).
long long points_of(soci::session& sql, const std::string& period, const std::string& member_id);
// Every positive score of the period, highest first, in one round trip (for ranking in memory).
std::vector<long long> scores(soci::session& sql, const std::string& period);

// A merge: `into` gets `from`'s badges and leaderboard points, and its challenge progress
// (where both progressed toward the same goal, `from`'s current contributions join `into`'s
// round; the next event decides whether that completes it).
void move_member(soci::session& sql, const std::string& into, const std::string& from);

// Tiers: the member's qualifying points (earned by events, net of reversals) since each of
// `since`, without locking anything (the wallet's progress to the next tier).
std::vector<long long> qualifying_points(soci::session& sql, const std::string& member_id,
                                         const std::vector<engine::TimePoint>& since);
// Members holding a tier other than `except` (the entry tier), in id order after `after`.
std::vector<std::string> members_in_tiers(soci::session& sql,
                                          const std::optional<std::string>& except,
                                          const std::string& after, int limit);
void set_tier(soci::session& sql, const std::string& member_id,
              const std::optional<std::string>& tier);

}  // namespace circolo::db::gamification
