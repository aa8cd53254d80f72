// POST /v1/events, stage one: the request validated into what the decision takes (pure).
#include <algorithm>
#include <regex>
#include <set>

#include "circolo/api/events.hpp"
#include "circolo/api/members.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/api/referrals.hpp"
#include "circolo/api/request_json.hpp"
#include "circolo/engine/money.hpp"

namespace circolo::api {

namespace {

using nlohmann::json;

const std::set<std::string> kBuiltinTypes = {"purchase", "refund", "visit", "signup"};
// Rules see these as events too, but only Circolo makes them.
const std::set<std::string> kDerivedTypes = {"challenge_completed", "tier_changed",
                                             "referral_completed", "referral_reversed"};

// A type that is not built in must be one the active program names (`event "NAME"`, or a rule's
// or challenge's `on event "NAME"`); a case variant of a built-in type is always a mistake, and
// a near miss of one that the program does not name is a typo, not a new type.
void check_event_type(const std::string& type, const rules::CompiledProgram& program,
                      std::vector<FieldError>& errors) {
  if (kBuiltinTypes.count(type)) return;
  std::string lower = type;
  for (auto& ch : lower) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  if (!kBuiltinTypes.count(lower) && program.names_event_type(type)) return;
  const std::vector<std::string> builtin(kBuiltinTypes.begin(), kBuiltinTypes.end());
  std::string near = kBuiltinTypes.count(lower) ? lower : rules::nearest(lower, builtin);
  if (!near.empty()) {
    errors.push_back({"type", "unknown event type '" + type + "'; did you mean '" + near +
                                  "'? (event types are exact)"});
    return;
  }
  const auto& known = program.event_types();
  std::string list;
  for (std::size_t i = 0; i < known.size() && i < 20; ++i) list += (i ? ", " : "") + known[i];
  if (known.size() > 20) list += ", ... (" + std::to_string(known.size()) + " in all)";
  near = rules::nearest(type, known);
  throw ApiError(http::status::unprocessable_entity, "unknown_event_type",
                 "unknown event type '" + type + "'" +
                     (near.empty() ? std::string() : "; did you mean '" + near + "'?") +
                     " Custom types must be named by the active program (" +
                     (known.empty() ? std::string("it names none") : "known: " + list) +
                     "); a type for the timeline only is declared with event \"" + type + "\" { }",
                 {{"type", "is not a type the active program names"}}, {{"known_types", known}});
}

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

// `member`: {"id"}, {"identifier"}, {"identifiers": [...]} (any of them finds the member), or
// {"link_code"} with optional {"identifiers"} to link; `enroll` and `link` beside it.
void parse_member(const json& body, const std::string& type, IncomingEvent& in,
                  std::vector<FieldError>& errors) {
  constexpr const char* kShapes =
      "must be {\"id\"}, {\"identifier\":{\"type\",\"value\"}}, {\"identifiers\":[...]} or "
      "{\"link_code\"} (with optional identifiers to link)";
  if (body.contains("member")) {
    const auto& m = body["member"];
    const auto only = [&](std::initializer_list<const char*> names) {
      for (const auto& item : m.items()) {
        const std::string& field = item.key();
        if (std::none_of(names.begin(), names.end(), [&](const char* n) { return field == n; }))
          return false;
      }
      return true;
    };
    if (!m.is_object() || m.empty()) {
      errors.push_back({"member", kShapes});
    } else if (m.contains("id")) {
      if (!only({"id"}))
        errors.push_back({"member", kShapes});
      else if (!m["id"].is_string() || m["id"].get<std::string>().empty() ||
               m["id"].get<std::string>().size() > 100)
        errors.push_back({"member.id", "must be a member id"});
      else
        in.member_id = m["id"].get<std::string>();
    } else if (m.contains("identifier")) {
      if (!only({"identifier"}))
        errors.push_back({"member", kShapes});
      else
        in.identifier = parse_identifier_field(m["identifier"], "member.identifier", errors);
    } else if (!only({"identifiers", "link_code"})) {
      errors.push_back({"member", kShapes});
    } else {
      if (m.contains("link_code")) {
        const auto& code = m["link_code"];
        if (!code.is_string() || code.get<std::string>().empty() ||
            code.get<std::string>().size() > 32)
          errors.push_back({"member.link_code", "must be the code the member's app shows"});
        else
          in.link_code = code.get<std::string>();
      }
      if (m.contains("identifiers")) {
        const auto& list = m["identifiers"];
        if (!list.is_array() || list.empty() || list.size() > 10) {
          errors.push_back({"member.identifiers", "must be a list of 1 to 10 identifiers"});
        } else {
          for (std::size_t i = 0; i < list.size(); ++i) {
            const std::string field = "member.identifiers[" + std::to_string(i) + "]";
            auto id = parse_identifier_field(list[i], field, errors);
            if (!id) continue;
            // The same identifier twice (as typed, or once normalised) is a mistake to say.
            if (std::find(in.identifiers.begin(), in.identifiers.end(), *id) !=
                in.identifiers.end())
              errors.push_back({field, "is listed twice"});
            else
              in.identifiers.push_back(*id);
          }
        }
      } else if (!m.contains("link_code")) {
        errors.push_back({"member", kShapes});
      }
      // One identifier and no code is the plain lookup (and its fast path).
      if (!in.link_code && in.identifiers.size() == 1) {
        in.identifier = in.identifiers.front();
        in.identifiers.clear();
      }
    }
  } else if (type != "refund") {
    errors.push_back(
        {"member",
         "is required: {\"id\"}, {\"identifier\"}, {\"identifiers\"} or {\"link_code\"}"});
  }
  const auto flag = [&](const char* name, bool& out) {
    if (!body.contains(name)) return;
    if (!body[name].is_boolean())
      errors.push_back({name, "must be true or false"});
    else
      out = body[name].get<bool>();
  };
  flag("enroll", in.enroll);
  flag("link", in.link);
  const bool by_identifiers = in.identifier || !in.identifiers.empty();
  if (in.enroll && (!by_identifiers || in.link_code))
    errors.push_back({"enroll", "needs member.identifier(s) and no link code: what to enrol with"});
  if (in.enroll && type == "refund")
    errors.push_back({"enroll", "a refund is for an existing purchase"});
  if (in.link && !by_identifiers)
    errors.push_back({"link", "needs member.identifiers: the identifiers to link"});
  in.referral_code = parse_referral_code(body, errors);
  if (body.contains("referral_code")) {
    if (!in.enroll)
      errors.push_back({"referral_code", "needs \"enroll\": true: a referral brings a new member"});
  }
}

}  // namespace

IncomingEvent parse_incoming_event(const json& body, const rules::CompiledProgram& program,
                                   engine::TimePoint now, const Principal& caller,
                                   const EventPolicy& policy) {
  if (!body.is_object()) throw_validation({{"", "the body must be a JSON object"}});
  std::vector<FieldError> errors;
  static const std::set<std::string> known = {
      "type",         "member",  "enroll",  "link",       "profile",
      "occurred_at",  "channel", "store",   "order_id",   "total",
      "currency",     "items",   "coupons", "attributes", "original_event_id",
      "referral_code"};
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
    else
      check_event_type(type, program, errors);
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

  // Who: a member id, identifiers, or a link code; a refund may leave it to its purchase.
  parse_member(body, type, in, errors);
  // A profile (as a merge patch), for a sign-up or any event: written with the event.
  if (body.contains("profile") && !body["profile"].is_null()) {
    try {
      in.profile = parse_profile_patch(body["profile"], now);
    } catch (const ApiError& e) {
      for (const auto& f : e.errors())
        errors.push_back({f.field.empty() ? "profile" : "profile." + f.field, f.message});
    }
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

}  // namespace circolo::api
