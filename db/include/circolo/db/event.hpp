#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include <soci/soci.h>

#include "circolo/db/batch.hpp"
#include "circolo/db/events.hpp"
#include "circolo/db/query.hpp"
#include "circolo/engine/event/inputs.hpp"
#include "circolo/engine/event/plan.hpp"
#include "circolo/engine/identity.hpp"
#include "circolo/rules/evaluate.hpp"

// One event's database work around engine::event::decide: load what the decision needs (the
// member's locked state, a refund's purchase, the basket's codes) in as few round trips as it
// can, and apply the plan in the same transaction.
namespace circolo::db::event {

// The read that finds, locks and reads a member (by id or, exclusively, identifier) with the
// windows of the program's tiers and challenges; with `claim`, only when that Idempotency-Key
// claim is fresh. Sent ahead with BEGIN on the event path. `lock` false: simulate's read.
events::MemberStateRead member_read(const rules::CompiledProgram& program,
                                    const std::optional<std::string>& member_id,
                                    const std::optional<engine::Identifier>& identifier,
                                    engine::TimePoint now,
                                    const std::optional<events::ClaimOf>& claim = std::nullopt,
                                    bool lock = true);

// A member's state as the decision sees it.
engine::event::MemberState domain_state(const events::MemberState& stored);

struct LoadRequest {
  const rules::CompiledProgram* program = nullptr;
  engine::TimePoint now{};
  std::string event_id;
  std::optional<std::string> member_id;
  std::optional<engine::Identifier> identifier;
  // Several identifiers and/or a link code (its digest): resolved to one member (or a conflict)
  // before the member is read; identifiers nobody owns are linked when `link` or with a code.
  std::vector<engine::Identifier> identifiers;
  std::optional<std::string> link_code_digest;
  bool link = false;
  bool enroll = false;
  std::string enrol_as;    // the id of a member enrolled by this event
  std::string api_key_id;  // who sent it: recorded with identifiers it links
  std::string channel;
  std::string event_type;           // what it is: only some can complete a referral
  engine::TimePoint occurred_at{};  // an offline POS enrols as of the purchase
  std::optional<std::string> original_event_id;
  std::vector<std::string> coupons;  // canonical codes of the basket
  // A referral's side event reversing a referral_completed event (original_event_id).
  bool side_event = false;
};

struct Loaded {
  engine::event::Inputs inputs;
  // Counters read with the member (the program's budgets), nullopt for one without a row: what
  // TransactionCounters is primed with.
  std::map<std::string, std::optional<std::int64_t>> counters;
  bool enrolled = false;
  std::optional<std::string> named_member_id;  // a refund naming its member: who that is
};

// Whether an event of this type can complete a referral under the program (its `qualify`
// trigger): only then does the load lock the referrer and count its cap.
bool could_qualify(const rules::CompiledProgram& program, const std::string& event_type);

// A stored attributes object (a member's profile, an event's body) as the rules see it; what a
// stored value cannot be is left out.
rules::Attributes attributes_of(const nlohmann::json& stored);

// The member's profile as the rules see it (birthday, attributes), after the event changed it.
void see_profile(engine::event::MemberState& state, const Profile& profile);

// Loads (locking the member, a refund's purchase and the basket's codes, each in a fixed order)
// and enrols a new member when asked. `prefetched`: the rows of member_read, sent ahead. Throws
// RetryTransaction when a concurrent request enrolled the same identifier a moment ago.
std::variant<Loaded, engine::event::Refusal> load(soci::session& sql, const LoadRequest& request,
                                                  const std::vector<Row>* prefetched = nullptr);

// The basket's codes as they stand, read without locks (simulate: what they would take off).
std::vector<engine::event::BasketCoupon> basket_as_it_stands(soci::session& sql,
                                                             const std::vector<std::string>& codes,
                                                             const std::string& member_id,
                                                             engine::TimePoint now);

// Counters read in the event's transaction: without locks (settled at commit), or locked first
// on a retry. Remembers the keys without a row, which the settlement creates.
class TransactionCounters final : public engine::event::CounterSource {
 public:
  TransactionCounters(soci::session& sql, bool lock_first,
                      const std::map<std::string, std::optional<std::int64_t>>& primed = {});
  std::map<std::string, std::int64_t> read(const std::vector<std::string>& keys) override;
  std::map<std::string, std::int64_t> primed() const override { return primed_; }
  const std::set<std::string>& absent() const { return absent_; }

 private:
  soci::session& sql_;
  bool lock_first_;
  std::map<std::string, std::int64_t> primed_;  // read with the member (Loaded::counters)
  std::set<std::string> absent_;
};

// Counters read without locks, nothing remembered: simulate. `primed`: those read with the
// member (events::MemberState::counters).
class ReadCounters final : public engine::event::CounterSource {
 public:
  explicit ReadCounters(soci::session& sql,
                        const std::map<std::string, std::optional<std::int64_t>>& primed = {});
  std::map<std::string, std::int64_t> read(const std::vector<std::string>& keys) override;
  std::map<std::string, std::int64_t> primed() const override { return primed_; }

 private:
  soci::session& sql_;
  std::map<std::string, std::int64_t> primed_;
};

// Applies the plan in the caller's transaction: what needs an answer at once (a refund's
// reversal, the basket's redemptions, new codes, whose symbols are written into the plan's
// effects) on `sql`, the rest into `batch`, sent with COMMIT. A purchase whose order was
// recorded already fails the commit; `on_duplicate` is called after the rollback.
void apply(soci::session& sql, Batch& batch, engine::event::Plan& plan,
           const rules::CompiledProgram& program, engine::TimePoint now,
           const std::set<std::string>& absent_counters,
           std::function<void(const SqlError&)> on_duplicate);

}  // namespace circolo::db::event
