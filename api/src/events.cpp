// POST /v1/events: validation (pure) and the one-transaction application of an event.
#include "circolo/api/events.hpp"
#include "circolo/api/coupons.hpp"
#include "circolo/api/gamification.hpp"

#include <algorithm>
#include <regex>
#include <set>

#include "circolo/api/auth.hpp"
#include "circolo/api/members.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/db/events.hpp"
#include "circolo/db/gamification.hpp"
#include "circolo/db/members.hpp"
#include "circolo/db/points.hpp"
#include "circolo/db/query.hpp"
#include "circolo/engine/money.hpp"
#include "circolo/engine/tiers.hpp"

namespace circolo::api {

namespace {

using nlohmann::json;

const std::set<std::string> kBuiltinTypes = {"purchase", "refund", "visit", "signup"};
// Rules see these as events too, but only Circolo makes them.
const std::set<std::string> kDerivedTypes = {"challenge_completed", "tier_changed"};

// How many derived events (tier_changed, challenge_completed) one event may cause: rules that
// react to them with effects that cause more of them stop here.
constexpr int kMaxDerivedEvents = 8;

std::string money_text(long long minor, int digits) {
  return engine::format_money({minor, digits});
}

// The fields the rules language sees, as parse_event_json expects them.
json rules_view(const json& body, const std::string& channel) {
  json view = json::object();
  for (const char* name :
       {"type", "store", "occurred_at", "total", "currency", "items", "coupons", "attributes"}) {
    if (body.contains(name)) view[name] = body[name];
  }
  view["channel"] = channel;
  return view;
}

std::optional<std::string> short_text(const json& body, const char* name,
                                      std::vector<FieldError>& errors) {
  if (!body.contains(name) || body[name].is_null()) return std::nullopt;
  if (!body[name].is_string() || body[name].get<std::string>().empty() ||
      body[name].get<std::string>().size() > 200) {
    errors.push_back({name, "must be a string of 1 to 200 characters"});
    return std::nullopt;
  }
  return body[name].get<std::string>();
}

}  // namespace

IncomingEvent parse_incoming_event(const json& body, const rules::CompiledProgram& program,
                                   engine::TimePoint now, const Principal& caller,
                                   const EventPolicy& policy) {
  if (!body.is_object()) throw_validation({{"", "the body must be a JSON object"}});
  std::vector<FieldError> errors;
  static const std::set<std::string> known = {"type",
                                              "member",
                                              "enroll",
                                              "occurred_at",
                                              "channel",
                                              "store",
                                              "order_id",
                                              "total",
                                              "currency",
                                              "items",
                                              "coupons",
                                              "attributes",
                                              "original_event_id"};
  for (const auto& [field, value] : body.items()) {
    if (!known.count(field)) errors.push_back({field, "is not a known field"});
  }
  IncomingEvent in;
  const int digits = program.currency_digits();

  // The type: a built-in kind or a custom name that rules can match with `on event "NAME"`.
  std::string type;
  if (!body.contains("type") || !body["type"].is_string()) {
    errors.push_back({"type", "is required: purchase, refund, visit, signup or a custom name"});
  } else {
    type = body["type"].get<std::string>();
    static const std::regex custom("[A-Za-z_][A-Za-z0-9_.-]{0,63}");
    if (kDerivedTypes.count(type))
      errors.push_back({"type", "'" + type + "' events are made by Circolo, not sent to it"});
    else if (!kBuiltinTypes.count(type) && !std::regex_match(type, custom))
      errors.push_back({"type",
                        "must be purchase, refund, visit, signup or a custom name of "
                        "letters, digits, '_', '.', '-' (at most 64)"});
  }

  // The channel comes from the touchpoint's key; an admin key names it.
  std::string channel;
  if (caller.channel) {
    channel = *caller.channel;
    if (body.contains("channel") &&
        (!body["channel"].is_string() || body["channel"].get<std::string>() != channel))
      errors.push_back(
          {"channel", "is set by your key: events from it are on channel '" + channel + "'"});
  } else if (auto c = short_text(body, "channel", errors)) {
    channel = *c;
  } else if (!body.contains("channel") || body["channel"].is_null()) {
    errors.push_back({"channel", "is required with an admin key (store, app, web...)"});
  }

  // Who: a member id or an identifier; a refund may leave it to the original purchase.
  if (body.contains("member")) {
    const auto& m = body["member"];
    if (!m.is_object() || m.size() != 1 || (!m.contains("id") && !m.contains("identifier"))) {
      errors.push_back(
          {"member", "must be {\"id\":\"...\"} or {\"identifier\":{\"type\",\"value\"}}"});
    } else if (m.contains("id")) {
      if (!m["id"].is_string() || m["id"].get<std::string>().empty() ||
          m["id"].get<std::string>().size() > 100)
        errors.push_back({"member.id", "must be a member id"});
      else
        in.member_id = m["id"].get<std::string>();
    } else {
      in.identifier = parse_identifier_field(m["identifier"], "member.identifier", errors);
    }
  } else if (type != "refund") {
    errors.push_back({"member", "is required: {\"id\":\"...\"} or {\"identifier\":{...}}"});
  }
  if (body.contains("enroll")) {
    if (!body["enroll"].is_boolean())
      errors.push_back({"enroll", "must be true or false"});
    else
      in.enroll = body["enroll"].get<bool>();
    if (in.enroll && !in.identifier)
      errors.push_back({"enroll", "needs member.identifier: the identifier to enrol"});
    if (in.enroll && type == "refund")
      errors.push_back({"enroll", "a refund is for an existing purchase"});
  }
  in.order_id = short_text(body, "order_id", errors);

  // Money: the program's currency, named whenever an amount is sent.
  const bool has_amounts = body.contains("total") || body.contains("items");
  if (has_amounts && type != "refund" && !body.contains("currency"))
    errors.push_back({"currency", "is required with amounts: " + program.currency()});
  if (type == "purchase" && !body.contains("total"))
    errors.push_back({"total", "is required for a purchase"});

  if (type == "refund") {
    in.original_event_id = short_text(body, "original_event_id", errors);
    if (!body.contains("original_event_id"))
      errors.push_back({"original_event_id", "is required for a refund: the purchase's event id"});
    if (body.contains("total") == body.contains("items"))
      errors.push_back({"total", "a refund has either total (an amount) or items, not both"});
    if (body.contains("total") && !body.contains("currency"))
      errors.push_back({"currency", "is required with amounts: " + program.currency()});
    if (body.contains("items") && body["items"].is_array()) {
      const auto& items = body["items"];
      for (std::size_t i = 0; i < items.size(); ++i) {
        const std::string p = "items[" + std::to_string(i) + "]";
        const auto& it = items[i];
        if (!it.is_object() || !it.contains("sku") || !it["sku"].is_string()) {
          errors.push_back({p + ".sku", "is required: the sku returned"});
          continue;
        }
        long long quantity = 1;
        if (it.contains("quantity")) {
          if (!it["quantity"].is_number_integer() || it["quantity"].get<long long>() < 1 ||
              it["quantity"].get<long long>() > 1'000'000) {
            errors.push_back({p + ".quantity", "must be a whole number from 1 to 1000000"});
            continue;
          }
          quantity = it["quantity"].get<long long>();
        }
        in.refund_items.push_back({it["sku"].get<std::string>(), quantity, 0});
      }
    }
  } else if (body.contains("original_event_id")) {
    errors.push_back({"original_event_id", "only a refund names an original event"});
  }

  // The fields rules see (types, money digits, currency, items), every error at once.
  try {
    in.event = parse_event_json(rules_view(body, channel.empty() ? "-" : channel), digits,
                                program.currency(), now, channel);
  } catch (const ApiError& e) {
    for (const auto& fe : e.errors()) errors.push_back(fe);
  }
  // Amounts far beyond any receipt are refused, so that sums of lines (and the refund
  // arithmetic on them) stay far from overflow.
  constexpr long long kMaxAmountMinor = 10'000'000'000'000;  // 100 billion units of currency
  if (in.event.total.mantissa > kMaxAmountMinor)
    errors.push_back({"total", "is larger than any receipt Circolo accepts"});
  for (std::size_t i = 0; i < in.event.items.size(); ++i) {
    const auto& item = in.event.items[i];
    if (item.price.mantissa > kMaxAmountMinor / std::max<long long>(item.quantity, 1))
      errors.push_back({"items[" + std::to_string(i) + "]",
                        "price times quantity is larger than any receipt Circolo accepts"});
  }
  // Coupons are redeemed with a purchase, each code once, a few per basket.
  constexpr std::size_t kMaxCoupons = 10;
  if (!in.event.coupons.empty() && type != "purchase")
    errors.push_back({"coupons", "are redeemed with a purchase only"});
  if (in.event.coupons.size() > kMaxCoupons) {
    errors.push_back({"coupons", "at most " + std::to_string(kMaxCoupons) + " codes per purchase"});
  } else {
    std::set<std::string> seen;
    for (std::size_t i = 0; i < in.event.coupons.size(); ++i) {
      auto& code = in.event.coupons[i];
      code = engine::coupons::normalise_code(code);
      if (code.empty() || code.size() > 64)
        errors.push_back({"coupons[" + std::to_string(i) + "]", "must be a coupon code"});
      else if (!seen.insert(code).second)
        errors.push_back({"coupons[" + std::to_string(i) + "]", "is named twice"});
    }
  }
  if (!body.contains("occurred_at")) in.event.time = now;
  if (in.event.time > now + policy.clock_skew)
    errors.push_back({"occurred_at", "is in the future"});
  else if (in.event.time < now - policy.offline_window)
    errors.push_back({"occurred_at", "is older than the offline window (" +
                                         std::to_string(policy.offline_window.count() / 86400) +
                                         " days): such events are not accepted"});
  if (!errors.empty()) throw_validation(std::move(errors));
  in.event.channel = channel;
  if (body.contains("total")) in.total_minor = in.event.total.mantissa;

  // What is stored: the event as evaluated, amounts as decimal strings.
  json record{
      {"type", type}, {"channel", channel}, {"occurred_at", engine::format_rfc3339(in.event.time)}};
  if (in.event.store) record["store"] = *in.event.store;
  if (in.order_id) record["order_id"] = *in.order_id;
  if (in.total_minor) {
    record["total"] = money_text(*in.total_minor, digits);
    record["currency"] = program.currency();
  }
  if (body.contains("items")) {
    json items = json::array();
    if (type == "refund") {
      for (const auto& line : in.refund_items)
        items.push_back({{"sku", line.sku}, {"quantity", line.quantity}});
    } else {
      for (const auto& item : in.event.items) {
        json j{{"sku", item.sku},
               {"category", item.category},
               {"brand", item.brand},
               {"quantity", item.quantity},
               {"price", money_text(item.price.mantissa, digits)}};
        items.push_back(std::move(j));
      }
    }
    record["items"] = items;
  }
  if (!in.event.coupons.empty()) record["coupons"] = in.event.coupons;
  if (body.contains("attributes") && body["attributes"].is_object())
    record["attributes"] = body["attributes"];
  if (in.original_event_id) record["original_event_id"] = *in.original_event_id;
  in.record = std::move(record);
  return in;
}

namespace {

// ---- applying an event ----

// A member's stored attributes, read the way request attributes are (what a stored value
// cannot be is left out, as it was refused when stored).
rules::Attributes attributes_of(const json& stored) {
  std::vector<FieldError> ignored;
  return parse_attributes_json(stored, "member.attributes", ignored);
}

std::optional<rules::Date> date_of(const std::optional<std::string>& text) {
  if (!text || text->size() != 10) return std::nullopt;
  return rules::Date{std::stoi(text->substr(0, 4)), std::stoi(text->substr(5, 2)),
                     std::stoi(text->substr(8, 2))};
}

}  // namespace

rules::MemberSnapshot member_snapshot(const db::Member& member,
                                      const rules::CompiledProgram& program,
                                      long long available_points) {
  rules::MemberSnapshot s;
  s.id = member.id;
  s.tier = member.tier.value_or("");
  s.multiplier = rules::Decimal{1, 0};
  for (const auto& t : program.tiers()) {
    if (member.tier && t.id == *member.tier) s.multiplier = t.multiplier;
  }
  s.tags = member.tags;
  s.points = available_points;
  s.lifetime_points = member.lifetime_points;
  s.purchases = member.purchases;
  s.joined = member.joined_at;
  s.birthday = date_of(member.profile.birthday);
  s.attributes = attributes_of(member.profile.attributes);
  return s;
}

namespace {

// Everything one event does to one member, gathered while the rules run.
struct Work {
  Work(const EventContext& c, const rules::CompiledProgram& p, db::events::MemberState state)
      : context(c),
        program(p),
        member(std::move(state.member)),
        balances(state.balances),
        badges(std::move(state.badges)),
        qualifying(std::move(state.qualifying)),
        challenge_states(std::move(state.challenges)) {
    // Read with the member (for every challenge of the program).
    for (const auto& c : p.challenges()) challenges_read.insert(c.id);
  }
  const EventContext& context;
  const rules::CompiledProgram& program;
  db::Member member;
  engine::ledger::Balances balances;  // kept up to date as points move
  std::vector<std::string> badges;    // granted so far, this event's included
  // Qualifying points per tier window as read, and what this event moved since (every movement
  // is booked now, inside every window).
  std::vector<engine::ledger::Points> qualifying;
  engine::ledger::Points qualifying_added = 0;
  rules::MemberSnapshot snapshot;
  std::vector<std::string> tags;
  std::set<std::string> known_counters;   // rule_counters rows read (or locked) so far
  std::set<std::string> absent_counters;  // rows that did not exist when read
  std::map<std::string, long long> increments, caps;
  rules::Counters counters;
  json effects = json::array();
  engine::ledger::Points awarded = 0;  // by this event and the events it caused
  // Of which challenge rewards: a refund of the event does not take them back.
  engine::ledger::Points challenge_rewards = 0;
  // Challenges: explicit progress asked by the effects applied so far (not yet counted), and
  // the states read (and changed) so far.
  std::vector<rules::ChallengeHit> explicit_progress;
  std::map<std::string, db::gamification::ChallengeState> challenge_states;
  std::set<std::string> challenges_read;
  std::vector<rules::Event> derived;  // challenge_completed events still to evaluate
  std::vector<db::gamification::NewContribution> contributions;  // written together at the end
};

std::string limit_counter(const std::string& key) {
  return "limit:" + key;
}
std::string budget_counter(const std::string& campaign) {
  return "budget:" + campaign;
}

void describe_member(Work& w) {
  db::Member current = w.member;
  current.tags = w.tags;
  w.snapshot = member_snapshot(current, w.program, w.balances.available);
  w.snapshot.badges = w.badges;
}

}  // namespace

rules::Evaluation evaluate_knowing_counters(const rules::CompiledProgram& program,
                                            const rules::Event& event,
                                            const rules::MemberSnapshot& member,
                                            rules::Counters& counters, std::set<std::string>& known,
                                            bool with_trace, const CounterRead& read) {
  for (int round = 0;; ++round) {
    auto evaluation = program.evaluate(event, member, counters, with_trace);
    std::vector<std::string> missing;
    for (const auto& [key, n] : evaluation.firings_added) {
      if (!known.count(limit_counter(key))) missing.push_back(limit_counter(key));
    }
    for (const auto& [campaign, n] : evaluation.budget_added) {
      if (!known.count(budget_counter(campaign))) missing.push_back(budget_counter(campaign));
    }
    if (missing.empty()) return evaluation;
    // Each round reads at least one more counter of a finite set; a bound guards against bugs.
    if (round > 64) throw std::logic_error("counter reading did not settle");
    std::sort(missing.begin(), missing.end());
    const auto values = read(missing);
    for (const auto& key : missing) {
      known.insert(key);
      const auto it = values.find(key);
      const long long value = it == values.end() ? 0 : it->second;
      if (key.rfind("limit:", 0) == 0)
        counters.firings[key.substr(6)] = value;
      else
        counters.budget_used[key.substr(7)] = value;
    }
  }
}

namespace {

// Evaluates the program for `event` with the counters (limit firings, budgets) of every rule
// that would fire. Locked first on a retry; otherwise read without locks and settled at the end
// (settle_counters). Counters without a row yet are remembered: settling inserts them.
rules::Evaluation evaluate_counted(soci::session& sql, Work& w, const rules::Event& event) {
  return evaluate_knowing_counters(w.program, event, w.snapshot, w.counters, w.known_counters,
                                   false, [&](const std::vector<std::string>& keys) {
                                     auto values = w.context.lock_counters_first
                                                       ? db::events::lock_counters(sql, keys)
                                                       : db::events::read_counters(sql, keys);
                                     for (const auto& key : keys) {
                                       if (!values.count(key)) w.absent_counters.insert(key);
                                     }
                                     return values;
                                   });
}

// The one place where effects are applied. Challenge and badge effects join here when those
// features land; until then they change nothing and are not reported.
void apply_effects(soci::session& sql, db::Batch& batch, Work& w,
                   const rules::Evaluation& evaluation) {
  const auto& ctx = w.context;
  std::vector<db::points::Award> awards;        // booked together: one round trip
  std::map<std::string, long long> not_booked;  // expired on arrival, by campaign
  for (const auto& e : evaluation.effects) {
    switch (e.kind) {
      case rules::EffectKind::award: {
        // An offline event's award may have expired before it arrived: nothing to book, and
        // nothing taken from the campaign's budget.
        if (e.expires_at && *e.expires_at <= ctx.now) {
          not_booked[e.campaign] += e.points;
          break;
        }
        db::points::Award award;
        award.points = e.points;
        award.pending_until = e.pending_until;
        award.expires_at = e.expires_at;
        award.event_id = ctx.event_id;
        if (!e.challenge.empty()) {
          award.reason = "challenge:" + e.challenge;  // the reward of completing it
        } else {
          award.campaign = e.campaign;
          award.rule = e.rule;
        }
        if (award.pending_until && *award.pending_until > ctx.now)
          w.balances.pending += e.points;
        else
          w.balances.available += e.points;
        w.qualifying_added += e.points;
        awards.push_back(std::move(award));
        w.awarded += e.points;
        if (!e.challenge.empty()) w.challenge_rewards += e.points;
        w.effects.push_back(effect_json(e, w.program.currency_digits()));
        break;
      }
      case rules::EffectKind::tag:
      case rules::EffectKind::untag: {
        const auto it = std::find(w.tags.begin(), w.tags.end(), e.target);
        const bool add = e.kind == rules::EffectKind::tag;
        if (add == (it != w.tags.end())) break;  // already so: nothing happened
        if (add)
          w.tags.push_back(e.target);
        else
          w.tags.erase(it);
        w.effects.push_back(effect_json(e, w.program.currency_digits()));
        break;
      }
      case rules::EffectKind::notify:
        db::points::publish(batch, "notification", w.member.id, ctx.now,
                            {{"message", e.message},
                             {"campaign", e.campaign},
                             {"rule", e.rule},
                             {"event_id", ctx.event_id}});
        w.effects.push_back(effect_json(e, w.program.currency_digits()));
        break;
      case rules::EffectKind::issue_coupon: {
        // A code of the template, the member's from now on (coupon.issued goes out with it).
        auto issued =
            issue_coupon(sql, w.program, e.target, w.member.id, ctx.now, "rule", ctx.event_id);
        auto effect = effect_json(e, w.program.currency_digits());
        effect["code"] = issued["code"];
        effect["expires_at"] = issued["expires_at"];
        w.effects.push_back(std::move(effect));
        break;
      }
      case rules::EffectKind::progress_challenge:
        // Counted with the event's own contributions (settle_challenges), which reports it.
        if (e.points > 0) w.explicit_progress.push_back({e.target, e.points, ""});
        break;
      case rules::EffectKind::grant_badge: {
        if (std::find(w.badges.begin(), w.badges.end(), e.target) != w.badges.end())
          break;  // held already: granting again changes nothing
        w.badges.push_back(e.target);
        db::gamification::grant_badge(batch, w.member.id, e.target, ctx.now, ctx.event_id);
        json data{{"badge", e.target}, {"event_id", ctx.event_id}};
        if (!e.challenge.empty()) data["challenge"] = e.challenge;
        db::points::publish(batch, "badge.granted", w.member.id, ctx.now, data);
        w.effects.push_back(effect_json(e, w.program.currency_digits()));
        break;
      }
    }
  }
  db::points::earn_many(batch, w.member.id, awards, ctx.now);
  for (const auto& [key, n] : evaluation.firings_added) {
    w.increments[limit_counter(key)] += n;
    w.caps[limit_counter(key)] = evaluation.limit_caps.at(key);
    w.counters.firings[key] += n;
  }
  for (const auto& [campaign, added] : evaluation.budget_added) {
    const long long n = added - (not_booked.count(campaign) ? not_booked.at(campaign) : 0);
    if (n <= 0) continue;
    w.increments[budget_counter(campaign)] += n;
    w.caps[budget_counter(campaign)] = evaluation.budget_caps.at(campaign);
    w.counters.budget_used[campaign] += n;
  }
}

// The tier the member's qualifying points reach now, if higher than its tier: events only
// raise tiers (at once); lowering them is the daily review's (review_tiers). Returns the change.
std::optional<std::pair<std::string, std::string>> recompute_tier(Work& w) {
  const auto& tiers = w.program.tiers();
  std::optional<std::string> now_tier;
  if (!tiers.empty()) {
    std::vector<engine::tiers::Level> levels;
    std::vector<engine::ledger::Points> qualifying;
    for (std::size_t i = 0; i < tiers.size(); ++i) {
      levels.push_back({tiers[i].id, tiers[i].threshold});
      qualifying.push_back(w.qualifying[i] + w.qualifying_added);
    }
    const auto standing = engine::tiers::standing(levels, qualifying);
    if (standing.tier) now_tier = tiers[*standing.tier].id;
  }
  if (now_tier == w.member.tier) return std::nullopt;
  // The rank of a tier in the program (-1: none, or one the program no longer has).
  const auto rank = [&](const std::optional<std::string>& id) {
    for (std::size_t i = 0; i < tiers.size(); ++i) {
      if (id && tiers[i].id == *id) return static_cast<long>(i);
    }
    return -1L;
  };
  if (rank(now_tier) <= rank(w.member.tier)) return std::nullopt;
  std::pair<std::string, std::string> change{w.member.tier.value_or(""), now_tier.value_or("")};
  w.member.tier = now_tier;
  return change;
}

json progress_value(const rules::CompiledProgram::Challenge& c, long long value) {
  if (c.scale == 0) return value;
  return engine::format_money({value, c.scale});
}

// Counts `event` toward the challenges it matches and those `progress challenge` actions named,
// re-decides those a refund took contributions from (`touched`), and completes the ones that
// reach their goal: their `then` effects are applied here, in the event's transaction, and a
// challenge_completed event is queued for the rules. The member's row lock serialises its
// events, so two events can never both complete the same round.
void settle_challenges(soci::session& sql, db::Batch& batch, Work& w, const rules::Event& event,
                       const std::vector<std::string>& touched) {
  const auto& program = w.program;
  const auto& ctx = w.context;
  struct Counted {
    rules::ChallengeHit hit;
    bool explicit_progress = false;
  };
  std::vector<Counted> hits;
  for (auto& hit : program.challenge_hits(event, w.snapshot)) hits.push_back({std::move(hit)});
  for (const auto& asked : w.explicit_progress) {
    if (auto hit = program.explicit_hit(asked.challenge, asked.amount, event, w.snapshot))
      hits.push_back({std::move(*hit), true});
  }
  w.explicit_progress.clear();
  if (hits.empty() && touched.empty()) return;

  std::vector<std::string> involved;
  for (const auto& c : program.challenges()) {
    const bool hit = std::any_of(hits.begin(), hits.end(),
                                 [&](const auto& h) { return h.hit.challenge == c.id; });
    if (hit || std::find(touched.begin(), touched.end(), c.id) != touched.end())
      involved.push_back(c.id);
  }
  std::vector<std::string> unread;
  for (const auto& id : involved) {
    if (w.challenges_read.insert(id).second) unread.push_back(id);
  }
  for (auto& [id, state] : db::gamification::load(sql, w.member.id, unread))
    w.challenge_states[id] = std::move(state);

  for (const auto& id : involved) {
    const auto& info = *program.challenge(id);
    auto& state = w.challenge_states[id];
    bool changed = false;  // the state row needs writing (contributions are rows of their own)
    if (state.challenge.empty()) {
      state.challenge = id;
      state.digest = info.digest;
      changed = true;
    }
    if (!info.repeatable && state.completions > 0) continue;  // done for good
    if (state.digest != info.digest) {
      // A new program version changed the goal or what counts: progress starts again.
      state.digest = info.digest;
      ++state.round;
      state.contributions.clear();
      changed = true;
    }
    const auto window =
        info.within ? std::optional(program.window_start(*info.within, ctx.now)) : std::nullopt;
    const auto unit = info.streak_unit;
    const auto decide = [&] {
      return engine::challenges::evaluate(
          info.goal, state.contributions, window, ctx.now,
          [&program, unit](engine::TimePoint t) { return program.period_index(unit, t); });
    };
    const auto before = decide().value;
    for (const auto& [hit, explicit_progress] : hits) {
      if (hit.challenge != id) continue;
      db::gamification::NewContribution c;
      c.challenge = id;
      c.digest = state.digest;
      c.event_id = ctx.event_id;
      c.round = state.round;
      c.explicit_progress = explicit_progress;
      // A touchpoint's clock a little ahead: the event counts now, not in a moment.
      c.at = std::min(event.time, ctx.now);
      c.amount = hit.amount;
      c.key = hit.key;
      w.contributions.push_back(c);
      state.contributions.push_back({c.at, hit.amount, hit.key, ctx.event_id});
    }
    const auto progress = decide();
    // Reported when it moved (a refund's take-back is reported as it is): an event that counts
    // without changing anything (a channel already seen, a week already in the streak) is quiet.
    const bool refunded = std::find(touched.begin(), touched.end(), id) != touched.end();
    if (progress.value == before && !progress.completed && !refunded) {
      if (changed) db::gamification::save_state(batch, w.member.id, state);
      continue;
    }
    const json value = progress_value(info, std::min(progress.value, info.goal.target));
    const json goal = progress_value(info, info.goal.target);
    w.effects.push_back({{"type", "challenge_progress"},
                         {"challenge", id},
                         {"progress", value},
                         {"goal", goal},
                         {"completed", progress.completed}});
    db::points::publish(
        batch, "challenge.progressed", w.member.id, ctx.now,
        {{"challenge", id}, {"progress", value}, {"goal", goal}, {"event_id", ctx.event_id}});
    if (progress.completed) {
      changed = true;
      ++state.completions;
      ++state.round;  // a repeatable challenge starts again; a finished one counts no more
      state.completed_at = ctx.now;
      state.contributions.clear();
      w.effects.push_back(
          {{"type", "challenge_completed"}, {"challenge", id}, {"completions", state.completions}});
      db::points::publish(batch, "challenge.completed", w.member.id, ctx.now,
                          {{"challenge", id},
                           {"name", info.name},
                           {"completions", state.completions},
                           {"event_id", ctx.event_id}});
      rules::Evaluation rewards;
      rewards.effects = program.completion_effects(id, event, w.snapshot);
      apply_effects(sql, batch, w, rewards);
      describe_member(w);
      rules::Event completed;
      completed.type = "challenge_completed";
      completed.channel = event.channel;
      completed.store = event.store;
      completed.time = event.time;
      completed.attributes["challenge"] = id;
      w.derived.push_back(std::move(completed));
    }
    if (changed) db::gamification::save_state(batch, w.member.id, state);
  }
}

struct Refund {
  db::events::Event original;
  engine::refunds::Decision decision;
  // The purchase's total not refunded before this refund, and after it: a partial refund
  // scales `sum` challenge contributions by their ratio.
  long long left_before = 0, left_after = 0;
};

[[noreturn]] void refuse_refund(const engine::refunds::Decision& d) {
  using engine::refunds::Refusal;
  switch (d.refusal) {
    case Refusal::nothing_to_refund:
      throw ApiError(http::status::unprocessable_entity, "nothing_to_refund",
                     "the refund gives nothing back: send a positive total or some items");
    case Refusal::exceeds_purchase:
      throw ApiError(http::status::conflict, "refund_exceeds_purchase",
                     "the refunds of this purchase would exceed its total");
    case Refusal::unknown_item:
      throw ApiError(http::status::unprocessable_entity, "unknown_item",
                     "the purchase has no item with sku " + d.sku, {{"items", "unknown sku"}});
    case Refusal::exceeds_quantity:
      throw ApiError(http::status::conflict, "refund_exceeds_purchase",
                     "more of sku " + d.sku + " would be returned than was bought");
    case Refusal::none:
      break;
  }
  throw std::logic_error("refuse_refund without a refusal");
}

engine::refunds::Purchase purchase_of(soci::session& sql, const db::events::Event& original,
                                      int digits) {
  engine::refunds::Purchase p;
  p.total_minor = original.total_minor.value_or(0);
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
  for (const auto& refund : db::events::refunds_of(sql, original.id)) {
    if (!refund.contains("items")) continue;
    for (const auto& item : refund["items"])
      p.refunded_lines.push_back({item.value("sku", ""), item.value("quantity", 1LL), 0});
  }
  return p;
}

}  // namespace

db::events::MemberStateRead member_state_read(const IncomingEvent& in, const EventContext& ctx,
                                              const std::optional<db::events::ClaimOf>& claim) {
  // Its tier windows are read with it.
  std::vector<engine::TimePoint> since;
  for (const auto& t : ctx.program->tiers())
    since.push_back(ctx.program->window_start(t.window, ctx.now));
  // Challenges with what can still count toward them: their window, or for a streak the
  // periods it can still reach back to.
  std::vector<db::events::ChallengeWindow> challenges;
  for (const auto& c : ctx.program->challenges()) {
    std::optional<engine::TimePoint> since;
    if (c.within) since = ctx.program->window_start(*c.within, ctx.now);
    if (c.goal.kind == engine::challenges::GoalKind::streak) {
      const rules::Duration back{
          std::min<std::int64_t>(c.goal.target, 10'000) + 1, c.streak_unit, {}};
      const auto streak_start = ctx.program->window_start(back, ctx.now);
      since = since ? std::max(*since, streak_start) : streak_start;
    }
    challenges.push_back({c.id, since});
  }
  return db::events::member_state_read(in.member_id, in.member_id ? std::nullopt : in.identifier,
                                       ctx.now, since, challenges, claim);
}

namespace {

// Resolves the member an event is for, following merges to no one: a merged member answers 410.
// A known member is found and locked, with everything the rules need, in one round trip: the
// one `prefetched` answered when the read was sent ahead with BEGIN.
db::events::MemberState resolve_member(soci::session& sql, const IncomingEvent& in,
                                       const EventContext& ctx, bool& enrolled,
                                       const std::vector<db::Row>* prefetched = nullptr) {
  const auto read = member_state_read(in, ctx);
  auto lock = [&] {
    if (prefetched) return db::events::member_state(sql, read, *prefetched);
    return db::events::member_state(sql, read, db::fetch(sql, *read.read.query, read.read.params));
  };
  std::optional<db::events::MemberState> state;
  if (in.member_id) {
    state = lock();
    if (!state)
      throw ApiError(http::status::not_found, "unknown_member", "no member " + *in.member_id);
  } else if (in.identifier) {
    state = lock();
    if (!state && in.enroll) {
      db::Member fresh;
      fresh.id = new_id("mem");
      fresh.joined_at = in.event.time;  // an offline POS enrols as of the purchase
      fresh.tier = entry_tier(*ctx.program);
      if (db::members::insert(sql, fresh, {*in.identifier}, ctx.now)) {
        // Enrolled by a concurrent request a moment ago: start again and find it.
        throw db::RetryTransaction("identifier enrolled concurrently");
      }
      // The enrolment is the first entry of the member's journey, as with POST /v1/members.
      db::TimelineEntry entry;
      entry.member_id = fresh.id;
      entry.type = "member.enrolled";
      entry.channel = in.event.channel;
      entry.occurred_at = in.event.time;
      entry.recorded_at = ctx.now;
      entry.data = {
          {"identifiers", {{{"type", in.identifier->type}, {"value", in.identifier->value}}}},
          {"event_id", ctx.event_id}};
      db::members::timeline_append(sql, entry);
      enrolled = true;
      IncomingEvent by_id = in;
      by_id.member_id = fresh.id;
      const auto fresh_read = member_state_read(by_id, ctx);
      state = db::events::member_state(
          sql, fresh_read, db::fetch(sql, *fresh_read.read.query, fresh_read.read.params));
      if (!state) throw std::logic_error("the member enrolled a moment ago is missing");
    } else if (!state) {
      throw ApiError(http::status::not_found, "unknown_member",
                     "no member has the " + in.identifier->type +
                         " identifier given; send \"enroll\": true to enrol one",
                     {}, {{"identifier", {{"type", in.identifier->type}}}});
    }
  } else {
    throw std::logic_error("an event without a member");
  }
  if (state->member.merged_into)
    throw ApiError(http::status::gone, "member_merged",
                   "member " + state->member.id + " was merged into " + *state->member.merged_into,
                   {}, {{"merged_into", *state->member.merged_into}});
  return std::move(*state);
}

}  // namespace

json apply_event(soci::session& sql, const IncomingEvent& in, const EventContext& ctx,
                 db::Batch& batch, const std::vector<db::Row>* prefetched) {
  const auto& program = *ctx.program;
  const int digits = program.currency_digits();
  rules::Event event = in.event;

  // A refund: the purchase it names decides whose points come back, and how many.
  std::optional<Refund> refund;
  IncomingEvent resolved = in;
  if (in.original_event_id) {
    auto original = db::events::lock(sql, *in.original_event_id);
    if (!original)
      throw ApiError(http::status::unprocessable_entity, "unknown_original_event",
                     "no event " + *in.original_event_id, {{"original_event_id", "no such event"}});
    if (original->type != "purchase")
      throw ApiError(
          http::status::unprocessable_entity, "not_refundable",
          "event " + original->id + " is a " + original->type + "; only purchases can be refunded",
          {{"original_event_id", "is not a purchase"}});
    auto owner = db::members::find(sql, original->member_id);
    while (owner && owner->merged_into) owner = db::members::find(sql, *owner->merged_into);
    if (!owner) throw std::logic_error("the purchase's member is missing");
    if (in.member_id || in.identifier) {
      bool unused = false;
      const auto named = resolve_member(sql, in, ctx, unused);
      if (named.member.id != owner->id)
        throw ApiError(http::status::unprocessable_entity, "member_mismatch",
                       "the purchase belongs to another member",
                       {{"member", "is not the member of the original purchase"}});
    }
    resolved.member_id = owner->id;
    resolved.identifier.reset();
    const auto purchase = purchase_of(sql, *original, digits);
    auto decision = in.refund_items.empty()
                        ? engine::refunds::refund_amount(purchase, in.total_minor.value_or(0))
                        : engine::refunds::refund_items(purchase, in.refund_items);
    if (decision.refusal != engine::refunds::Refusal::none) refuse_refund(decision);
    // The rules see what this refund gives back.
    event.total = rules::Decimal{decision.amount_minor, digits};
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
    const long long left_before = purchase.total_minor - purchase.refunded_minor;
    const long long left_after = left_before - decision.amount_minor;
    refund = Refund{std::move(*original), std::move(decision), left_before, left_after};
  }

  bool enrolled = false;
  // The member's read went ahead with BEGIN, unless a refund names the member through its
  // purchase.
  Work w{ctx, program, resolve_member(sql, resolved, ctx, enrolled, refund ? nullptr : prefetched)};
  w.tags = w.member.tags;
  w.counters.paused = *ctx.paused;
  // A member without a tier yet is in the entry tier (threshold 0), if the program has one:
  // that is where it starts, not a change.
  if (!w.member.tier) w.member.tier = entry_tier(program);
  describe_member(w);

  engine::ledger::Points reversed = 0, reversed_taken = 0;
  std::vector<std::string> touched;  // challenges a refund took contributions from
  if (refund) {
    const auto result = db::points::reverse(sql, w.member.id, refund->original.id,
                                            refund->decision.points, ctx.now);
    reversed = refund->decision.points;
    db::events::add_refund(sql, refund->original.id, refund->decision.amount_minor,
                           refund->decision.points);
    w.effects.push_back({{"type", "points_reversed"},
                         {"points", result.plan.taken},
                         {"unrecovered", result.plan.unrecovered},
                         {"original_event_id", refund->original.id}});
    w.balances = db::points::balances(sql, w.member.id, ctx.now);
    w.qualifying_added -= result.plan.taken;
    w.snapshot.points = w.balances.available;
    reversed_taken = result.plan.taken;
    // Refunded in full, the purchase no longer counts toward challenges still open. In part, it
    // still happened (it counts once, on its channel, in its period): only what it added to
    // `sum` goals shrinks with the share of its total left. A refund that gives no money back
    // (free items) leaves them as they are, unless it returns the last of the purchase.
    if (refund->decision.completes) {
      touched = db::gamification::take_back(sql, w.member.id, refund->original.id);
      for (const auto& id : touched) {
        auto& state = w.challenge_states[id];
        state.contributions = engine::challenges::without(state.contributions, refund->original.id);
      }
    } else if (refund->decision.amount_minor > 0 && refund->left_after > 0) {
      std::vector<std::string> sums;
      for (const auto& c : program.challenges()) {
        if (c.goal.kind == engine::challenges::GoalKind::sum) sums.push_back(c.id);
      }
      touched = db::gamification::scale_back(sql, w.member.id, refund->original.id, sums,
                                             refund->left_after, refund->left_before);
      for (const auto& id : touched) {
        auto& state = w.challenge_states[id];
        state.contributions = engine::challenges::scaled(state.contributions, refund->original.id,
                                                         refund->left_after, refund->left_before);
      }
    }
  }

  // Coupons first: a refused one fails the whole event, before anything else is decided. They
  // are locked in key order (no deadlock between two baskets naming the same codes); together
  // they never take more than the total (each at most what those before it, in that order,
  // left).
  std::vector<std::size_t> order(in.event.coupons.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto key = [&](std::size_t i) {
    return engine::coupons::code_number(in.event.coupons[i]).value_or(-1);
  };
  std::sort(order.begin(), order.end(), [&](auto a, auto b) { return key(a) < key(b); });
  std::vector<json> redeemed(order.size());
  long long remaining = in.total_minor.value_or(0);
  for (const auto i : order) {
    CouponUse use;
    use.code = in.event.coupons[i];
    use.member_id = w.member.id;
    use.total_minor = in.total_minor.value_or(0);
    use.discount_limit = remaining;
    use.channel = in.event.channel;
    use.order_id = in.order_id;
    use.event_id = ctx.event_id;
    use.used_at = std::min(in.event.time, ctx.now);  // an offline sale redeems as of then
    const auto done = redeem_coupon(sql, use, ctx.now, "coupons[" + std::to_string(i) + "]");
    remaining -= done.discount_minor;
    redeemed[i] = {{"type", "coupon_redeemed"},
                   {"code", done.code},
                   {"coupon", done.coupon},
                   {"redemption_id", done.redemption_id},
                   {"discount", money_text(done.discount_minor, done.digits)}};
  }
  for (auto& effect : redeemed) w.effects.push_back(std::move(effect));

  apply_effects(sql, batch, w, evaluate_counted(sql, w, event));
  describe_member(w);
  settle_challenges(sql, batch, w, event, touched);

  // The tier after this event's points, and the events Circolo makes for the rules: a tier
  // change, a challenge completed. Each may cause more, up to kMaxDerivedEvents.
  auto tier_change = [&]() -> std::optional<rules::Event> {
    const auto change = recompute_tier(w);
    if (!change) return std::nullopt;
    const json from = change->first.empty() ? json(nullptr) : json(change->first);
    const json to = change->second.empty() ? json(nullptr) : json(change->second);
    w.effects.push_back({{"type", "tier_changed"}, {"from", from}, {"to", to}});
    db::points::publish(batch, "tier.changed", w.member.id, ctx.now,
                        {{"from", from}, {"to", to}, {"event_id", ctx.event_id}});
    rules::Event tier_event;
    tier_event.type = "tier_changed";
    tier_event.channel = event.channel;
    tier_event.store = event.store;
    tier_event.time = event.time;
    tier_event.attributes["from"] = change->first;
    tier_event.attributes["to"] = change->second;
    return tier_event;
  };
  for (int derived = 0; derived < kMaxDerivedEvents; ++derived) {
    if (auto changed = tier_change()) w.derived.insert(w.derived.begin(), std::move(*changed));
    if (w.derived.empty()) break;
    const auto next = std::move(w.derived.front());
    w.derived.erase(w.derived.begin());
    describe_member(w);
    apply_effects(sql, batch, w, evaluate_counted(sql, w, next));
    describe_member(w);
    settle_challenges(sql, batch, w, next, {});
  }
  tier_change();  // past the bound: the tier is still right, its rules are not run again

  db::events::Event row;
  row.id = ctx.event_id;
  row.member_id = w.member.id;
  row.type = in.event.type;
  row.channel = in.event.channel;
  row.store = in.event.store;
  row.order_id = in.order_id;
  row.occurred_at = in.event.time;
  row.recorded_at = ctx.now;
  row.program_version = ctx.program_version;
  row.api_key_id = ctx.api_key_id;
  row.total_minor =
      refund ? std::optional<long long>(refund->decision.amount_minor) : in.total_minor;
  row.original_event_id = in.original_event_id;
  row.points_awarded = w.awarded - w.challenge_rewards;  // what a refund may take back
  row.body = in.record;
  if (refund) row.body["total"] = money_text(refund->decision.amount_minor, digits);
  if (refund && !refund->decision.returned.empty()) {
    json items = json::array();
    for (const auto& line : refund->decision.returned)
      items.push_back({{"sku", line.sku}, {"quantity", line.quantity}});
    row.body["items"] = items;
  }
  row.effects = w.effects;
  // The event, the timeline entry and the member's new tier, counts and tags together.
  db::events::MemberUpdate update{w.member.tier, in.event.type == "purchase" ? 1 : 0,
                                  w.awarded - reversed, w.tags};
  const std::string order_id = in.order_id.value_or("");
  db::gamification::add_contributions(batch, w.member.id, w.contributions);
  db::events::record(batch, row, update, [order_id](const db::SqlError&) {
    throw ApiError(
        http::status::conflict, "duplicate_order",
        "a purchase with order_id " + order_id + " was already recorded on this channel and store",
        {{"order_id", "was already recorded"}});
  });
  // Leaderboards rank the points earned in each calendar period: booked in the periods they
  // were received in; what a refund takes back comes off the periods of the purchase.
  db::gamification::add_points(batch, w.member.id, leaderboard_periods(program, ctx.now),
                               w.awarded);
  if (refund && reversed_taken > 0) {
    db::gamification::add_points(batch, w.member.id,
                                 leaderboard_periods(program, refund->original.recorded_at),
                                 -reversed_taken);
  }
  const auto balances = w.balances;
  // Last: the counters, locked (key order) for the one round trip that also commits. Counters
  // locked before deciding (a retry) are within their caps already and settle the same way.
  std::vector<std::string> absent;
  for (const auto& [key, n] : w.increments) {
    if (w.absent_counters.count(key)) absent.push_back(key);
  }
  db::events::settle_counters(batch, w.increments, w.caps, absent);
  json response{{"event_id", ctx.event_id},
                {"member_id", w.member.id},
                {"effects", w.effects},
                {"points", {{"available", balances.available}, {"pending", balances.pending}}},
                {"tier", w.member.tier ? json(*w.member.tier) : json(nullptr)},
                {"program_version", ctx.program_version}};
  if (enrolled) response["enrolled"] = true;
  return response;
}

}  // namespace circolo::api
