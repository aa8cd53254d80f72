// POST /v1/events, the stages after parsing: load (db::event), decide (engine::event), apply
// (db::event), render. No domain decision here.
#include <map>

#include "circolo/api/auth.hpp"
#include "circolo/api/events.hpp"
#include "circolo/api/link_codes.hpp"
#include "circolo/api/members.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/api/referrals.hpp"
#include "circolo/db/members.hpp"
#include "circolo/db/referrals.hpp"

namespace circolo::api {

using nlohmann::json;

void throw_refusal(const engine::event::Refusal& r) {
  using http::status;
  static const std::map<std::string, status> kStatus = {
      {"unknown_member", status::not_found},
      {"member_merged", status::gone},
      {"unknown_original_event", status::unprocessable_entity},
      {"not_refundable", status::unprocessable_entity},
      {"member_mismatch", status::unprocessable_entity},
      {"nothing_to_refund", status::unprocessable_entity},
      {"refund_exceeds_purchase", status::conflict},
      {"duplicate_order", status::conflict},
      {"unknown_item", status::unprocessable_entity},
      {"unknown_coupon", status::not_found},
      {"unknown_coupon_template", status::not_found},
      {"coupon_already_redeemed", status::conflict},
      {"coupon_expired", status::unprocessable_entity},
      {"coupon_not_owned", status::unprocessable_entity},
      {"channel_not_allowed", status::unprocessable_entity},
      {"min_total_not_met", status::unprocessable_entity},
      {"unknown_tier", status::unprocessable_entity},
      {"identifiers_conflict", status::conflict},
      {"unknown_link_code", status::not_found},
      {"link_code_expired", status::unprocessable_entity},
      {"link_code_used", status::conflict},
  };
  const auto it = kStatus.find(r.code);
  if (it == kStatus.end()) throw std::logic_error("a refusal without a status: " + r.code);
  std::vector<FieldError> errors;
  if (!r.field.empty()) errors.push_back({r.field, r.field_message});
  throw ApiError(it->second, r.code, r.detail, std::move(errors), r.extra);
}

// The event's profile patch, on the member it names (locked by the load), before the decision:
// the event's own rules see it (a sign-up's birthday or newsletter attribute).
void update_profile(soci::session& sql, const ProfilePatch& patch,
                    engine::event::MemberState& state, const EventContext& ctx,
                    const IncomingEvent& in) {
  const std::string member_id = state.member.id;
  auto member = db::members::find(sql, member_id);
  if (!member) throw std::logic_error("the event's member is missing");
  const auto changed = apply_profile_patch(member->profile, patch);
  if (changed.empty()) return;
  db::members::update_profile(sql, member_id, member->profile);
  db::event::see_profile(state, member->profile);
  db::TimelineEntry entry;
  entry.member_id = member_id;
  entry.type = "profile.updated";
  entry.channel = in.event.channel;
  entry.occurred_at = ctx.now;
  entry.recorded_at = ctx.now;
  entry.data = {{"fields", changed}, {"key", ctx.api_key_id}, {"event_id", ctx.event_id}};
  db::members::timeline_append(sql, entry);
}

engine::event::Request decision_request(const IncomingEvent& in, const EventContext& ctx) {
  engine::event::Request r;
  r.event_id = ctx.event_id;
  r.api_key_id = ctx.api_key_id;
  r.now = ctx.now;
  r.limits_from = ctx.limits_from;
  r.program_version = ctx.program_version;
  r.event = in.event;
  r.order_id = in.order_id;
  r.total_minor = in.total_minor;
  r.original_event_id = in.original_event_id;
  r.refund_items = in.refund_items;
  r.record = in.record;
  if (ctx.paused) r.paused = *ctx.paused;
  r.new_id = [](std::string_view prefix) { return new_id(prefix); };
  return r;
}

db::events::MemberStateRead member_read_ahead(const IncomingEvent& in, const EventContext& ctx,
                                              const db::events::ClaimOf& claim) {
  return db::event::member_read(*ctx.program, in.member_id, in.identifier, ctx.now, claim);
}

json render_event(const engine::event::Plan& plan, const EventContext& ctx, bool enrolled) {
  json response{
      {"event_id", ctx.event_id},
      {"member_id", plan.member_id},
      {"effects", plan.effects},
      {"points", {{"available", plan.balances.available}, {"pending", plan.balances.pending}}},
      {"tier", plan.tier ? json(*plan.tier) : json(nullptr)},
      {"program_version", ctx.program_version}};
  if (enrolled) response["enrolled"] = true;
  return response;
}

// A referral code on an enrolling event: the referral starts (or is refused with its reason)
// before the decision, so that the enrolling purchase itself can complete it.
void begin_referral(soci::session& sql, const std::string& code, db::event::Loaded& loaded,
                    const EventContext& ctx, const IncomingEvent& in) {
  const auto started = start_referral(sql, code, loaded.inputs.member.member.id, loaded.enrolled,
                                      in.event.channel, ctx.api_key_id, ctx.event_id, ctx.now);
  if (started && db::event::could_qualify(*ctx.program, in.event.type))
    loaded.inputs.referral =
        db::referrals::open(sql, *started, *ctx.program, ctx.now, /*lock=*/false);
}

// A side event of a referral for one member, decided after the events before it in the
// transaction (their counter increments seen) and applied with them.
engine::event::Plan decide_side(soci::session& sql, db::Batch& batch, const EventContext& ctx,
                                const engine::event::Request& request,
                                const engine::event::Inputs& inputs,
                                engine::event::LayeredCounters& counters,
                                const std::set<std::string>& absent) {
  auto decision = engine::event::decide(*ctx.program, request, inputs, counters);
  // The checker makes a side event's refusal impossible (its rules name what the program has):
  // never the customer's purchase refused for it.
  if (auto* refusal = std::get_if<engine::event::Refusal>(&decision))
    throw std::logic_error("a referral's side event was refused: " + refusal->code);
  auto& plan = std::get<engine::event::Plan>(decision);
  db::event::apply(sql, batch, plan, *ctx.program, ctx.now, absent, [](const db::SqlError&) {
    throw std::logic_error("a referral's side event collided with a receipt");
  });
  counters.add(plan);
  return std::move(plan);
}

// What the event did to a referral, carried on: both sides' referral_completed events (the
// rules give each its rewards), or their reversal. The referee's side shows in the response.
void follow_referral(soci::session& sql, db::Batch& batch, const EventContext& ctx,
                     const engine::event::Request& cause, engine::event::Plan& plan,
                     db::event::TransactionCounters& stored) {
  using Kind = engine::event::ReferralStep::Kind;
  const auto& step = *plan.referral;
  if (step.kind == Kind::refused || step.kind == Kind::expired) {
    db::referrals::record_step(sql, step, ctx.event_id, "", "", ctx.now);
    return;
  }
  engine::event::LayeredCounters counters(stored);
  counters.add(plan);
  const bool completed = step.kind == Kind::completed;
  // Completed: the two referral_completed events, new. Reversed: the two events reversing them.
  const std::string referee_event = completed ? new_id("ev") : step.referee_event_id;
  const std::string referrer_event = completed ? new_id("ev") : step.referrer_event_id;
  const std::string referee_side = completed ? referee_event : new_id("ev");
  const std::string referrer_side = completed ? referrer_event : new_id("ev");
  // The side's member as the transaction has it: the referrer (locked by the load) read now; a
  // reversal with the event it reverses.
  const auto side_inputs = [&](const std::string& member, const std::string& reversed,
                               const std::string& event_id) {
    db::event::LoadRequest load;
    load.program = ctx.program;
    load.now = ctx.now;
    load.event_id = event_id;
    load.channel = step.cause.channel;
    load.occurred_at = step.cause.time;
    load.api_key_id = ctx.api_key_id;
    load.side_event = !completed;
    if (completed)
      load.member_id = member;
    else
      load.original_event_id = reversed;
    auto loaded = db::event::load(sql, load);
    if (auto* refusal = std::get_if<engine::event::Refusal>(&loaded)) {
      // Merged by an admin since the referral was read: decide again, on the survivor.
      if (refusal->code == "member_merged") throw db::RetryTransaction("referral member merged");
      throw std::logic_error("a referral's member cannot be loaded: " + refusal->detail);
    }
    return std::move(std::get<db::event::Loaded>(loaded).inputs);
  };
  // The referee's side starts from the state the cause left (its writes are not read back).
  engine::event::Inputs referee;
  if (!completed) referee = side_inputs(step.referee_id, referee_event, referee_side);
  referee.member = plan.state_after;
  const auto referee_plan =
      decide_side(sql, batch, ctx, engine::event::side_request(cause, step, false, referee_side),
                  referee, counters, stored.absent());
  const auto referrer = side_inputs(step.referrer_id, referrer_event, referrer_side);
  decide_side(sql, batch, ctx, engine::event::side_request(cause, step, true, referrer_side),
              referrer, counters, stored.absent());
  db::referrals::record_step(sql, step, ctx.event_id, referee_event, referrer_event, ctx.now);
  for (const auto& effect : referee_plan.effects) plan.effects.push_back(effect);
  plan.balances = referee_plan.balances;
  plan.tier = referee_plan.tier;
}

json run_event(soci::session& sql, const IncomingEvent& in, const EventContext& ctx,
               db::Batch& batch, const std::vector<db::Row>* prefetched) {
  const auto& program = *ctx.program;
  db::event::LoadRequest load;
  load.program = &program;
  load.now = ctx.now;
  load.event_id = ctx.event_id;
  load.member_id = in.member_id;
  load.identifier = in.identifier;
  load.identifiers = in.identifiers;
  load.link_code_digest = in.link_code_digest;
  load.link = in.link;
  load.api_key_id = ctx.api_key_id;
  load.enroll = in.enroll;
  if (in.enroll) load.enrol_as = new_id("mem");
  load.channel = in.event.channel;
  load.event_type = in.event.type;
  load.occurred_at = in.event.time;
  load.original_event_id = in.original_event_id;
  load.coupons = in.event.coupons;
  auto loaded = db::event::load(sql, load, prefetched);
  if (auto* refusal = std::get_if<engine::event::Refusal>(&loaded)) throw_refusal(*refusal);
  auto& inputs = std::get<db::event::Loaded>(loaded);
  if (in.profile) update_profile(sql, *in.profile, inputs.inputs.member, ctx, in);
  if (in.referral_code) begin_referral(sql, *in.referral_code, inputs, ctx, in);

  auto request = decision_request(in, ctx);
  request.named_member_id = inputs.named_member_id;
  request.enrolled = inputs.enrolled;
  db::event::TransactionCounters counters(sql, ctx.lock_counters_first, inputs.counters);
  auto decision = engine::event::decide(program, request, inputs.inputs, counters);
  if (auto* refusal = std::get_if<engine::event::Refusal>(&decision)) throw_refusal(*refusal);
  // The event completes the member's referral: decided again with its referrer locked and its
  // cap counted (rare, so a referee's other events never wait for the referrer).
  if (const auto& open = inputs.inputs.referral; open && !open->counted) {
    const auto& step = std::get<engine::event::Plan>(decision).referral;
    if (step && step->kind == engine::event::ReferralStep::Kind::completed) {
      inputs.inputs.referral = db::referrals::open(sql, open->id, program, ctx.now, /*lock=*/true);
      if (!inputs.inputs.referral) throw db::RetryTransaction("the referral changed meanwhile");
      decision = engine::event::decide(program, request, inputs.inputs, counters);
      if (auto* refusal = std::get_if<engine::event::Refusal>(&decision)) throw_refusal(*refusal);
    }
  }
  auto& plan = std::get<engine::event::Plan>(decision);

  // A receipt (a purchase's, or a refund's return receipt) is recorded once per channel and
  // store: the unique indexes events_purchase_order and events_refund_order.
  const std::string order_id = in.order_id.value_or("");
  const std::string what = in.event.type == "refund" ? "a refund" : "a purchase";
  db::event::apply(
      sql, batch, plan, program, ctx.now, counters.absent(), [order_id, what](const db::SqlError&) {
        throw ApiError(
            http::status::conflict, "duplicate_order",
            what + " with order_id " + order_id + " was already recorded on this channel and store",
            {{"order_id", "was already recorded"}});
      });
  if (plan.referral) follow_referral(sql, batch, ctx, request, plan, counters);
  return render_event(plan, ctx, inputs.enrolled);
}

}  // namespace circolo::api
