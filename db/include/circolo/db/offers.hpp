#pragma once

#include <map>
#include <string>
#include <vector>

#include <soci/soci.h>

#include "circolo/db/coupons.hpp"
#include "circolo/db/gamification.hpp"
#include "circolo/engine/clock.hpp"
#include "circolo/engine/ledger.hpp"

// What the next best offer of one member is decided from (engine::offers), and the purchases the
// recommendation model learns from.
namespace circolo::db::offers {

// The member's side, read in one call (the member row itself is read by the caller, which
// refuses unknown and merged members): its points at `now`, usable codes, challenge states and
// the reward stock counters. Four short prepared statements: about a millisecond in all.
struct MemberSide {
  engine::ledger::Balances points;
  std::vector<coupons::Code> coupons;
  std::map<std::string, gamification::ChallengeState> challenges;
  std::map<std::string, long long> counters;  // stock counters by key
};
MemberSide load(soci::session& sql, const std::string& member_id,
                const std::vector<std::string>& challenge_ids,
                const std::vector<std::string>& counter_keys, engine::TimePoint now);

// The categories each member bought, for the co-occurrence model: the category keys of the
// stored interest profiles (members.interests: at most engine::interests::kMaxCategories each,
// kept current by every purchase, and only of members who consented to profiling, so that
// nobody who refused is learnt from). A page of at most `n` members with ids after `after`, in
// id order: the model is read page by page, each a short query of its own, never one long
// transaction over the whole table, and the connection goes back to the pool in between.
struct CategoriesPage {
  std::vector<std::vector<std::string>> members;  // each member's categories
  std::string last_id;                            // the next page's `after`
};
CategoriesPage member_categories(soci::session& sql, const std::string& after, int n);

}  // namespace circolo::db::offers
