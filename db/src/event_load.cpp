// Loading what an event's decision needs: the member (found, locked, or enrolled), a refund's
// purchase and the basket's codes, as engine::event values.
#include <algorithm>
#include <stdexcept>

#include "circolo/db/coupons.hpp"
#include "circolo/db/event.hpp"
#include "circolo/db/members.hpp"
#include "circolo/db/points.hpp"
#include "circolo/db/referrals.hpp"
#include "circolo/engine/event/decide.hpp"
#include "circolo/engine/money.hpp"

namespace circolo::db::event {

namespace {

using engine::event::Refusal;

// Budgets read with the member at most (a program with more reads the others when they matter).
constexpr std::size_t kPrimedBudgets = 32;

// Counters read with the member as the decision takes them: 0 for one without a row.
std::map<std::string, std::int64_t> primed_values(
    const std::map<std::string, std::optional<std::int64_t>>& read) {
  std::map<std::string, std::int64_t> out;
  for (const auto& [key, value] : read) out.emplace(key, value.value_or(0));
  return out;
}

std::optional<rules::Date> date_of(const std::optional<std::string>& text) {
  if (!text || text->size() != 10) return std::nullopt;
  return rules::Date{std::stoi(text->substr(0, 4)), std::stoi(text->substr(5, 2)),
                     std::stoi(text->substr(8, 2))};
}

Refusal unknown_member(const std::string& detail, nlohmann::json extra = nlohmann::json::object()) {
  return {"unknown_member", detail, "", "", std::move(extra)};
}

Refusal merged(const std::string& id, const std::string& into) {
  return {"member_merged",
          "member " + id + " was merged into " + into,
          "",
          "",
          {{"merged_into", into}}};
}

std::optional<events::MemberState> read_member(soci::session& sql,
                                               const rules::CompiledProgram& program,
                                               const std::optional<std::string>& id,
                                               const std::optional<engine::Identifier>& identifier,
                                               engine::TimePoint now,
                                               const std::vector<Row>* prefetched) {
  const auto read = member_read(program, id, id ? std::nullopt : identifier, now);
  if (prefetched) return events::member_state(sql, read, *prefetched);
  return events::member_state(sql, read, fetch(sql, *read.read.query, read.read.params));
}

// The member an event names, locked, or enrolled when asked; a merged member is refused.
std::variant<events::MemberState, Refusal> resolve(soci::session& sql, const LoadRequest& req,
                                                   const std::optional<std::string>& id,
                                                   const std::optional<engine::Identifier>& ident,
                                                   bool& enrolled,
                                                   const std::vector<Row>* prefetched) {
  const auto& program = *req.program;
  auto state = read_member(sql, program, id, ident, req.now, prefetched);
  if (!state && id) return unknown_member("no member " + *id);
  if (!state && !ident && req.identifiers.empty())
    throw std::logic_error("an event without a member");
  if (!state && !req.enroll && ident)
    return unknown_member("no member has the " + ident->type +
                              " identifier given; send \"enroll\": true to enrol one",
                          {{"identifier", {{"type", ident->type}}}});
  if (!state && !req.enroll)
    return unknown_member(
        "no member has any of the identifiers given; send \"enroll\": true to enrol one");
  // Enrolled with the one identifier, or with every identifier named (none known).
  const std::vector<engine::Identifier> enrol_with =
      ident ? std::vector<engine::Identifier>{*ident} : req.identifiers;
  if (!state) {
    Member fresh;
    fresh.id = req.enrol_as;
    fresh.joined_at = req.occurred_at;
    fresh.tier = engine::event::entry_tier(program);
    if (members::insert(sql, fresh, enrol_with, req.now)) {
      // Enrolled by a concurrent request a moment ago: start again and find it.
      throw RetryTransaction("identifier enrolled concurrently");
    }
    // The enrolment is the first entry of the member's journey, as with POST /v1/members.
    TimelineEntry entry;
    entry.member_id = fresh.id;
    entry.type = "member.enrolled";
    entry.channel = req.channel;
    entry.occurred_at = req.occurred_at;
    entry.recorded_at = req.now;
    nlohmann::json identifiers = nlohmann::json::array();
    for (const auto& i : enrol_with) identifiers.push_back({{"type", i.type}, {"value", i.value}});
    entry.data = {{"identifiers", identifiers}, {"event_id", req.event_id}};
    members::timeline_append(sql, entry);
    enrolled = true;
    state = read_member(sql, program, fresh.id, std::nullopt, req.now, nullptr);
    if (!state) throw std::logic_error("the member enrolled a moment ago is missing");
  }
  if (state->member.merged_into) return merged(state->member.id, *state->member.merged_into);
  return std::move(*state);
}

// The member several identifiers and a link code name, under the rules of
// engine::identity::resolve; a link code is checked (locked) and used here.
std::variant<engine::identity::Resolution, Refusal> identify(soci::session& sql,
                                                             const LoadRequest& req) {
  std::optional<std::string> by_code;
  if (req.link_code_digest) {
    const auto code = members::lock_link_code(sql, *req.link_code_digest);
    switch (engine::identity::check_link_code(code, req.now)) {
      case engine::identity::LinkCodeRefusal::unknown:
        return Refusal{"unknown_link_code", "no such link code (mistyped?)", "member.link_code",
                       "is not a link code"};
      case engine::identity::LinkCodeRefusal::expired:
        return Refusal{"link_code_expired", "the link code expired: ask the app for a new one",
                       "member.link_code", "expired"};
      case engine::identity::LinkCodeRefusal::used:
        return Refusal{"link_code_used",
                       "the link code was used already: ask the app for a new one",
                       "member.link_code", "was used"};
      case engine::identity::LinkCodeRefusal::none:
        break;
    }
    // A code of a member merged since names the survivor.
    auto owner = members::find(sql, code->member_id);
    while (owner && owner->merged_into) owner = members::find(sql, *owner->merged_into);
    if (!owner) throw std::logic_error("a link code's member is missing");
    by_code = owner->id;
    members::use_link_code(sql, *req.link_code_digest, req.now, req.api_key_id, req.event_id);
  }
  const auto owners = members::owners(sql, req.identifiers);
  std::vector<engine::identity::Named> named;
  for (std::size_t i = 0; i < req.identifiers.size(); ++i)
    named.push_back({req.identifiers[i], owners[i]});
  auto found = engine::identity::resolve(named, by_code, req.link, req.enroll);
  using Kind = engine::identity::Resolution::Kind;
  if (found.kind == Kind::conflict) {
    return Refusal{"identifiers_conflict",
                   engine::identity::conflict_detail(found.conflicting),
                   "member.identifiers",
                   "belong to different members",
                   {{"members", found.conflicting}}};
  }
  if (found.kind == Kind::unknown)
    return unknown_member(
        "no member has any of the identifiers given; send \"enroll\": true to enrol one");
  return found;
}

// Links identifiers nobody owned to the member found, each on its timeline with who linked it.
void link_identifiers(soci::session& sql, const LoadRequest& req, const std::string& member_id,
                      const std::vector<engine::Identifier>& identifiers) {
  const members::LinkedBy by{req.channel, req.api_key_id, req.event_id};
  for (const auto& i : identifiers) {
    if (members::link_recorded(sql, member_id, i, by, req.now) == members::LinkResult::taken)
      throw RetryTransaction("identifier linked concurrently");  // decided again, from scratch
  }
}

// `receipts`: where the return receipts of its earlier refunds go (read with their items).
engine::refunds::Purchase purchase_of(
    soci::session& sql, const events::Event& original, int digits,
    std::vector<engine::event::RefundedPurchase::Receipt>* receipts = nullptr) {
  engine::refunds::Purchase p;
  p.total_minor = original.total_minor.value_or(0);
  // What its coupons took off (purchases recorded before discounts were kept earned on, and
  // refund against, their whole total).
  if (original.body.contains("discount") && original.body["discount"].is_string()) {
    const auto discount = engine::parse_money(original.body["discount"].get<std::string>(), digits);
    if (discount.value) p.discount_minor = discount.value->minor;
  }
  p.refunded_minor = original.refunded_minor;
  p.awarded = original.points_awarded;
  p.reversed = original.points_reversed;
  if (original.body.contains("items")) {
    for (const auto& item : original.body["items"]) {
      const auto price = engine::parse_money(item.value("price", "0"), digits);
      p.lines.push_back({item.value("sku", ""), item.value("quantity", 1LL),
                         price.value ? price.value->minor : 0});
    }
  }
  for (const auto& refund : events::refunds_of(sql, original.id)) {
    if (receipts && refund.contains("order_id") && refund["order_id"].is_string()) {
      receipts->push_back({refund.value("channel", ""), refund.value("store", ""),
                           refund["order_id"].get<std::string>()});
    }
    if (!refund.contains("items")) continue;
    for (const auto& item : refund["items"])
      p.refunded_lines.push_back({item.value("sku", ""), item.value("quantity", 1LL), 0});
  }
  return p;
}

// The basket's codes, locked in code order (two baskets naming the same codes never deadlock),
// with the member's own hold and the others' counted. `lock` false: simulate's read.
std::vector<engine::event::BasketCoupon> basket(soci::session& sql,
                                                const std::vector<std::string>& codes,
                                                const std::string& member_id, engine::TimePoint now,
                                                bool lock = true) {
  std::vector<engine::event::BasketCoupon> out(codes.size());
  std::vector<std::size_t> order(codes.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  const auto key = [&](std::size_t i) {
    return engine::coupons::code_number(codes[i]).value_or(-1);
  };
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return key(a) < key(b); });
  for (const auto i : order) {
    auto& c = out[i];
    c.code = codes[i];
    if (engine::coupons::check_shape(c.code) != engine::coupons::CodeShape::ok) continue;
    auto use = coupons::read_use(sql, c.code, member_id, now, lock);
    if (!use) continue;
    c.found = true;
    c.coupon = use->stored.coupon;
    c.digits = use->stored.digits;
    c.state = std::move(use->state);
    if (use->own_hold) c.own_hold_id = use->own_hold->id;
  }
  return out;
}

}  // namespace

std::vector<engine::event::BasketCoupon> basket_as_it_stands(soci::session& sql,
                                                             const std::vector<std::string>& codes,
                                                             const std::string& member_id,
                                                             engine::TimePoint now) {
  return basket(sql, codes, member_id, now, /*lock=*/false);
}

bool could_qualify(const rules::CompiledProgram& program, const std::string& type) {
  const auto& decl = program.file().referral;
  return decl && decl->on && rules::event_type(*decl->on) == type;
}

// A stored attribute as the rules see it (what a stored value cannot be is left out: it was
// refused when stored). Decimals keep six places, as requests' do.
rules::Attributes attributes_of(const nlohmann::json& stored) {
  rules::Attributes out;
  if (!stored.is_object()) return out;
  for (const auto& [key, value] : stored.items()) {
    if (value.is_boolean()) {
      out[key] = value.get<bool>();
    } else if (value.is_number_integer()) {
      out[key] = static_cast<std::int64_t>(value.get<long long>());
    } else if (value.is_string()) {
      out[key] = value.get<std::string>();
    } else if (value.is_number_float()) {
      const auto parsed = engine::parse_money(value.dump(), 6);
      if (parsed.value) out[key] = rules::Decimal{parsed.value->minor, 6};
    }
  }
  return out;
}

void see_profile(engine::event::MemberState& state, const Profile& profile) {
  state.member.birthday = date_of(profile.birthday);
  state.member.attributes = attributes_of(profile.attributes);
}

events::MemberStateRead member_read(const rules::CompiledProgram& program,
                                    const std::optional<std::string>& member_id,
                                    const std::optional<engine::Identifier>& identifier,
                                    engine::TimePoint now,
                                    const std::optional<events::ClaimOf>& claim, bool lock) {
  // Its tier windows are read with it.
  std::vector<engine::TimePoint> since;
  for (const auto& t : program.tiers()) since.push_back(program.window_start(t.window, now));
  // Challenges with what can still count toward them: their window, or for a streak the periods
  // it can still reach back to.
  std::vector<events::ChallengeWindow> challenges;
  for (const auto& c : program.challenges()) {
    std::optional<engine::TimePoint> from;
    if (c.within) from = program.window_start(*c.within, now);
    if (c.goal.kind == engine::challenges::GoalKind::streak) {
      const rules::Duration back{
          std::min<std::int64_t>(c.goal.target, 10'000) + 1, c.streak_unit, {}};
      const auto streak_start = program.window_start(back, now);
      from = from ? std::max(*from, streak_start) : streak_start;
    }
    challenges.push_back({c.id, from});
  }
  // The program's budgets, read with it: the rules then run once, knowing them (most events
  // meet a budgeted campaign). Up to kPrimedBudgets; the others are read if a rule needs them.
  std::vector<std::string> budgets;
  for (const auto& c : program.campaigns()) {
    if (c.budget && budgets.size() < kPrimedBudgets)
      budgets.push_back(engine::event::budget_counter(c.id));
  }
  std::sort(budgets.begin(), budgets.end());
  return events::member_state_read(member_id, member_id ? std::nullopt : identifier, now, since,
                                   challenges, claim, lock, budgets);
}

engine::event::MemberState domain_state(const events::MemberState& stored) {
  engine::event::MemberState s;
  const auto& m = stored.member;
  s.member.id = m.id;
  s.member.tier = m.tier;
  s.member.tags = m.tags;
  s.member.joined = m.joined_at;
  s.member.purchases = m.purchases;
  s.member.lifetime_points = m.lifetime_points;
  s.member.birthday = date_of(m.profile.birthday);
  s.member.attributes = attributes_of(m.profile.attributes);
  s.member.merged_into = m.merged_into;
  s.member.consents = m.consents;
  s.member.interests = m.interests;
  s.member.segments = m.segments;
  s.member.limits = stored.limits;
  s.balances = stored.balances;
  s.badges = stored.badges;
  s.qualifying = stored.qualifying;
  s.challenges = stored.challenges;
  return s;
}

std::variant<Loaded, Refusal> load(soci::session& sql, const LoadRequest& req,
                                   const std::vector<Row>* prefetched) {
  Loaded out;
  std::optional<std::string> member_id = req.member_id;
  std::vector<engine::Identifier> to_link;
  if (!req.identifiers.empty() || req.link_code_digest) {
    // Several identifiers, or a link code: which member they name (or a conflict), first.
    auto identified = identify(sql, req);
    if (auto* refusal = std::get_if<Refusal>(&identified)) return *refusal;
    auto& found = std::get<engine::identity::Resolution>(identified);
    if (found.kind == engine::identity::Resolution::Kind::member) {
      member_id = found.member_id;
      to_link = std::move(found.to_link);
    }
    prefetched = nullptr;  // nothing was read ahead for several identifiers
  }
  std::optional<engine::Identifier> identifier = req.identifier;
  std::optional<engine::event::RefundedPurchase> refund;
  std::optional<events::Event> original;
  if (req.original_event_id) {
    // A refund: the purchase it names decides whose points come back.
    original = events::lock(sql, *req.original_event_id);
    if (!original)
      return Refusal{"unknown_original_event", "no event " + *req.original_event_id,
                     "original_event_id", "no such event"};
    const bool side = req.side_event && original->type == engine::event::kReferralCompleted;
    if (original->type != "purchase" && !side)
      return Refusal{
          "not_refundable",
          "event " + original->id + " is a " + original->type + "; only purchases can be refunded",
          "original_event_id", "is not a purchase"};
    auto owner = members::find(sql, original->member_id);
    while (owner && owner->merged_into) owner = members::find(sql, *owner->merged_into);
    if (!owner) throw std::logic_error("the purchase's member is missing");
    if (member_id || req.identifier) {
      bool unused = false;
      auto named = resolve(sql, req, member_id, req.identifier, unused, nullptr);
      if (auto* refusal = std::get_if<Refusal>(&named)) return *refusal;
      out.named_member_id = std::get<events::MemberState>(named).member.id;
    }
    member_id = owner->id;
    identifier.reset();
    prefetched =
        nullptr;  // the read sent ahead was for no one: a refund's member is its purchase's
  }
  auto resolved = resolve(sql, req, member_id, identifier, out.enrolled, prefetched);
  if (auto* refusal = std::get_if<Refusal>(&resolved)) return *refusal;
  const auto& state = std::get<events::MemberState>(resolved);
  link_identifiers(sql, req, state.member.id, to_link);
  out.inputs.member = domain_state(state);
  if (state.counters) out.counters = *state.counters;
  if (original) {
    engine::event::RefundedPurchase r;
    r.event_id = original->id;
    r.member_id = state.member.id;
    r.recorded_at = original->recorded_at;
    r.purchase = purchase_of(sql, *original, req.program->currency_digits(), &r.refund_receipts);
    r.lots = points::reversal_lots(sql, state.member.id, original->id);
    r.contributions = gamification::open_contributions(sql, state.member.id, original->id);
    if (!req.side_event) r.referral = referrals::qualified_by(sql, original->id);
    out.inputs.refund = std::move(r);
  } else if (state.open_referral && could_qualify(*req.program, req.event_type)) {
    out.inputs.referral =
        referrals::open(sql, *state.open_referral, *req.program, req.now, /*lock=*/false);
  }
  out.inputs.coupons = basket(sql, req.coupons, state.member.id, req.now);
  return out;
}

TransactionCounters::TransactionCounters(
    soci::session& sql, bool lock_first,
    const std::map<std::string, std::optional<std::int64_t>>& primed)
    : sql_(sql), lock_first_(lock_first) {
  // A retry locks every counter before deciding: nothing read ahead without locks is used.
  if (lock_first_) return;
  primed_ = primed_values(primed);
  for (const auto& [key, value] : primed) {
    if (!value) absent_.insert(key);
  }
}

std::map<std::string, std::int64_t> TransactionCounters::read(
    const std::vector<std::string>& keys) {
  auto values = lock_first_ ? events::lock_counters(sql_, keys) : events::read_counters(sql_, keys);
  std::map<std::string, std::int64_t> out;
  for (const auto& key : keys) {
    const auto it = values.find(key);
    if (it == values.end())
      absent_.insert(key);
    else
      out[key] = it->second;
  }
  return out;
}

ReadCounters::ReadCounters(soci::session& sql,
                           const std::map<std::string, std::optional<std::int64_t>>& primed)
    : sql_(sql), primed_(primed_values(primed)) {}

std::map<std::string, std::int64_t> ReadCounters::read(const std::vector<std::string>& keys) {
  std::map<std::string, std::int64_t> out;
  for (const auto& [key, value] : events::read_counters(sql_, keys)) out[key] = value;
  return out;
}

}  // namespace circolo::db::event
