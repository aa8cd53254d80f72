#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <soci/soci.h>
#include <nlohmann/json.hpp>

#include "circolo/engine/clock.hpp"
#include "circolo/engine/event/inputs.hpp"

// Segment memberships (members.segments), what they were evaluated against, the job's runs and
// lease, and the reads of the segments API.
namespace circolo::db::segments {

// ---- the job ----
// Takes (or renews) the job's lease for `holder` until now + ttl; false when another instance
// holds it.
bool take_lease(soci::session& sql, const std::string& holder, engine::TimePoint now,
                std::chrono::seconds ttl);
void release_lease(soci::session& sql, const std::string& holder);

// Segment id -> the digest its memberships were last evaluated against.
std::map<std::string, std::string> definitions(soci::session& sql);
// After a run: `evaluated` (id -> digest) stored, `removed` forgotten.
void save_definitions(soci::session& sql, const std::map<std::string, std::string>& evaluated,
                      const std::vector<std::string>& removed, engine::TimePoint now);

// The next members after `after` (by id; not merged, not erased), locked, as the decision
// sees them (balances, badges, consents, interests, segments; no qualifying sums or challenges).
std::vector<engine::event::MemberState> lock_batch(soci::session& sql, const std::string& after,
                                                   int limit, engine::TimePoint now);
// Members not merged or erased: a run's total.
long long active_members(soci::session& sql);

// One member's new segments and the events of its change.
struct Change {
  std::string member_id;
  std::vector<std::string> segments;
  std::vector<std::pair<std::string, nlohmann::json>> events;  // type, data
};
// Stores the changes and appends their events to the outbox, in one round trip each.
void save_changes(soci::session& sql, const std::vector<Change>& changes, engine::TimePoint now);

struct Run {
  long long id = 0;
  std::string reason;  // program, schedule
  std::vector<std::string> segments;
  engine::TimePoint started_at{};
  std::optional<engine::TimePoint> finished_at;
  long long total = 0, done = 0, entered = 0, left = 0;
};
long long start_run(soci::session& sql, const std::string& reason,
                    const std::vector<std::string>& segments, long long total,
                    engine::TimePoint now);
void progress_run(soci::session& sql, long long run, long long done, long long entered,
                  long long left, std::optional<engine::TimePoint> finished);
std::optional<Run> latest_run(soci::session& sql, std::optional<std::string> reason = {});
// Runs that never finished (their instance stopped): closed, so a new one starts.
void abandon_unfinished(soci::session& sql, engine::TimePoint now);

// ---- the API ----
// Members in each segment (segments without members are left out).
std::map<std::string, long long> counts(soci::session& sql);
long long count(soci::session& sql, const std::string& segment);
struct MemberRow {
  std::string id;
  std::optional<std::string> name, email, phone;
};
// The segment's members after `after` (by id), up to `limit`.
std::vector<MemberRow> members_page(soci::session& sql, const std::string& segment,
                                    const std::string& after, int limit);

// For an upload (after waiting for any other upload of `segment`): the members `member_ids`
// names and those in `segment` now (not merged, not erased), locked in id order, with their
// segments and consents.
struct Listed {
  std::string id;
  std::vector<std::string> segments;
  engine::consent::Consents consents;
};
std::vector<Listed> lock_listed(soci::session& sql, const std::string& segment,
                                const std::vector<std::string>& member_ids);

}  // namespace circolo::db::segments
