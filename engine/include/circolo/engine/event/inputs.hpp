#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "circolo/engine/challenges.hpp"
#include "circolo/engine/clock.hpp"
#include "circolo/engine/consent.hpp"
#include "circolo/engine/coupons.hpp"
#include "circolo/engine/interests.hpp"
#include "circolo/engine/ledger.hpp"
#include "circolo/engine/refunds.hpp"
#include "circolo/rules/evaluate.hpp"

// What the decision of one event takes: the request, and the state that db/ loads for it (the
// member's locked state, a refund's purchase, the basket's coupons), as plain values.
namespace circolo::engine::event {

// What the decision knows of a member.
struct Member {
  std::string id;
  std::optional<std::string> tier;  // none: below every tier (or before any program)
  std::vector<std::string> tags;
  TimePoint joined{};
  std::int64_t purchases = 0, lifetime_points = 0;
  std::optional<rules::Date> birthday;
  rules::Attributes attributes;
  std::optional<std::string> merged_into;
  consent::Consents consents;         // marketing notifications go only where the member agreed
  interests::Profile interests;       // kept for members who agreed to profiling
  std::vector<std::string> segments;  // sorted: dynamic ones the program keeps, static uploads
  // Its per-member limit counters ("limit:…/member:<id>/<period>", member_counter), kept on its
  // row: read with it, exact under its lock; a key it lacks counts 0.
  std::map<std::string, std::int64_t> limits;
};

struct MemberState {
  Member member;
  ledger::Balances balances;
  std::vector<std::string> badges;  // in the order they were granted
  // Qualifying points (earned by events, net of reversals) in each program tier's window, in
  // the order of rules::CompiledProgram::tiers().
  std::vector<ledger::Points> qualifying;
  // The member's stored state of each challenge it progressed in, with the contributions that
  // can still matter (its window).
  std::map<std::string, challenges::State> challenges;
};

// A contribution of a refunded purchase to a challenge round still open.
struct OpenContribution {
  std::string challenge;
  int round = 0;
  std::string key;
  bool explicit_progress = false;
  std::int64_t amount = 0;
  friend bool operator==(const OpenContribution&, const OpenContribution&) = default;
};

// The referral a refunded purchase qualified, completed: a full refund within its hold takes it
// back, with the points of both sides' referral_completed events.
struct QualifiedReferral {
  std::string id, referrer_id;  // referrer: merges followed
  std::string referrer_event_id, referee_event_id;
  TimePoint hold_until{};
};

// The purchase a refund names, locked, with what taking its points back needs.
struct RefundedPurchase {
  std::string event_id;
  std::string member_id;  // its member now (merges followed)
  TimePoint recorded_at{};
  refunds::Purchase purchase;
  // The member's lots that still hold points and the purchase's used-up ones (a challenge's
  // reward lots carry no source event: a refund does not take them back).
  std::vector<ledger::Lot> lots;
  std::vector<OpenContribution> contributions;
  // The return receipts of its earlier refunds (those sent with an order_id): a receipt is
  // recorded once per channel and store, as a purchase's is.
  struct Receipt {
    std::string channel, store, order_id;  // store "" when none
    friend bool operator==(const Receipt&, const Receipt&) = default;
  };
  std::vector<Receipt> refund_receipts;
  std::optional<QualifiedReferral> referral;
};

// The member's referral still open (started), with what deciding its completion needs.
struct OpenReferral {
  std::string id;
  std::string referrer_id;  // merges followed
  std::vector<std::string> referrer_merged_ids;
  TimePoint started_at{};
  // Referrals the referrer completed in the period of the program's referral limit that
  // contains the request's `now` (all of them for a limit without a period).
  std::int64_t referrer_completed = 0;
  // Read under the referrer's lock, with referrer_completed counted. The event path reads the
  // referral without it first, and only when the event would complete it locks, counts and
  // decides again: a referee's everyday purchases never wait for its referrer.
  bool counted = false;
};

// A side event of a referral, made by Circolo: "referral_completed" (the rules run for the
// member) or "referral_reversed" (the points of that member's referral_completed event back).
inline constexpr const char* kReferralCompleted = "referral_completed";
inline constexpr const char* kReferralReversed = "referral_reversed";

// A code named in a purchase's basket, as stored, read under its row lock.
struct BasketCoupon {
  std::string code;    // canonical
  bool found = false;  // false: no such code (or not even shaped like one)
  std::string coupon;  // its template
  int digits = 2;
  coupons::CodeState state;                // held_by_member follows own_hold_id
  std::optional<std::string> own_hold_id;  // the member's reservation, taken by the use
};

// Draws a new id with a prefix ("rdm" → "rdm_…"): random in the server, a counter in tests.
using NewId = std::function<std::string(std::string_view prefix)>;

// The event to decide, as the API validated it.
struct Request {
  std::string event_id, api_key_id;
  TimePoint now{};
  std::int64_t program_version = 0;
  rules::Event event;  // total as sent: decide makes it what is paid (subtotal, discount)
  std::optional<std::string> order_id;
  std::optional<std::int64_t> total_minor;  // as sent (a refund: the amount it asks to give back)
  std::optional<std::string> original_event_id;
  std::vector<refunds::Line> refund_items;
  // A refund that also names its member: the member must be the purchase's.
  std::optional<std::string> named_member_id;
  nlohmann::json record = nlohmann::json::object();  // the event as stored, amounts as strings
  std::set<std::string> paused;                      // campaigns an admin paused
  bool enrolled = false;    // the member was enrolled by this event (load did it)
  bool with_trace = false;  // simulate: the rules' trace of the event itself
  // Backtests (false): the same decision, but what the rules and challenges did is not written
  // out (their effects, outgoing events and progress reports in JSON); Plan::rule_effects lists
  // the rules' effects instead.
  bool render = true;
  // Simulate redeems nothing: the codes it loads (as they stand) only take their discounts off.
  bool redeem_coupons = true;
  // No event can be dated before it (the API's offline window, with a day's margin): the
  // member's limit counters of periods that ended before it are forgotten when the event writes
  // them.
  TimePoint limits_from{};
  NewId new_id;
};

struct Inputs {
  MemberState member;
  std::optional<RefundedPurchase> refund;
  // In the order of request.event.coupons; simulate may leave them out (then nothing comes off).
  std::vector<BasketCoupon> coupons;
  std::optional<OpenReferral> referral;
};

// Limit firings and campaign budgets, by key ("limit:KEY", "budget:CAMPAIGN"): the only state
// the decision asks for while deciding, since which counters matter depends on what fires. The
// event path reads (or locks) them in its transaction, simulate reads them, tests fill a map.
class CounterSource {
 public:
  virtual ~CounterSource() = default;
  // The values of `keys` (sorted); a counter without a row is left out.
  virtual std::map<std::string, std::int64_t> read(const std::vector<std::string>& keys) = 0;
  // Counters known before the rules run (the event path reads the program's budgets with the
  // member): every key listed, 0 for a counter without a row. The rules then run once.
  virtual std::map<std::string, std::int64_t> primed() const { return {}; }
};

// Counters held in memory: tests and backtests.
class MapCounters final : public CounterSource {
 public:
  MapCounters() = default;
  explicit MapCounters(std::map<std::string, std::int64_t> values) : values_(std::move(values)) {}
  std::map<std::string, std::int64_t> read(const std::vector<std::string>& keys) override;
  std::map<std::string, std::int64_t>& values() { return values_; }
  std::vector<std::string> asked;  // every key read, in order

 private:
  std::map<std::string, std::int64_t> values_;
};

std::string limit_counter(const std::string& key);
std::string budget_counter(const std::string& campaign);
// Whether `counter` (a limit_counter) is one of `member_id`'s own limits ("limit … per member"),
// which the member's row keeps (Member::limits) rather than a counter of its own.
bool member_counter(std::string_view counter, std::string_view member_id);
// `limits` without the counters of periods that ended before `from`: no event can count in them
// any more. Counters of every period ("ever") stay.
std::map<std::string, std::int64_t> current_limits(const rules::CompiledProgram& program,
                                                   std::map<std::string, std::int64_t> limits,
                                                   TimePoint from);

}  // namespace circolo::engine::event
