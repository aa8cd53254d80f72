#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <soci/soci.h>
#include <nlohmann/json.hpp>

#include "circolo/engine/clock.hpp"
#include "circolo/engine/ledger.hpp"

// Touchpoint events and the counters rules keep (limit firings, campaign budgets). The caller
// holds the member's row lock and runs everything of one event in one transaction.
namespace circolo::db::events {

using engine::ledger::Points;

struct Event {
  std::string id, member_id, type, channel;
  std::optional<std::string> store, order_id;
  engine::TimePoint occurred_at{}, recorded_at{};
  long long program_version = 0;
  std::string api_key_id;
  std::optional<long long> total_minor;
  std::optional<std::string> original_event_id;
  Points points_awarded = 0;
  long long refunded_minor = 0;  // purchases: what refunds gave back so far
  Points points_reversed = 0;    // purchases: what refunds took back (or tried to) so far
  nlohmann::json body = nlohmann::json::object();  // the event as the rules saw it
  nlohmann::json effects = nlohmann::json::array();
};

// false: a purchase with this (channel, store, order_id) exists already; nothing was written
// (a concurrent insert of the same order waits for the other transaction and then reports it).
bool insert(soci::session& sql, const Event& event);

std::optional<Event> find(soci::session& sql, const std::string& id);
// The purchase a refund names, locked: refunds of one purchase are serialised.
std::optional<Event> lock(soci::session& sql, const std::string& id);
// The bodies of the refunds of `original_id` so far.
std::vector<nlohmann::json> refunds_of(soci::session& sql, const std::string& original_id);
void add_refund(soci::session& sql, const std::string& original_id, long long refunded_minor,
                Points points_reversed);

// Counters, created at 0 when missing and locked in key order (so events never deadlock on
// them); returns every key's value.
std::map<std::string, long long> lock_counters(soci::session& sql,
                                               const std::vector<std::string>& keys);
void add_to_counters(soci::session& sql, const std::map<std::string, long long>& increments);

// Points the member earned through events (net of refunds) since each of `since`.
std::vector<Points> qualifying_points(soci::session& sql, const std::string& member_id,
                                      std::span<const engine::TimePoint> since);

}  // namespace circolo::db::events
