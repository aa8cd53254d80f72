#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "circolo/engine/event/decide.hpp"
#include "circolo/engine/refunds.hpp"

// Backtests: recorded events replayed, in their recorded order, through the same decision as
// live events, with a draft program and members' state held in memory (nothing is written).
// What the draft would have done is compared with what the recorded program versions did (the
// events' recorded effects). Pure: the caller streams the events in.
namespace circolo::engine::backtest {

// An effect as the figures count it: the campaign and rule that caused it, and what it gave.
struct CountedEffect {
  enum class Kind : std::uint8_t { other, points, coupon };
  std::string campaign, rule;  // campaign "" for effects no campaign caused
  Kind kind = Kind::other;
  std::int64_t points = 0;  // Kind::points
  friend bool operator==(const CountedEffect&, const CountedEffect&) = default;
};
// The effects of a response (or of a recorded event) as counted.
std::vector<CountedEffect> counted_effects(const nlohmann::json& effects);
std::vector<CountedEffect> counted_effects(const std::vector<event::RuleEffect>& effects);

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
  std::vector<CountedEffect> effects;  // what the recorded version did
  // A purchase refunded by an event the replay will see (db/ knows; when unsure, true): only
  // those are kept for their refunds.
  bool refunded_later = true;
};

// Members reached, by the replay's numbers for member ids: a bit each (an event touches ten
// sets; a hash set's lookups were a tenth of the replay).
class MemberSet {
 public:
  void insert(std::uint32_t member) {
    const std::size_t word = member / 64;
    if (word >= bits_.size()) bits_.resize(word + 1, 0);
    const std::uint64_t bit = std::uint64_t{1} << (member % 64);
    if (!(bits_[word] & bit)) {
      bits_[word] |= bit;
      ++size_;
    }
  }
  std::size_t size() const { return size_; }
  friend bool operator==(const MemberSet&, const MemberSet&) = default;

 private:
  std::vector<std::uint64_t> bits_;
  std::size_t size_ = 0;
};

// What a program did (or would have done), per campaign and rule, per day and per channel.
struct Figures {
  std::int64_t firings = 0, points = 0, coupons = 0, limit_refusals = 0, budget_refusals = 0;
  MemberSet members;
  friend bool operator==(const Figures&, const Figures&) = default;
};
struct Side {
  Figures total;
  std::map<std::string, Figures> campaigns;  // "campaign"
  std::map<std::string, Figures> rules;      // "campaign/rule"
  std::map<std::string, Figures> days;       // local "YYYY-MM-DD"
  std::map<std::string, Figures> channels;
  std::map<std::string, std::string> budget_ran_out;  // campaign -> the local day it did
  // Budgets burning down (draft): campaign -> local day -> points of its budget used at the end
  // of that day (earlier history included), for the days of the period it had events.
  std::map<std::string, std::map<std::string, std::int64_t>> budget_used;
  friend bool operator==(const Side&, const Side&) = default;
};
struct Result {
  Side draft, actual;
  std::int64_t events = 0, replayed_before = 0;  // in the period; before it (history)
  std::int64_t refused = 0;  // events the draft refuses (e.g. a refund of more than is left)
  std::map<std::string, std::int64_t> tiers;  // members in each tier at the end ("" none)
  std::int64_t liability = 0;  // draft: points owed at the end (available and pending)
  std::map<std::string, std::int64_t> budgets;  // the draft's campaigns with a budget
};

// One backtest: feed every recorded event up to `until` in recorded order (those before `from`
// build members' state, as the draft would have made it); then result().
class Replay {
 public:
  Replay(const rules::CompiledProgram& draft, TimePoint from, TimePoint until);
  void add(Recorded recorded);
  Result result() const;
  int currency_digits() const { return program_.currency_digits(); }

 private:
  struct Member {
    std::uint32_t number = 0;  // for Figures::members
    std::uint32_t events = 0;  // replayed
    event::MemberState state;
    std::vector<ledger::Lot> lots;
    // Points movements in time order, each with the running total up to and including it (a
    // window's sum is two lookups).
    std::vector<std::pair<TimePoint, ledger::Points>> qualifying;
    void qualify(TimePoint at, ledger::Points points) {
      qualifying.emplace_back(at, (qualifying.empty() ? 0 : qualifying.back().second) + points);
    }
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
  template <class Effect>  // CountedEffect (recorded) or event::RuleEffect (the draft's)
  void count(Side& side, const std::vector<Effect>& effects,
             const std::vector<rules::TraceEntry>& trace, const std::string& day,
             const std::string& channel, std::uint32_t member) const;
  // The member's number (and its slot in members_, made on first sight).
  std::uint32_t number_of(const std::string& member_id);
  // Contributions too old to count toward their challenge any more (its window, or the periods
  // a streak can reach back to), dropped: a member's state stays the size a live load reads.
  void trim_challenges(event::MemberState& state, TimePoint now) const;

  const rules::CompiledProgram& program_;
  TimePoint from_{}, until_{};
  std::vector<Member> members_;  // by number
  std::unordered_map<std::string, Purchase> purchases_;
  std::unordered_map<std::string, std::uint32_t> numbers_;
  event::MapCounters counters_;
  std::int64_t next_lot_ = 1, next_id_ = 1;
  Result result_;
};

}  // namespace circolo::engine::backtest
