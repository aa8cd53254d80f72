#include "circolo/db/programs.hpp"

#include "circolo/db/notifier.hpp"
#include "circolo/db/query.hpp"
#include "circolo/db/time.hpp"

namespace circolo::db::programs {

namespace {

const std::string kLockState = "select active_version from program_state for update";
const std::string kInsert =
    "insert into program_versions (source, created_by, created_at) values ($1, $2, " +
    micros_to_timestamptz("$3::bigint") + ") returning version";
const std::string kActivate =
    "update program_state set active_version = $1, revision = revision + 1";
const std::string kBumpRevision = "update program_state set revision = revision + 1";
const std::string kColumns =
    "v.version, v.source, v.created_by, " + timestamptz_to_micros("v.created_at");
const std::string kActive =
    "select " + kColumns +
    " from program_state s join program_versions v on v.version = s.active_version";
const std::string kActiveVersion = "select active_version, revision from program_state";
const std::string kFind = "select " + kColumns + " from program_versions v where v.version = $1";
const std::string kList = "select v.version, '' as source, v.created_by, " +
                          timestamptz_to_micros("v.created_at") +
                          " from program_versions v where ($1::bigint is null or v.version < $1) "
                          "order by v.version desc limit $2";
const std::string kPause =
    "insert into campaign_pauses (campaign_id, paused_at, paused_by) values ($1, " +
    micros_to_timestamptz("$2::bigint") + ", $3) on conflict (campaign_id) do nothing";
const std::string kResume =
    "delete from campaign_pauses where campaign_id = $1 returning campaign_id";
const std::string kPaused = "select campaign_id from campaign_pauses order by campaign_id";

Version from_row(const Row& row) {
  return {to_int(row[0]), *row[1], *row[2], from_micros(to_int(row[3]))};
}

}  // namespace

long long apply(soci::session& sql, const std::string& source, const std::string& created_by,
                engine::TimePoint now) {
  fetch(sql, kLockState, {});
  const auto rows = fetch(sql, kInsert, {source, created_by, std::to_string(to_micros(now))});
  const auto version = to_int(rows.at(0)[0]);
  fetch(sql, kActivate, {std::to_string(version)});
  notify(sql, kChannel, std::to_string(version));
  return version;
}

std::optional<Version> active(soci::session& sql) {
  const auto rows = fetch(sql, kActive, {});
  if (rows.empty()) return std::nullopt;
  return from_row(rows[0]);
}

State state(soci::session& sql) {
  const auto rows = fetch(sql, kActiveVersion, {});
  if (rows.empty()) return {};
  return {to_optional_int(rows[0][0]), to_int(rows[0][1])};
}

std::optional<Version> find(soci::session& sql, long long version) {
  const auto rows = fetch(sql, kFind, {std::to_string(version)});
  if (rows.empty()) return std::nullopt;
  return from_row(rows[0]);
}

std::vector<Version> list(soci::session& sql, std::optional<long long> before, int limit) {
  std::vector<Version> out;
  for (const auto& row :
       fetch(sql, kList,
             {before ? Value(std::to_string(*before)) : Value(), std::to_string(limit)})) {
    out.push_back(from_row(row));
  }
  return out;
}

void pause(soci::session& sql, const std::string& campaign, const std::string& by,
           engine::TimePoint now) {
  fetch(sql, kPause, {campaign, std::to_string(to_micros(now)), by});
  fetch(sql, kBumpRevision, {});
  notify(sql, kChannel, "pause " + campaign);
}

bool resume(soci::session& sql, const std::string& campaign) {
  const bool was_paused = !fetch(sql, kResume, {campaign}).empty();
  if (was_paused) {
    fetch(sql, kBumpRevision, {});
    notify(sql, kChannel, "resume " + campaign);
  }
  return was_paused;
}

std::vector<std::string> paused(soci::session& sql) {
  std::vector<std::string> out;
  for (const auto& row : fetch(sql, kPaused, {})) out.push_back(*row[0]);
  return out;
}

}  // namespace circolo::db::programs
