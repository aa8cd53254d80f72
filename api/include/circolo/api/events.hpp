#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <soci/soci.h>
#include <nlohmann/json.hpp>

#include "circolo/api/http.hpp"
#include "circolo/api/members.hpp"
#include "circolo/api/programs.hpp"
#include "circolo/db/batch.hpp"
#include "circolo/db/event.hpp"
#include "circolo/engine/event/decide.hpp"
#include "circolo/engine/identity.hpp"
#include "circolo/engine/refunds.hpp"
#include "circolo/rules/evaluate.hpp"

// POST /v1/events: a touchpoint event (purchase, refund, visit, signup, custom) flows one way:
// parse (here) → load (db::event) → decide (engine::event) → apply (db::event) → render (here).
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
  // Several identifiers (any finds the member) and/or a link code from the member's app.
  std::vector<engine::Identifier> identifiers;
  std::optional<std::string> link_code;         // as typed
  std::optional<std::string> link_code_digest;  // made by the route (it holds the secret)
  bool enroll = false;
  bool link = false;                         // link the identifiers nobody owns to the member found
  std::optional<ProfilePatch> profile;       // applied to the member in the event's transaction
  std::optional<std::string> referral_code;  // normalised; only with enroll
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
  // A day before the oldest occurred_at accepted (EventPolicy::offline_window and clock_skew
  // before now): limits of periods that ended before it are forgotten
  // (engine::event::Request::limits_from).
  engine::TimePoint limits_from{};
  // Counters are read without locks and settled at the end (hot budget rows are held only
  // until commit); a retry after a counter moved past a cap locks them before deciding.
  bool lock_counters_first = false;
};

// The event in the caller's transaction: loads, decides, applies, and returns the 201 response
// body; a refusal throws ApiError (the caller rolls back). The writes whose results are not
// needed go into `batch`, sent with COMMIT in one round trip; a counter that another event moved
// past this one's decisions then fails the commit with a retryable error.
// `prefetched`: the rows of member_read_ahead(incoming, context), when sent ahead with BEGIN.
nlohmann::json run_event(soci::session& sql, const IncomingEvent& incoming,
                         const EventContext& context, db::Batch& batch,
                         const std::vector<db::Row>* prefetched = nullptr);
// The read of the event's member sent ahead with BEGIN and the Idempotency-Key claim.
db::events::MemberStateRead member_read_ahead(const IncomingEvent& incoming,
                                              const EventContext& context,
                                              const db::events::ClaimOf& claim);

// The decision's request for a validated event.
engine::event::Request decision_request(const IncomingEvent& incoming, const EventContext& context);
// The one table from a refusal's code to its HTTP status; throws the problem.
[[noreturn]] void throw_refusal(const engine::event::Refusal& refusal);
// The 201 body: the event, its member, effects, balances and tier.
nlohmann::json render_event(const engine::event::Plan& plan, const EventContext& context,
                            bool enrolled);

void register_event_routes(App& app, ProgramStore& store, const EventPolicy& policy);

}  // namespace circolo::api
