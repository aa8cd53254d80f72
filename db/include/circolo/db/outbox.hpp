#pragma once

#include <optional>
#include <string>
#include <vector>

#include <soci/soci.h>
#include <nlohmann/json.hpp>

#include "circolo/db/batch.hpp"
#include "circolo/engine/clock.hpp"

// Outgoing events: written with the effects that cause them (points::publish), published after
// commit in sequence order (see db/migrations/008_outbox_publication.sql), read by the feed, the
// stream and the webhook workers.
namespace circolo::db::outbox {

inline constexpr const char* kChannel = "circolo_outbox";  // NOTIFY payload: the last seq

// Every type of outgoing event (docs/openapi.yaml OutgoingEvent), in the documented order: what
// the feed and the stream filter on and webhooks subscribe to.
inline const std::vector<std::string>& event_types() {
  static const std::vector<std::string> types{
      "points.earned",       "points.spent",       "points.expired",    "points.reversed",
      "coupon.issued",       "coupon.redeemed",    "coupon.expiring",   "challenge.progressed",
      "challenge.completed", "badge.granted",      "tier.changed",      "notification",
      "referral.started",    "referral.completed", "referral.reversed", "segment.entered",
      "segment.left"};
  return types;
}

struct Event {
  long long seq = 0;
  std::string id, type;
  std::optional<std::string> member_id;
  engine::TimePoint at{};
  nlohmann::json data;
};

// Gives the events of committed, unpublished rows (at most `batch` rows; an event's row holds all
// its outgoing events) the next sequence numbers. Returns how many rows, or -1 when another
// publisher is at work (try again shortly).
long long publish(soci::session& sql, int batch);

// An event's outgoing events as one row (migration 034), in order: {"type", "data"} each.
// Nothing is written for none. An event with awards writes its row with them
// (points::earn_event).
void append_event(Batch& batch, const std::string& member_id, engine::TimePoint at,
                  const nlohmann::json& events);

struct Query {
  long long after = 0;
  std::optional<std::string> member_id;
  std::vector<std::string> types;  // empty: all
  int limit = 100;
};
// Published events after `after`, in seq order.
std::vector<Event> read(soci::session& sql, const Query& query);

struct State {
  long long last_seq = 0;        // the highest published seq
  long long purged_through = 0;  // events up to here were removed (retention)
};
State state(soci::session& sql);

// Removes published rows older than `cutoff` (with all their events); returns how many rows.
long long purge_before(soci::session& sql, engine::TimePoint cutoff);

// {"id","seq","type","member_id","at","data"}: what touchpoints receive.
nlohmann::json to_json(const Event& event);

}  // namespace circolo::db::outbox
