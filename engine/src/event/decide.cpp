// The decision of one event: refund, basket coupons, the rules, challenges, tiers, the record.
#include "circolo/engine/event/decide.hpp"

#include <algorithm>
#include <utility>

#include "circolo/engine/money.hpp"
#include "circolo/engine/referrals.hpp"
#include "work.hpp"

namespace circolo::engine::event {

namespace {

using detail::Refused;
using detail::Work;
using nlohmann::json;

std::string money_text(std::int64_t minor, int digits) {
  return format_money({minor, digits});
}

Refusal refund_refusal(const refunds::Decision& d) {
  switch (d.refusal) {
    case refunds::Refusal::nothing_to_refund:
      return {"nothing_to_refund",
              "the refund gives nothing back: send a positive total or some items"};
    case refunds::Refusal::exceeds_purchase:
      return {"refund_exceeds_purchase",
              "the refunds of this purchase would exceed what was paid (its total less the "
              "discounts of its coupons)"};
    case refunds::Refusal::unknown_item:
      return {"unknown_item", "the purchase has no item with sku " + d.sku, "items", "unknown sku"};
    case refunds::Refusal::exceeds_quantity:
      return {"refund_exceeds_purchase",
              "more of sku " + d.sku + " would be returned than was bought"};
    case refunds::Refusal::none:
      break;
  }
  throw std::logic_error("a refund refusal without a reason");
}

// Takes back `points` of the event `from` earned (its lots first, then the member's others):
// the balances and qualifying points after it, and the points_reversed effect.
Reversal take_back(Work& w, const RefundedPurchase& from, Points points) {
  const auto now = w.request.now;
  Reversal r;
  r.original_event_id = from.event_id;
  r.points = points;
  r.original_recorded_at = from.recorded_at;
  r.ledger = ledger::plan_reversal(from.lots, from.event_id, points, now);
  auto lots = from.lots;
  for (const auto& draw : r.ledger.draws) {
    for (auto& lot : lots) {
      if (lot.id == draw.lot_id) lot.remaining -= draw.points;
    }
  }
  w.state.balances = ledger::balances(lots, now);
  w.qualifying_added -= r.ledger.taken;
  w.plan.effects.push_back({{"type", "points_reversed"},
                            {"points", r.ledger.taken},
                            {"unrecovered", r.ledger.unrecovered},
                            {"original_event_id", from.event_id}});
  return r;
}

struct RefundDecided {
  refunds::Decision decision;
  std::vector<std::string> touched;  // challenges whose open rounds it changed
};

// A refund, decided on its locked purchase: the money it gives back, the points it takes back
// (from the purchase's lots first), and what becomes of the purchase's challenge contributions.
// The rules then see what it gives back (its total, the lines returned).
RefundDecided decide_refund(Work& w, const RefundedPurchase& bought, rules::Event& event) {
  const auto& req = w.request;
  const int digits = w.program.currency_digits();
  if (req.named_member_id && *req.named_member_id != bought.member_id)
    throw Refused{{"member_mismatch", "the purchase belongs to another member", "member",
                   "is not the member of the original purchase"}};
  // A return receipt already recorded for this purchase (the database refuses one recorded for
  // another purchase when the event commits).
  if (req.order_id) {
    const RefundedPurchase::Receipt receipt{req.event.channel, req.event.store.value_or(""),
                                            *req.order_id};
    const auto& earlier = bought.refund_receipts;
    if (std::find(earlier.begin(), earlier.end(), receipt) != earlier.end())
      throw Refused{{"duplicate_order",
                     "a refund with order_id " + *req.order_id +
                         " was already recorded on this channel and store",
                     "order_id", "was already recorded"}};
  }
  auto decision = req.refund_items.empty()
                      ? refunds::refund_amount(bought.purchase, req.total_minor.value_or(0))
                      : refunds::refund_items(bought.purchase, req.refund_items);
  if (decision.refusal != refunds::Refusal::none) throw Refused{refund_refusal(decision)};
  event.total = event.subtotal = rules::Decimal{decision.amount_minor, digits};
  if (!decision.returned.empty()) {
    event.items.clear();
    for (const auto& line : decision.returned) {
      rules::Item item;
      item.sku = line.sku;
      item.quantity = line.quantity;
      item.price = rules::Decimal{line.unit_price_minor, digits};
      event.items.push_back(std::move(item));
    }
  }

  Reversal r = take_back(w, bought, decision.points);
  r.amount_minor = decision.amount_minor;

  // Refunded in full, the purchase no longer counts toward challenges still open. In part, it
  // still happened (it counts once, on its channel, in its period): only what it added to `sum`
  // goals shrinks with the share of what it paid left. A refund that gives no money back (free
  // items) leaves them as they are, unless it returns the last of the purchase.
  std::vector<std::string> touched;
  const auto touch = [&](const std::string& id) {
    if (std::find(touched.begin(), touched.end(), id) == touched.end()) touched.push_back(id);
  };
  const std::int64_t left_before = bought.purchase.paid_minor() - bought.purchase.refunded_minor;
  const std::int64_t left_after = left_before - decision.amount_minor;
  if (decision.completes) {
    r.take_back_contributions = true;
    for (const auto& c : bought.contributions) touch(c.challenge);
    for (const auto& id : touched) {
      auto& state = w.state.challenges[id];
      state.contributions = challenges::without(state.contributions, bought.event_id);
    }
  } else if (decision.amount_minor > 0 && left_after > 0) {
    for (const auto& c : bought.contributions) {
      const auto* info = w.program.challenge(c.challenge);
      if (!info || info->goal.kind != challenges::GoalKind::sum) continue;
      // The same arithmetic as the state's own contributions below.
      auto scaled = challenges::scaled({{{}, c.amount, c.key, bought.event_id}}, bought.event_id,
                                       left_after, left_before);
      auto changed = c;
      changed.amount = scaled.front().amount;
      r.rescaled.push_back(std::move(changed));
      touch(c.challenge);
    }
    for (const auto& id : touched) {
      auto& state = w.state.challenges[id];
      state.contributions =
          challenges::scaled(state.contributions, bought.event_id, left_after, left_before);
    }
  }
  w.plan.refund = std::move(r);
  // The referral it qualified, refunded in full within the hold: taken back on both sides.
  if (bought.referral && decision.completes && req.now < bought.referral->hold_until) {
    const auto& q = *bought.referral;
    ReferralStep step;
    step.kind = ReferralStep::Kind::reversed;
    step.id = q.id;
    step.reason = referrals::kRefunded;
    step.referrer_id = q.referrer_id;
    step.referee_id = w.state.member.id;
    step.referrer_event_id = q.referrer_event_id;
    step.referee_event_id = q.referee_event_id;
    step.cause = event;
    w.plan.writes.push_back(Outgoing{"referral.reversed",
                                     {{"referral_id", q.id},
                                      {"referrer", q.referrer_id},
                                      {"referee", w.state.member.id},
                                      {"reason", step.reason},
                                      {"event_id", req.event_id}}});
    w.plan.effects.push_back(
        {{"type", "referral_reversed"}, {"referral_id", q.id}, {"reason", step.reason}});
    w.plan.referral = std::move(step);
  }
  return {std::move(decision), std::move(touched)};
}

// A referral side event "referral_reversed": the points of the member's referral_completed
// event (its lots first) taken back, as a refund takes back a purchase's.
// Its contributions to challenge rounds still open are taken back too (as a purchase refunded
// in full): returns the challenges it touched.
std::vector<std::string> reverse_side_event(Work& w, const RefundedPurchase& side, Points& asked) {
  asked = std::max<Points>(side.purchase.awarded - side.purchase.reversed, 0);
  auto r = take_back(w, side, asked);
  r.take_back_contributions = true;
  std::vector<std::string> touched;
  for (const auto& c : side.contributions) {
    if (std::find(touched.begin(), touched.end(), c.challenge) == touched.end())
      touched.push_back(c.challenge);
  }
  for (const auto& id : touched) {
    auto& state = w.state.challenges[id];
    state.contributions = challenges::without(state.contributions, side.event_id);
  }
  w.plan.refund = std::move(r);
  return touched;
}

// The member's open referral, at one of its events: completed by the first event that
// qualifies it (as the member stood before the event), unless it came too late (expired), the
// referrer is the member itself (self_referral) or completed its cap of the period.
void decide_referral(Work& w, const OpenReferral& open, const rules::Event& event,
                     const rules::MemberSnapshot& before) {
  const auto& decl = w.program.referral();
  if (!decl || !w.program.referral_qualifies(event, before)) return;
  const auto& req = w.request;
  ReferralStep step;
  step.id = open.id;
  step.referrer_id = open.referrer_id;
  step.referee_id = w.state.member.id;
  step.cause = event;
  const auto& me = w.state.member.id;
  const auto& merged = open.referrer_merged_ids;
  if (decl->within && event.time >= w.program.after(*decl->within, open.started_at)) {
    step.kind = ReferralStep::Kind::expired;
    step.reason = referrals::kExpired;
  } else if (me == open.referrer_id ||
             std::find(merged.begin(), merged.end(), me) != merged.end()) {
    step.kind = ReferralStep::Kind::refused;
    step.reason = referrals::kSelfReferral;
  } else if (decl->limit && open.referrer_completed >= *decl->limit) {
    step.kind = ReferralStep::Kind::refused;
    step.reason = referrals::kReferrerCap;
  } else {
    step.kind = ReferralStep::Kind::completed;
    step.hold_until = decl->hold ? w.program.after(*decl->hold, req.now) : req.now;
    w.plan.writes.push_back(Outgoing{"referral.completed",
                                     {{"referral_id", open.id},
                                      {"referrer", open.referrer_id},
                                      {"referee", me},
                                      {"event_id", req.event_id}}});
  }
  json effect{
      {"type", "referral_" + std::string(step.kind == ReferralStep::Kind::completed ? "completed"
                                         : step.kind == ReferralStep::Kind::expired ? "expired"
                                                                                    : "refused")},
      {"referral_id", open.id},
      {"referrer", open.referrer_id}};
  if (!step.reason.empty()) effect["reason"] = step.reason;
  w.plan.effects.push_back(std::move(effect));
  w.plan.referral = std::move(step);
}

// The basket's codes, redeemed with the purchase: a refused one refuses the whole event. They are
// taken in code order (the order db/ locked them in); together they never take more than the
// total (each at most what those before it left). Returns the sum of their discounts. Simulate
// (redeem_coupons false) may load the codes as they stand: their discounts and refusals are the
// event's, but nothing is redeemed; codes it did not load take nothing off.
std::int64_t redeem_basket(Work& w, const Inputs& inputs) {
  const auto& req = w.request;
  const auto& codes = req.event.coupons;
  if (codes.empty()) return 0;
  if (inputs.coupons.size() != codes.size()) {
    if (!req.redeem_coupons) return 0;
    throw std::logic_error("the basket's coupons were not loaded");
  }
  std::vector<std::size_t> order(codes.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  const auto key = [&](std::size_t i) { return coupons::code_number(codes[i]).value_or(-1); };
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return key(a) < key(b); });
  const std::int64_t total = req.total_minor.value_or(0);
  std::int64_t remaining = total;
  std::vector<json> redeemed(order.size());
  std::vector<Redemption> uses(order.size());
  for (const auto i : order) {
    const auto& basket = inputs.coupons[i];
    const std::string field = "coupons[" + std::to_string(i) + "]";
    const auto refuse = [&](const std::string& code, const std::string& detail) {
      throw Refused{{code, detail, field, detail, {{"coupon_code", basket.code}}}};
    };
    auto state = basket.state;
    state.held_by_member = basket.own_hold_id.has_value();
    coupons::Use asked;
    asked.member = w.state.member.id;
    asked.total_minor = total;
    asked.channel = req.event.channel;
    asked.at = std::min(req.event.time, req.now);
    asked.discount_limit = remaining;
    const auto decided =
        coupons::decide_use(basket.code, basket.found ? &state : nullptr, basket.digits, asked);
    if (!decided.ok()) refuse(decided.refusal, decided.detail);
    Redemption use;
    use.id = req.new_id("rdm");
    use.code = basket.code;
    use.coupon = basket.coupon;
    use.digits = basket.digits;
    use.total_minor = total;
    use.discount_minor = decided.discount_minor;
    use.hold_id = basket.own_hold_id;
    remaining -= use.discount_minor;
    redeemed[i] = {{"type", "coupon_redeemed"},
                   {"code", use.code},
                   {"coupon", use.coupon},
                   {"redemption_id", use.id},
                   {"discount", money_text(use.discount_minor, use.digits)}};
    uses[i] = std::move(use);
  }
  if (req.redeem_coupons) {
    for (const auto i : order) w.plan.redemptions.push_back(std::move(uses[i]));
  }
  for (auto& effect : redeemed) w.plan.effects.push_back(std::move(effect));
  return total - remaining;
}

// The tier after this event's points: raised at once (lowering is the review's). A change is
// an effect, an outgoing event and a tier_changed event for the rules.
std::optional<rules::Event> raise_tier(Work& w, const rules::Event& cause) {
  std::vector<ledger::Points> qualifying = w.state.qualifying;
  for (auto& q : qualifying) q += w.qualifying_added;
  const auto& current = w.state.member.tier;
  const auto to = raised_tier(w.program, current, qualifying);
  if (!to) return std::nullopt;
  const json from_json = current ? json(*current) : json(nullptr);
  w.plan.effects.push_back({{"type", "tier_changed"}, {"from", from_json}, {"to", *to}});
  w.plan.writes.push_back(Outgoing{
      "tier.changed", {{"from", from_json}, {"to", *to}, {"event_id", w.request.event_id}}});
  rules::Event changed;
  changed.type = "tier_changed";
  changed.channel = cause.channel;
  changed.store = cause.store;
  changed.time = cause.time;
  changed.attributes["from"] = current.value_or("");
  changed.attributes["to"] = *to;
  w.state.member.tier = to;
  return changed;
}

// The decision on `w`, which holds the member's state (inputs.member is not read).
Plan decide_or_throw(Work& w, const Inputs& inputs) {
  const auto& program = w.program;
  const auto& req = w.request;
  w.plan.member_id = w.state.member.id;
  w.counters.paused = req.paused;
  // A member without a tier yet is in the entry tier (threshold 0), if the program has one:
  // that is where it starts, not a change.
  if (!w.state.member.tier) w.state.member.tier = entry_tier(program);
  w.state.qualifying.resize(program.tiers().size(), 0);
  detail::know_counters_up_front(w);

  rules::Event event = req.event;
  std::optional<RefundDecided> refund;
  Points taken_back = 0;             // by a refund or a referral's reversal
  std::vector<std::string> touched;  // challenges whose open rounds it changed
  if (req.original_event_id) {
    if (!inputs.refund) throw std::logic_error("a refund without its purchase loaded");
    if (req.event.type == kReferralReversed) {
      touched = reverse_side_event(w, *inputs.refund, taken_back);
    } else {
      refund = decide_refund(w, *inputs.refund, event);
      taken_back = refund->decision.points;
      touched = refund->touched;
    }
  }
  detail::describe_member(w);
  const rules::MemberSnapshot before = w.snapshot;
  // What the customer paid: the rules (and challenges) see it as event.total, with the receipt
  // total sent as event.subtotal and the basket's coupon discounts as event.discount. The codes
  // are redeemed (their discounts known) before any rule runs.
  const int digits = program.currency_digits();
  const std::int64_t discount = redeem_basket(w, inputs);
  event.subtotal = event.total;
  event.discount = rules::Decimal{discount, digits};
  if (discount > 0) event.total = rules::Decimal{req.total_minor.value_or(0) - discount, digits};

  auto first = detail::evaluate_counted(w, event);
  detail::apply_effects(w, first);
  if (req.with_trace) w.plan.trace = std::move(first.trace);
  detail::describe_member(w);
  detail::settle_challenges(w, event, touched);

  // The events Circolo makes for the rules: a tier change first, then challenges completed.
  // Each may cause more, up to kMaxDerivedEvents.
  for (int derived = 0; derived < kMaxDerivedEvents; ++derived) {
    if (auto changed = raise_tier(w, event)) w.derived.insert(w.derived.begin(), *changed);
    if (w.derived.empty()) break;
    const auto next = std::move(w.derived.front());
    w.derived.erase(w.derived.begin());
    detail::describe_member(w);
    detail::apply_effects(w, detail::evaluate_counted(w, next));
    detail::describe_member(w);
    detail::settle_challenges(w, next, {});
  }
  raise_tier(w, event);  // past the bound: the tier is still right, its rules are not run again
  if (inputs.referral && !req.original_event_id)
    decide_referral(w, *inputs.referral, event, before);

  auto& plan = w.plan;
  auto& row = plan.record;
  row.id = req.event_id;
  row.member_id = w.state.member.id;
  row.type = req.event.type;
  row.channel = req.event.channel;
  row.store = req.event.store;
  row.order_id = req.order_id;
  row.occurred_at = req.event.time;
  row.recorded_at = req.now;
  row.program_version = req.program_version;
  row.api_key_id = req.api_key_id;
  row.total_minor = refund ? std::optional(refund->decision.amount_minor) : req.total_minor;
  row.original_event_id = req.original_event_id;
  row.points_awarded = w.awarded - w.challenge_rewards;  // what a refund may take back
  row.body = req.record;
  if (!plan.experiments.empty()) {
    row.experiments = json::object();
    for (const auto& [campaign, x] : plan.experiments) {
      row.experiments[campaign] = {{"arm", x.arm},
                                   {"points", x.points},
                                   {"coupons", x.coupons},
                                   {"withheld_points", x.withheld_points},
                                   {"withheld_coupons", x.withheld_coupons}};
    }
  }
  // A purchase keeps its total as sent, with the discounts of its coupons and what was paid:
  // what its refunds can give back (db/ reads "discount" back when one is refunded).
  if (!refund && req.total_minor) {
    row.body["discount"] = money_text(discount, digits);
    row.body["paid"] = money_text(*req.total_minor - discount, digits);
  }
  if (refund) {
    row.body["total"] = money_text(refund->decision.amount_minor, digits);
    if (!refund->decision.returned.empty()) {
      json items = json::array();
      for (const auto& line : refund->decision.returned)
        items.push_back({{"sku", line.sku}, {"quantity", line.quantity}});
      row.body["items"] = items;
    }
  }
  plan.member = {w.state.member.tier,
                 req.event.type == "purchase" ? 1 : 0,
                 w.awarded - taken_back,
                 w.state.member.tags,
                 std::nullopt,
                 std::nullopt,
                 std::nullopt};
  // What the member is interested in, for members who agreed to profiling.
  if (w.state.member.consents.granted(consent::Purpose::profiling) && !refund) {
    if (const auto seen = interest_observation(req.event, w.program.currency_digits(),
                                               w.program.interest_weight(req.event.type),
                                               req.event.type == "purchase" && req.total_minor
                                                   ? std::optional(*req.total_minor - discount)
                                                   : std::nullopt)) {
      plan.member.interests = interests::observe(w.state.member.interests, *seen, req.now);
      w.state.member.interests = *plan.member.interests;
    }
  }
  // Leaderboards rank the points earned in each calendar period: booked in the periods they
  // were received in; what a refund takes back comes off the periods of the purchase.
  plan.leaderboard_points = w.awarded;
  plan.leaderboard_reversed = plan.refund ? plan.refund->ledger.taken : 0;
  if (w.limits_changed) {
    w.state.member.limits =
        current_limits(program, std::move(w.state.member.limits), req.limits_from);
    plan.member.limits = w.state.member.limits;
  }
  plan.balances = w.state.balances;
  plan.tier = w.state.member.tier;
  plan.state_after = std::move(w.state);  // not read after this
  for (auto& q : plan.state_after.qualifying) q += w.qualifying_added;
  plan.state_after.member.purchases += plan.member.purchases_added;
  plan.state_after.member.lifetime_points += plan.member.lifetime_points_added;
  detail::follow_segments(w.program, req, plan);
  return std::move(w.plan);
}

}  // namespace

std::optional<interests::Observation> interest_observation(const rules::Event& event, int digits,
                                                           double custom_weight,
                                                           std::optional<std::int64_t> paid) {
  // Purchases and visits; a custom event only when the program gives it an interest weight and
  // it carries items (a product viewed, a cart): a review says nothing of what the member likes.
  const bool purchase = event.type == "purchase", visit = event.type == "visit";
  if (!purchase && !visit && (custom_weight <= 0 || event.items.empty())) return std::nullopt;
  interests::Observation seen;
  seen.at = event.time;
  seen.channel = event.channel;
  seen.store = event.store;
  seen.weight = purchase || visit ? 1.0 : custom_weight;
  if (purchase) seen.spend_minor = paid.value_or(0);
  for (const auto& item : event.items) {
    std::int64_t minor = item.price.mantissa;
    for (int s = item.price.scale; s < digits; ++s) minor *= 10;
    for (int s = digits; s < item.price.scale; ++s) minor /= 10;
    seen.lines.push_back({item.category, item.brand, item.sku, item.quantity,
                          minor * std::max<std::int64_t>(item.quantity, 0)});
  }
  return seen;
}

Decision decide(const rules::CompiledProgram& program, const Request& request, const Inputs& inputs,
                CounterSource& counters) {
  Work w{program, request, counters, inputs.member};
  try {
    return decide_or_throw(w, inputs);
  } catch (const Refused& refused) {
    return refused.refusal;
  }
}

Decision decide(const rules::CompiledProgram& program, const Request& request, Inputs&& inputs,
                CounterSource& counters) {
  if (request.original_event_id) return decide(program, request, std::as_const(inputs), counters);
  Work w{program, request, counters, std::move(inputs.member)};
  try {
    return decide_or_throw(w, inputs);
  } catch (const Refused& refused) {
    // Only a rule issuing a coupon the program lacks is refused after the member changed, and
    // the checker refuses such a program.
    if (refused.refusal.code == "unknown_coupon_template")
      throw std::logic_error("a checked program issues a coupon it does not have");
    inputs.member = std::move(w.state);
    return refused.refusal;
  }
}

Request side_request(const Request& cause, const ReferralStep& step, bool referrer_side,
                     std::string event_id) {
  const bool reversed = step.kind == ReferralStep::Kind::reversed;
  Request r;
  r.event_id = std::move(event_id);
  r.api_key_id = cause.api_key_id;
  r.now = cause.now;
  r.program_version = cause.program_version;
  r.paused = cause.paused;
  r.new_id = cause.new_id;
  r.limits_from = cause.limits_from;
  r.event.type = reversed ? kReferralReversed : kReferralCompleted;
  r.event.channel = step.cause.channel;
  r.event.store = step.cause.store;
  r.event.time = step.cause.time;
  const std::string role = referrer_side ? "referrer" : "referee";
  r.event.attributes["role"] = role;
  r.event.attributes["referral"] = step.id;
  r.event.attributes["referrer"] = step.referrer_id;
  r.event.attributes["referee"] = step.referee_id;
  if (reversed)
    r.original_event_id = referrer_side ? step.referrer_event_id : step.referee_event_id;
  r.record = {{"type", r.event.type},
              {"channel", r.event.channel},
              {"time", format_rfc3339(r.event.time)},
              {"referral_id", step.id},
              {"role", role},
              {"referrer", step.referrer_id},
              {"referee", step.referee_id},
              {"cause_event_id", cause.event_id}};
  if (r.event.store) r.record["store"] = *r.event.store;
  if (reversed) r.record["reason"] = step.reason;
  return r;
}

std::map<std::string, std::int64_t> LayeredCounters::read(const std::vector<std::string>& keys) {
  auto values = source_.read(keys);
  for (const auto& [key, added] : added_) {
    if (!std::binary_search(keys.begin(), keys.end(), key)) continue;
    values[key] += added;
  }
  return values;
}

void LayeredCounters::add(const Plan& plan) {
  for (const auto& [key, n] : plan.counter_increments) added_[key] += n;
}

}  // namespace circolo::engine::event
