// libFuzzer target over the request validators and the paging cursors: what clients send as a
// body (parsed with the server's own size and depth limits) or as ?cursor=. The first byte
// picks the validator and its options, the rest is its input. A validator answers a typed
// request or refuses with ApiError, a 4xx whose problem document renders; anything else it
// throws (a json::type_error, std::out_of_range) would be a 500, so it escapes and fails the
// run. What is accepted is checked: amounts and points are exactly the numbers written and
// within range, identifiers and coupon codes are in normal form, times are in their window,
// a profile patch applied twice changes nothing the second time, and a cursor re-encodes to
// text that decodes to the same position.
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <variant>

#include "circolo/api/events.hpp"
#include "circolo/api/http.hpp"
#include "circolo/api/members.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/api/request_json.hpp"
#include "circolo/engine/coupons.hpp"
#include "circolo/engine/money.hpp"
#include "circolo/engine/referrals.hpp"
#include "circolo/rules/evaluate.hpp"
#include "coupon_requests.hpp"

using namespace circolo;
using nlohmann::json;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

const engine::TimePoint kNow = *engine::parse_rfc3339("2026-06-01T12:00:00Z");

// One program per currency precision: JPY (0 digits), EUR (2), KWD (3).
const rules::CompiledProgram& program(int which) {
  static const auto programs = [] {
    std::vector<std::shared_ptr<const rules::CompiledProgram>> out;
    for (const char* currency : {"JPY", "EUR", "KWD"}) {
      const std::string text = std::string("program {\n  currency \"") + currency +
                               "\"\n  timezone \"Europe/Rome\"\n}\n\nevent \"app_open\" { }\n";
      auto compiled = rules::compile({"fuzz.rules", text});
      check(compiled.program != nullptr);
      out.push_back(compiled.program);
    }
    return out;
  }();
  return *programs[static_cast<std::size_t>(which) % programs.size()];
}

// A refusal the client can act on: a 4xx with a code, whose problem document renders as JSON
// (field names and messages echo the client's text).
void refusal(const api::ApiError& e) {
  const auto status = static_cast<int>(e.status());
  check(status >= 400 && status < 500 && !e.code().empty());
  if (e.code() == "validation_failed") check(status == 422 && !e.errors().empty());
  check(json::accept(api::problem_body(e.status(), e.code(), e.detail(), e.errors(), "req")));
}

long long pow10(int digits) {
  long long p = 1;
  while (digits-- > 0) p *= 10;
  return p;
}

// The minor units an accepted amount must have: the decimal string read exactly, or the JSON
// integer scaled (nullopt: a float, whose text the validator derives itself).
std::optional<__int128> written_minor(const json& v, int digits) {
  if (v.is_string()) {
    const auto parsed = engine::parse_money(v.get<std::string>(), digits);
    check(parsed.value.has_value());
    return parsed.value->minor;
  }
  if (v.is_number_unsigned())
    return static_cast<__int128>(v.get<unsigned long long>()) * pow10(digits);
  if (v.is_number_integer()) return static_cast<__int128>(v.get<long long>()) * pow10(digits);
  return std::nullopt;
}

void amount(const rules::Decimal& d, const json& written, int digits) {
  check(d.scale == digits && d.mantissa >= 0);
  if (auto minor = written_minor(written, digits)) check(*minor == d.mantissa);
}

void normal_identifier(const engine::Identifier& id) {
  const auto again = engine::normalize_identifier(id.type, id.value);
  const auto* same = std::get_if<engine::Identifier>(&again);
  check(same && *same == id);
}

// Integers are the JSON integer written (never wrapped), decimals as exact as money.
void attributes(const rules::Attributes& out, const json& written) {
  for (const auto& [key, value] : out) {
    check(written.is_object() && written.contains(key));
    const auto& w = written[key];
    if (const auto* i = std::get_if<std::int64_t>(&value)) {
      check(w.is_number_integer());
      check(w.is_number_unsigned()
                ? w.get<unsigned long long>() == static_cast<unsigned long long>(*i) && *i >= 0
                : w.get<long long>() == *i);
    }
  }
}

void referral_code(const std::optional<std::string>& code) {
  if (code) check(engine::referrals::normalize_code(*code) == code);
}

// POST /v1/events: who (touchpoint or admin key) and the currency precision from the option
// byte.
void event(const json& body, std::uint8_t options) {
  const auto& prog = program(options);
  api::Principal caller;
  if (options & 4) {
    caller.role = api::Role::touchpoint;
    caller.channel = "store";
  }
  const api::EventPolicy policy;
  const auto in = api::parse_incoming_event(body, prog, kNow, caller, policy);
  const int digits = prog.currency_digits();
  constexpr long long kMaxAmountMinor = 10'000'000'000'000;
  check(in.event.type == body["type"].get<std::string>());
  if (caller.channel) check(in.event.channel == *caller.channel);
  check(!in.event.channel.empty());
  check(in.event.time <= kNow + policy.clock_skew && in.event.time >= kNow - policy.offline_window);
  check(in.total_minor.has_value() == body.contains("total"));
  if (in.total_minor) {
    check(*in.total_minor >= 0 && *in.total_minor <= kMaxAmountMinor);
    amount(in.event.total, body["total"], digits);
    // What is stored reads back as the same amount.
    const auto stored = engine::parse_money(in.record["total"].get<std::string>(), digits);
    check(stored.value && stored.value->minor == *in.total_minor);
  }
  if (in.event.type != "refund") {
    for (std::size_t i = 0; i < in.event.items.size(); ++i) {
      const auto& item = in.event.items[i];
      check(item.quantity >= 1 && item.quantity <= 1'000'000);
      const auto& written = body["items"][i];
      if (written.contains("price")) amount(item.price, written["price"], digits);
      check(static_cast<__int128>(item.price.mantissa) * item.quantity <= kMaxAmountMinor);
      attributes(item.attributes, written.value("attributes", json::object()));
    }
  }
  for (const auto& line : in.refund_items) check(line.quantity >= 1 && line.quantity <= 1'000'000);
  check(in.event.coupons.size() <= 10);
  std::set<std::string> seen;
  for (const auto& code : in.event.coupons) {
    check(in.event.type == "purchase" && !code.empty() && code.size() <= 64);
    check(engine::coupons::normalise_code(code) == code && seen.insert(code).second);
  }
  attributes(in.event.attributes, body.value("attributes", json::object()));
  if (in.identifier) normal_identifier(*in.identifier);
  for (const auto& id : in.identifiers) normal_identifier(id);
  if (in.enroll) check(in.identifier || !in.identifiers.empty());
  referral_code(in.referral_code);
  // The record is stored as JSONB: it must serialise.
  check(json::accept(in.record.dump()));
}

// The simulate route's event and member.
void simulated_event(const json& body, std::uint8_t options) {
  const int digits = program(options).currency_digits();
  const auto e = api::parse_event_json(body, digits, program(options).currency(), kNow, "store");
  if (body.contains("total")) amount(e.total, body["total"], digits);
  for (std::size_t i = 0; i < e.items.size(); ++i) {
    const auto& written = body["items"][i];
    check(e.items[i].quantity >= 1 && e.items[i].quantity <= 1'000'000);
    if (written.contains("price")) amount(e.items[i].price, written["price"], digits);
    attributes(e.items[i].attributes, written.value("attributes", json::object()));
  }
  attributes(e.attributes, body.value("attributes", json::object()));
}

void simulated_member(const json& body) {
  const auto m = api::parse_member_json(body, kNow);
  for (const auto& [name, value] :
       {std::pair{"points", m.points}, std::pair{"lifetime_points", m.lifetime_points},
        std::pair{"purchases", m.purchases}}) {
    if (!body.contains(name)) continue;
    const auto& w = body[name];
    check(w.is_number_unsigned()
              ? value >= 0 && w.get<unsigned long long>() == static_cast<unsigned long long>(value)
              : w.get<long long>() == value);
  }
  if (m.birthday) check(m.birthday->month >= 1 && m.birthday->month <= 12);
  attributes(m.attributes, body.value("attributes", json::object()));
}

void profile(const db::Profile& p) {
  check(json::accept(json{
      {"name", p.name ? *p.name : ""},
      {"display_name", p.display_name ? *p.display_name : ""},
      {"attributes",
       p.attributes}}.dump()));
  if (p.email) normal_identifier({"email", *p.email});
  if (p.birthday) check(p.birthday->size() == 10 && *p.birthday <= "2026-06-01");
}

void new_member(const json& body) {
  const auto m = api::parse_new_member(body, kNow);
  check(!m.identifiers.empty() && m.identifiers.size() <= 20);
  for (std::size_t i = 0; i < m.identifiers.size(); ++i) {
    normal_identifier(m.identifiers[i]);
    for (std::size_t j = 0; j < i; ++j) check(!(m.identifiers[j] == m.identifiers[i]));
  }
  profile(m.profile);
  referral_code(m.referral_code);
}

// PATCH /v1/members/{id}: a merge patch; applied again it changes nothing.
void profile_patch(const json& body) {
  const auto patch = api::parse_profile_patch(body, kNow);
  db::Profile p;
  p.attributes = {{"kept", 1}};
  try {
    (void)api::apply_profile_patch(p, patch);
  } catch (const api::ApiError& e) {
    refusal(e);
    return;
  }
  profile(p);
  check(api::apply_profile_patch(p, patch).empty());
  (void)api::member_patch_refusals(p, patch);
}

// Points are the JSON integer written: never 0, never wrapped, within +-10^12.
void points(long long value, const json& written, bool negative_ok) {
  check(value != 0 && (negative_ok || value > 0));
  check(value <= 1'000'000'000'000 && value >= -1'000'000'000'000);
  check(written.is_number_integer());
  if (written.is_number_unsigned())
    check(value > 0 && written.get<unsigned long long>() == static_cast<unsigned long long>(value));
  else
    check(written.get<long long>() == value);
}

void points_request(const json& body, std::uint8_t options) {
  switch (options % 5) {
    case 0:
      points(api::parse_spend(body).points, body["points"], false);
      break;
    case 1: {
      const auto a = api::parse_adjust(body, kNow);
      points(a.points, body["points"], true);
      check(!a.reason.empty() && a.reason.size() <= 200);
      if (a.expires_at) check(*a.expires_at > kNow && a.points > 0 && !a.never_expires);
      break;
    }
    case 2: {
      const auto t = api::parse_transfer(body);
      points(t.points, body["points"], false);
      check(!t.to.empty() && t.to.size() <= 64);
      break;
    }
    case 3: {
      const auto ttl = api::parse_link_code_request(body);
      check(ttl >= 30 && ttl <= 900);
      break;
    }
    case 4:
      check(!api::parse_merge(body).from.empty());
      break;
  }
}

void identifier_body(const json& body) {
  normal_identifier(api::parse_identifier_body(body));
}

// POST /v1/coupons/validate and redeem (with or without an order, a member token's own
// member).
void coupon_use(const json& body, std::uint8_t options) {
  const auto& prog = program(options);
  const std::optional<std::string> fallback =
      options & 16 ? std::optional<std::string>("mem_self") : std::nullopt;
  const auto in = api::coupon_requests::parse_use(body, prog.currency_digits(), options & 4,
                                                  options & 8, fallback);
  api::coupon_requests::check_currency(body, prog);
  check(!in.code.empty() && in.code.size() <= 64);
  check(in.member.id.has_value() != in.member.identifier.has_value());
  if (in.member.identifier) normal_identifier(*in.member.identifier);
  check(in.total_minor >= 0);
  if (body.contains("total")) {
    if (auto minor = written_minor(body["total"], prog.currency_digits()))
      check(*minor == in.total_minor);
  }
}

// The body parser: what it accepts nests at most kMaxJsonDepth deep and holds no U+0000.
std::size_t depth(const json& v) {
  std::size_t deepest = 0;
  if (v.is_structured())
    for (const auto& [key, item] : v.items()) {
      check(key.find('\0') == std::string::npos);
      deepest = std::max(deepest, depth(item));
    }
  if (v.is_string()) check(v.get_ref<const std::string&>().find('\0') == std::string::npos);
  return v.is_structured() ? deepest + 1 : 0;
}

// A number in a cursor as the server writes it: no sign but '-', no leading zeros.
std::string canonical(std::string_view part) {
  const bool minus = !part.empty() && part.front() == '-';
  if (minus) part.remove_prefix(1);
  while (part.size() > 1 && part.front() == '0') part.remove_prefix(1);
  return (minus && part != "0" ? "-" : "") + std::string(part);
}

// ?cursor= of the ledger and audit pages (an id) and of the timeline ("micros.id"): what is
// accepted names the numbers written (leading zeros aside) and re-encodes to text that decodes
// to the same position.
void cursor(const std::string& text, std::uint8_t options) {
  if (options & 4) {
    const auto id = api::parse_ledger_cursor(text);
    if (!id) return check(text.empty());
    check(*id > 0 && canonical(text) == std::to_string(*id));
    check(api::parse_ledger_cursor(std::to_string(*id)) == id);
    return;
  }
  const auto at = api::parse_timeline_cursor(text);
  if (!at) return check(text.empty());
  check(at->id > 0);
  db::TimelineEntry last;
  last.occurred_at = at->occurred_at;
  last.id = at->id;
  const auto encoded = api::timeline_cursor(last);
  const auto dot = text.find('.');
  check(canonical(text.substr(0, dot)) + "." + canonical(text.substr(dot + 1)) == encoded);
  const auto again = api::parse_timeline_cursor(encoded);
  check(again && again->occurred_at == at->occurred_at && again->id == at->id);
}

void limit(const std::string& text) {
  const auto n = api::parse_limit(text);
  check(n >= 1 && n <= 200 && canonical(text) == std::to_string(n));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t options = data[0] >> 3;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    switch (data[0] % 8) {
      case 0:
        return cursor(text, options), 0;
      case 1:
        return limit(text), 0;
      default:
        break;
    }
    const json body = api::parse_json_limited(text);
    check(depth(body) <= api::kMaxJsonDepth);
    switch (data[0] % 8) {
      case 2:
        event(body, options);
        break;
      case 3:
        options & 1 ? simulated_member(body) : simulated_event(body, options >> 1);
        break;
      case 4:
        options & 1 ? new_member(body) : profile_patch(body);
        break;
      case 5:
        points_request(body, options);
        break;
      case 6:
        identifier_body(body);
        break;
      case 7:
        coupon_use(body, options);
        break;
    }
  } catch (const api::ApiError& e) {
    refusal(e);
  }
  return 0;
}
