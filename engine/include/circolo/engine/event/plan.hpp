#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "circolo/engine/challenges.hpp"
#include "circolo/engine/clock.hpp"
#include "circolo/engine/event/inputs.hpp"
#include "circolo/engine/interests.hpp"
#include "circolo/engine/ledger.hpp"

// What one event does, decided: every write db/ applies in the event's transaction, and the
// response's effects. Or a refusal with a stable code, which changes nothing.
namespace circolo::engine::event {

using ledger::Points;

struct Award {
  Points points = 0;  // positive
  std::optional<TimePoint> pending_until, expires_at;
  std::optional<std::string> campaign, rule, reason;
};

// An outgoing event (the outbox): type and data.
struct Outgoing {
  std::string type;
  nlohmann::json data;
};

// Writes sent together at the end of the transaction, in this order (outgoing events keep it).
struct EarnPoints {
  std::vector<Award> awards;  // lots, ledger entries, points.earned events
};
struct GrantBadge {
  std::string badge;
};
struct SaveChallenge {
  challenges::State state;  // its round, completions and digest (contributions are rows: none)
};
using Write = std::variant<Outgoing, EarnPoints, GrantBadge, SaveChallenge>;

struct NewContribution {
  std::string challenge, digest;
  int round = 0;
  bool explicit_progress = false;
  TimePoint at{};
  std::int64_t amount = 1;
  std::string key;
};

// A basket code used by the purchase.
struct Redemption {
  std::string id, code, coupon;
  int digits = 2;
  std::int64_t total_minor = 0, discount_minor = 0;
  std::optional<std::string> hold_id;  // the member's reservation it ends
};

// A code of a template issued to the member; its symbols are drawn when applied, and written
// into the effect at `effect_index` (and into the event's effects).
struct CouponIssue {
  std::string coupon, name;
  int digits = 2;
  coupons::Terms terms;
  TimePoint expires_at{};
  int uses = 1;
  std::size_t effect_index = 0;
};

// A refund: the points taken back from the purchase's lots (and others), and what becomes of the
// purchase's contributions to open challenge rounds.
struct Reversal {
  std::string original_event_id;
  std::int64_t amount_minor = 0;  // given back (the purchase's refunded total grows by it)
  Points points = 0;              // asked back (the purchase's reversed points grow by it)
  ledger::Reversal ledger;
  bool take_back_contributions = false;    // refunded in full: removed from open rounds
  std::vector<OpenContribution> rescaled;  // in part: sum contributions with their new amounts
  TimePoint original_recorded_at{};        // leaderboard periods the points come off
};

struct MemberUpdate {
  std::optional<std::string> tier;
  std::int64_t purchases_added = 0, lifetime_points_added = 0;
  std::vector<std::string> tags;
  std::optional<interests::Profile> interests;       // changed by this event
  std::optional<std::vector<std::string>> segments;  // changed by this event: all of them
  // Changed by this event: all of the member's limit counters (Member::limits).
  std::optional<std::map<std::string, std::int64_t>> limits;
};

// The event's own row (and its timeline entry).
struct EventRecord {
  std::string id, member_id, type, channel;
  std::optional<std::string> store, order_id;
  TimePoint occurred_at{}, recorded_at{};
  std::int64_t program_version = 0;
  std::string api_key_id;
  std::optional<std::int64_t> total_minor;
  std::optional<std::string> original_event_id;
  Points points_awarded = 0;  // what a refund may take back (challenge rewards excluded)
  nlohmann::json body = nlohmann::json::object();
  // Plan::experiments as stored: {"<campaign>": {"arm": …, "points": …, "coupons": …,
  // "withheld_points": …, "withheld_coupons": …}}; null when the event was in none.
  nlohmann::json experiments;
};

// An experiment campaign the event (or an event it caused) was in scope of: the member's arm,
// what the campaign gave, and what it held back from a control member.
struct ExperimentExposure {
  std::string arm;
  Points points = 0, withheld_points = 0;
  std::int64_t coupons = 0, withheld_coupons = 0;
};

// What an event did to a referral: the member's open one completed, refused or expired; or the
// one its refunded purchase qualified, reversed. A completed or reversed referral goes on with an
// event for each side (side_request), decided after this one in the same transaction.
struct ReferralStep {
  enum class Kind { completed, refused, expired, reversed };
  Kind kind = Kind::completed;
  std::string id, reason;  // reason: refused, expired, reversed
  std::string referrer_id, referee_id;
  std::optional<TimePoint> hold_until;  // completed
  // Reversed: the two referral_completed events whose points come back.
  std::string referrer_event_id, referee_event_id;
  rules::Event cause;  // the event that completed or reversed it (side events take its place)
};

// An effect of a campaign's rule, as counted (Request::render false).
struct RuleEffect {
  rules::EffectKind kind = rules::EffectKind::award;
  std::string campaign, rule;
  Points points = 0;  // an award's
};

struct Plan {
  std::string member_id;
  std::optional<Reversal> refund;
  std::vector<Redemption> redemptions;  // in the basket's order
  std::vector<CouponIssue> issues;
  std::vector<Write> writes;
  std::vector<NewContribution> contributions;
  // Counters the event moves, each with the cap it may reach ("limit:…", "budget:…").
  std::map<std::string, std::int64_t> counter_increments, counter_caps;
  MemberUpdate member;
  EventRecord record;
  std::map<std::string, ExperimentExposure> experiments;  // by campaign
  // Leaderboards: points earned now, and points taken back off the purchase's periods.
  Points leaderboard_points = 0, leaderboard_reversed = 0;

  std::optional<ReferralStep> referral;
  // The member as this event leaves it: what an event decided after it in the same transaction
  // (a referral's side event) starts from.
  MemberState state_after;

  // The response.
  nlohmann::json effects = nlohmann::json::array();
  ledger::Balances balances;
  std::optional<std::string> tier;
  std::vector<rules::TraceEntry> trace;  // with Request::with_trace
  // Rules a limit or budget stopped, of this event and those it caused (reason, no detail).
  std::vector<rules::TraceEntry> stopped;
  // With Request::render false, in place of `effects`: the effects of campaigns' rules.
  std::vector<RuleEffect> rule_effects;
};

// Why an event is refused: a stable code (the API maps each to its HTTP status in one table),
// a detail for people, and the field it is about.
struct Refusal {
  Refusal() = default;
  Refusal(std::string c, std::string d, std::string f = {}, std::string m = {},
          nlohmann::json e = nlohmann::json::object())
      : code(std::move(c)),
        detail(std::move(d)),
        field(std::move(f)),
        field_message(std::move(m)),
        extra(std::move(e)) {}
  std::string code, detail;
  std::string field, field_message;                 // empty when about no one field
  nlohmann::json extra = nlohmann::json::object();  // more members of the problem
};

}  // namespace circolo::engine::event
