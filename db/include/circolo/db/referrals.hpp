#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <soci/soci.h>
#include <nlohmann/json.hpp>

#include "circolo/engine/clock.hpp"
#include "circolo/engine/event/inputs.hpp"
#include "circolo/engine/event/plan.hpp"
#include "circolo/rules/evaluate.hpp"

// Referrals: members' codes, referrals started by enrolments, their progress with the events
// that complete or reverse them, and what the API and reports read of them.
namespace circolo::db::referrals {

// The member's code, made (with `draw`, drawn again on a collision) the first time it is asked.
std::string code_of(soci::session& sql, const std::string& member_id, engine::TimePoint now,
                    const std::function<std::string()>& draw);
// The member a code belongs to, merges followed, with the members merged into it.
struct CodeOwner {
  std::string member_id;
  std::vector<std::string> merged_ids;
};
std::optional<CodeOwner> owner_of_code(soci::session& sql, const std::string& code);

struct Referral {
  std::string id, code, referrer_id, referee_id, channel, api_key_id, state;
  std::optional<std::string> event_id, reason, qualifying_event_id, referrer_event_id,
      referee_event_id;
  engine::TimePoint started_at{};
  std::optional<engine::TimePoint> ended_at, hold_until, reversed_at;
};
nlohmann::json to_json(const Referral& referral);

// Records a referral (started, or refused with `reason`) of `referee` by the code's member, on
// both timelines; a started one is the referee's open referral and publishes referral.started.
Referral start(soci::session& sql, const std::string& id, const std::string& code,
               const CodeOwner& referrer, const std::string& referee,
               const std::optional<std::string>& reason, const std::string& channel,
               const std::string& api_key_id, const std::optional<std::string>& event_id,
               engine::TimePoint now);

// The member's open referral (none: not open any more), its referrer found (merges followed);
// with `lock`, the referrer locked (its lock, then its row) and its completed referrals counted
// in the period of the program's limit containing `now`.
std::optional<engine::event::OpenReferral> open(soci::session& sql, const std::string& id,
                                                const rules::CompiledProgram& program,
                                                engine::TimePoint now, bool lock);
// The completed referral a purchase qualified, if any.
std::optional<engine::event::QualifiedReferral> qualified_by(soci::session& sql,
                                                             const std::string& purchase_id);

// Stores what an event did to a referral: `cause` is the event (qualifying purchase, refund);
// for a completed one, the ids of both sides' referral_completed events.
void record_step(soci::session& sql, const engine::event::ReferralStep& step,
                 const std::string& cause_event_id, const std::string& referee_event_id,
                 const std::string& referrer_event_id, engine::TimePoint now);

// After a merge of `from` into `into`: an open referral of either is refused (self_referral or
// already_member, engine::referrals::refusal_on_merge).
void after_merge(soci::session& sql, const std::string& into, const std::string& from,
                 engine::TimePoint now);

// A member's referrals, as referrer and as referee, its own and those of the members merged
// into it (newest first, at most 500).
std::vector<Referral> of_member(soci::session& sql, const std::string& member_id);
// The referrals a member (or one merged into it) brought, by state.
std::map<std::string, long long> counts(soci::session& sql, const std::string& member_id);
// Whether the referee has an identifier the referrer (or a member merged into it) unlinked once:
// the same person coming back under a "new" account.
bool shares_identifier(soci::session& sql, const CodeOwner& referrer, const std::string& referee);
// The referral of this referee by this referrer recorded already, if any (a request sent twice
// under different keys records it once).
std::optional<Referral> recorded(soci::session& sql, const std::string& referee,
                                 const std::string& referrer);

// Referrals started in [from, until): counts by state and refusal reason, completed and
// reversed ones, the points referral_completed events gave (net of reversals), per referrer (the
// most successful first) and per local day of `time_zone`. Started ones begun before
// `expired_before` count as expired (they are marked so at the referee's next event).
nlohmann::json report(soci::session& sql, engine::TimePoint from, engine::TimePoint until,
                      const std::optional<engine::TimePoint>& expired_before,
                      const std::string& time_zone);

}  // namespace circolo::db::referrals
