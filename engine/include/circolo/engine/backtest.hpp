#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "circolo/engine/event/decide.hpp"
#include "circolo/engine/refunds.hpp"

// Backtests: recorded events replayed, in their recorded order, through the same decision as
// live events, with a draft program and members' state held in memory (nothing is written).
// What the draft would have done is compared with what the recorded program versions did (the
// events' recorded effects). Pure: the caller streams the events in.
namespace circolo::engine::backtest {

// A recorded event as the replay needs it (db/ reads them from the events table).
struct Recorded {
  std::string event_id, member_id, api_key_id;
  TimePoint recorded_at{};
  rules::Event event;  // as sent: total is the receipt total, time its occurred_at
  std::optional<std::int64_t> total_minor;
  std::optional<std::string> order_id, original_event_id;
  std::vector<refunds::Line> refund_items;
  // A purchase's basket codes and what each took off, as recorded: the replay takes them as
  // they were (the draft cannot change which codes existed then).
  std::map<std::string, std::int64_t> coupon_discounts;
  nlohmann::json effects = nlohmann::json::array();  // what the recorded version did
};

// What a program did (or would have done), per campaign and rule, per day and per channel.
struct Figures {
  std::int64_t firings = 0, points = 0, coupons = 0, limit_refusals = 0, budget_refusals = 0;
  std::unordered_set<std::uint32_t> members;  // the replay's numbers for member ids
  friend bool operator==(const Figures&, const Figures&) = default;
};
struct Side {
  Figures total;
  std::map<std::string, Figures> campaigns;  // "campaign"
  std::map<std::string, Figures> rules;      // "campaign/rule"
  std::map<std::string, Figures> days;       // local "YYYY-MM-DD"
  std::map<std::string, Figures> channels;
  std::map<std::string, std::string> budget_ran_out;  // campaign -> the local day it did
};
struct Result {
  Side draft, actual;
  std::int64_t events = 0, replayed_before = 0;  // in the period; before it (history)
  std::int64_t refused = 0;  // events the draft refuses (e.g. a refund of more than is left)
  std::map<std::string, std::int64_t> tiers;  // members in each tier at the end ("" none)
  std::int64_t liability = 0;  // draft: points owed at the end (available and pending)
};

// One backtest: feed every recorded event up to `until` in recorded order (those before `from`
// build members' state, as the draft would have made it); then result().
class Replay {
 public:
  Replay(const rules::CompiledProgram& draft, TimePoint from, TimePoint until);
  void add(const Recorded& recorded);
  Result result() const;
  int currency_digits() const { return program_.currency_digits(); }

 private:
  struct Member {
    std::uint32_t number = 0;  // for Figures::members
    event::MemberState state;
    std::vector<ledger::Lot> lots;
    std::vector<std::pair<TimePoint, ledger::Points>> qualifying;  // movements, in time order
    bool seen = false;
  };
  struct Purchase {
    std::string member_id;
    TimePoint recorded_at{};
    refunds::Purchase purchase;
    std::vector<event::RefundedPurchase::Receipt> receipts;
  };
  // Moves the member's state out, with its balances and tier windows as of `now`.
  event::MemberState take_state(Member& m, TimePoint now) const;
  void apply(Member& m, event::Plan& plan, const Recorded& recorded);
  void count(Side& side, const nlohmann::json& effects, const std::vector<rules::TraceEntry>& trace,
             const Recorded& recorded, std::uint32_t member) const;
  std::uint32_t number_of(const std::string& member_id);
  // Contributions too old to count toward their challenge any more (its window, or the periods
  // a streak can reach back to), dropped: a member's state stays the size a live load reads.
  void trim_challenges(event::MemberState& state, TimePoint now) const;

  const rules::CompiledProgram& program_;
  TimePoint from_{}, until_{};
  std::unordered_map<std::string, Member> members_;
  std::unordered_map<std::string, Purchase> purchases_;
  std::unordered_map<std::string, std::uint32_t> numbers_;
  event::MapCounters counters_;
  std::int64_t next_lot_ = 1, next_id_ = 1;
  Result result_;
};

}  // namespace circolo::engine::backtest
