#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <soci/soci.h>
#include <nlohmann/json.hpp>

#include "circolo/api/http.hpp"
#include "circolo/api/programs.hpp"
#include "circolo/db/batch.hpp"
#include "circolo/db/events.hpp"
#include "circolo/db/members.hpp"
#include "circolo/engine/identity.hpp"
#include "circolo/engine/refunds.hpp"
#include "circolo/rules/evaluate.hpp"

// POST /v1/events: a touchpoint event (purchase, refund, visit, signup, custom) validated, then
// applied with all its effects in one transaction.
namespace circolo::api {

class App;

struct EventPolicy {
  // How old an event may be (offline POS catching up) and how far in the future a touchpoint's
  // clock may run ahead of ours.
  std::chrono::seconds offline_window = std::chrono::hours(24 * 30);
  std::chrono::seconds clock_skew = std::chrono::minutes(5);
};

// The validated request: what the rules see, who it is for, and what is stored.
struct IncomingEvent {
  rules::Event event;
  std::optional<std::string> member_id;
  std::optional<engine::Identifier> identifier;
  bool enroll = false;
  std::optional<std::string> order_id;
  std::optional<long long> total_minor;
  // Refunds: the purchase, and either an amount (total_minor) or items.
  std::optional<std::string> original_event_id;
  std::vector<engine::refunds::Line> refund_items;
  nlohmann::json record = nlohmann::json::object();  // the event as stored, amounts as strings
};

// Throws ApiError 422 listing every bad field. `channel` is the caller's: a touchpoint key's
// channel, or for an admin key the body's "channel" (required then).
IncomingEvent parse_incoming_event(const nlohmann::json& body,
                                   const rules::CompiledProgram& program, engine::TimePoint now,
                                   const Principal& caller, const EventPolicy& policy);

struct EventContext {
  std::string event_id;
  std::string api_key_id;
  engine::TimePoint now{};
  long long program_version = 0;
  const rules::CompiledProgram* program = nullptr;
  const std::set<std::string>* paused = nullptr;
  // Counters are read without locks and settled at the end (hot budget rows are held only
  // until commit); a retry after a counter moved past a cap locks them before deciding.
  bool lock_counters_first = false;
};

// Applies the event in the caller's transaction: resolves (or enrols) the member, takes back a
// refund's points, evaluates the program with exact limit and budget counters, applies every
// effect, recomputes the tier, and records the event. Returns the 201 response body; refusals
// throw ApiError (the caller rolls back).
// The writes whose results are not needed (awards, notifications, the event record, the counter
// settlement) go into `batch`, sent with COMMIT in one round trip; a counter that another event
// moved past this one's decisions then fails the commit with a retryable error.
// `prefetched`: the rows of member_state_read(incoming, context), when sent ahead with BEGIN.
nlohmann::json apply_event(soci::session& sql, const IncomingEvent& incoming,
                           const EventContext& context, db::Batch& batch,
                           const std::vector<db::Row>* prefetched = nullptr);
// The read that finds, locks and reads the event's member (by id or identifier), with the
// windows of the context's program; with `claim`, only when that Idempotency-Key claim is fresh.
db::events::MemberStateRead member_state_read(
    const IncomingEvent& incoming, const EventContext& context,
    const std::optional<db::events::ClaimOf>& claim = std::nullopt);

// Reads limit and budget counters by key ("limit:KEY", "budget:CAMPAIGN"): their values, the
// keys without a row left out.
using CounterRead =
    std::function<std::map<std::string, long long>(const std::vector<std::string>&)>;
// Evaluates `event` until every counter the evaluation would move is known (`known`: the keys
// read so far), reading the missing ones with `read` into `counters`: the rules then fire, or
// are refused for `limit` or `budget`, as the counters stand. The event path reads (or locks)
// them in its transaction; simulate reads them so that it shows what an event would do now.
rules::Evaluation evaluate_knowing_counters(const rules::CompiledProgram& program,
                                            const rules::Event& event,
                                            const rules::MemberSnapshot& member,
                                            rules::Counters& counters, std::set<std::string>& known,
                                            bool with_trace, const CounterRead& read);

// What the rules see of a member: its tier (and the tier's multiplier), tags, points, counts,
// profile. The event path and simulate describe members the same way.
rules::MemberSnapshot member_snapshot(const db::Member& member,
                                      const rules::CompiledProgram& program,
                                      long long available_points);

void register_event_routes(App& app, ProgramStore& store, const EventPolicy& policy);

}  // namespace circolo::api
