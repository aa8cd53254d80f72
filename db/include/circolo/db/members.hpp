#pragma once

#include <optional>
#include <string>
#include <vector>

#include <soci/soci.h>
#include <nlohmann/json.hpp>

#include "circolo/engine/clock.hpp"
#include "circolo/engine/consent.hpp"
#include "circolo/engine/identity.hpp"
#include "circolo/engine/interests.hpp"

namespace circolo::db {

struct Profile {
  std::optional<std::string> name;
  std::optional<std::string> display_name;  // what leaderboards and greetings show
  std::optional<std::string> email;
  std::optional<std::string> phone;
  std::optional<std::string> birthday;  // YYYY-MM-DD
  nlohmann::json attributes = nlohmann::json::object();
};

struct Member {
  std::string id;
  Profile profile;
  std::vector<std::string> tags;
  engine::TimePoint joined_at{};
  long long points_balance = 0;
  std::optional<std::string> merged_into;
  std::optional<std::string> tier;
  long long purchases = 0;                     // purchase events
  long long lifetime_points = 0;               // points earned through events, net of refunds
  std::optional<engine::TimePoint> erased_at;  // its personal data was erased (find() only)
  engine::consent::Consents consents;          // its explicit choices (find(), event reads)
  engine::interests::Profile interests;        // (find(), event reads)
  std::vector<std::string> segments;           // sorted (find(), event reads)
};

struct TimelineEntry {
  long long id = 0;
  std::string member_id;
  std::string type;
  std::optional<std::string> channel;
  engine::TimePoint occurred_at{};
  engine::TimePoint recorded_at{};
  nlohmann::json data = nlohmann::json::object();
  nlohmann::json effects = nlohmann::json::array();
};

// Newest first; `after` is the last entry of the previous page.
struct TimelineCursor {
  engine::TimePoint occurred_at{};
  long long id = 0;
};

namespace members {

// Inserts the member and its identifiers. If an identifier belongs to someone already, returns
// it and the caller must roll back (the transaction may hold a partial insert).
std::optional<engine::Identifier> insert(soci::session& sql, const Member& member,
                                         const std::vector<engine::Identifier>& identifiers,
                                         engine::TimePoint now);

std::optional<Member> find(soci::session& sql, const std::string& id);
// Writes the whole profile (name, display name, contact details, birthday, attributes).
void update_profile(soci::session& sql, const std::string& id, const Profile& profile);
// Erases the personal data of `id` and of the members merged into it (see kEraseMembers); the
// row must be locked. Returns the ids erased.
std::vector<std::string> erase(soci::session& sql, const std::string& id, engine::TimePoint now);
// A member from the first 13 columns of a row (members' columns in kFindMember order).
Member from_row(const std::vector<std::optional<std::string>>& row);
// members.consents as stored (a JSON object of purpose: granted), read.
engine::consent::Consents consents_of(const std::optional<std::string>& stored);
// Locks the member row (FOR UPDATE): every change of a member's points takes this lock first.
bool lock(soci::session& sql, const std::string& id);
// Locks two members in id order, so that transfers both ways never deadlock.
void lock_pair(soci::session& sql, const std::string& a, const std::string& b);

std::optional<std::string> find_by_identifier(soci::session& sql,
                                              const engine::Identifier& identifier);
std::vector<engine::Identifier> identifiers(soci::session& sql, const std::string& member_id);

// The owner of each identifier named (in the same order), none where nobody owns it.
std::vector<std::optional<std::string>> owners(soci::session& sql,
                                               const std::vector<engine::Identifier>& named);
// Removes the identifier from the member; false if the member did not have it.
bool unlink(soci::session& sql, const std::string& member_id, const engine::Identifier& identifier);

// Link codes, kept by digest. create_link_code is false if the digest exists (draw again).
bool create_link_code(soci::session& sql, const std::string& digest, const std::string& member_id,
                      engine::TimePoint now, engine::TimePoint expires_at,
                      const std::string& created_by);
std::optional<engine::identity::LinkCode> lock_link_code(soci::session& sql,
                                                         const std::string& digest);
void use_link_code(soci::session& sql, const std::string& digest, engine::TimePoint now,
                   const std::string& used_by, const std::string& event_id);

enum class LinkResult { linked, already_linked, taken };
LinkResult link(soci::session& sql, const std::string& member_id,
                const engine::Identifier& identifier, engine::TimePoint now);

void timeline_append(soci::session& sql, const TimelineEntry& entry);

// Who links an identifier: recorded with it on the member's timeline.
struct LinkedBy {
  std::string channel;
  std::string key_id;
  std::optional<std::string> event_id;  // when an event linked it
};
// link, and when it linked, the `identifier.linked` timeline entry (every path that links one).
LinkResult link_recorded(soci::session& sql, const std::string& member_id,
                         const engine::Identifier& identifier, const LinkedBy& by,
                         engine::TimePoint now);
std::vector<TimelineEntry> timeline_page(soci::session& sql, const std::string& member_id,
                                         const std::optional<TimelineCursor>& after, int limit);

// What a merge would move from `from` (read only): lots still holding points, coupon codes,
// badges, challenge states and events.
struct MergePreview {
  long long lots = 0, coupons = 0, challenges = 0, events = 0;
  std::vector<std::string> badges;
};
MergePreview merge_preview(soci::session& sql, const std::string& from);

// Moves identifiers, lots and timeline of `from` to `into` and books the points across with a
// pair of `merge` ledger entries; `from` then points at `into`. Both rows must be locked.
// Returns the points moved.
long long merge(soci::session& sql, const std::string& into, const std::string& from,
                engine::TimePoint now);

}  // namespace members
}  // namespace circolo::db
