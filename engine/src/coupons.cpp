#include "circolo/engine/coupons.hpp"

#include "circolo/engine/money.hpp"

#include <algorithm>
#include <array>

namespace circolo::engine::coupons {

namespace {

constexpr int kBase = static_cast<int>(kAlphabet.size());

int symbol_value(char c) {
  const auto at = kAlphabet.find(c);
  return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

char upper(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

}  // namespace

char check_symbol(std::string_view body) {
  int sum = 0;
  int weight = 2;
  for (char c : body) {
    const int v = symbol_value(c);
    sum = (sum + weight * (v < 0 ? 0 : v)) % kBase;
    weight = weight % kBase + 1;
  }
  return kAlphabet[static_cast<std::size_t>((kBase - sum) % kBase)];
}

std::string make_code(std::string_view prefix, const RandomBytes& random, std::int64_t* number) {
  std::string body;
  body.reserve(kRandomSymbols + 1);
  // Rejection sampling keeps the symbols uniform: bytes past the last whole multiple of the
  // alphabet's size are drawn again.
  constexpr unsigned kUsable = 256 / kBase * kBase;
  std::array<unsigned char, 32> bytes{};
  std::size_t next = bytes.size();
  while (body.size() < static_cast<std::size_t>(kRandomSymbols)) {
    if (next == bytes.size()) {
      random(bytes.data(), bytes.size());
      next = 0;
    }
    const unsigned char b = bytes[next++];
    if (b >= kUsable) continue;
    body.push_back(kAlphabet[b % kBase]);
    if (number) *number = (body.size() == 1 ? 0 : *number) * kBase + b % kBase;
  }
  body.push_back(check_symbol(body));
  if (prefix.empty()) return body;
  return std::string(prefix) + "-" + body;
}

std::optional<std::string> normalise_prefix(std::string_view prefix) {
  if (prefix.empty() || prefix.size() > kMaxPrefix) return std::nullopt;
  if (prefix.front() == '-' || prefix.back() == '-') return std::nullopt;
  std::string out;
  for (char c : prefix) {
    c = upper(c);
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return std::nullopt;
    out.push_back(c);
  }
  return out;
}

std::string normalise_code(std::string_view input) {
  std::string out;
  out.reserve(input.size());
  for (char c : input) {
    if (c == ' ' || c == '\t') continue;
    out.push_back(upper(c));
  }
  return out;
}

CodeShape check_shape(std::string_view code) {
  const auto dash = code.rfind('-');
  const std::string_view body = dash == std::string_view::npos ? code : code.substr(dash + 1);
  if (dash != std::string_view::npos && !normalise_prefix(code.substr(0, dash)))
    return CodeShape::malformed;
  if (body.size() != static_cast<std::size_t>(kRandomSymbols + 1)) return CodeShape::malformed;
  if (!std::all_of(body.begin(), body.end(), [](char c) { return symbol_value(c) >= 0; }))
    return CodeShape::malformed;
  if (check_symbol(body.substr(0, kRandomSymbols)) != body.back()) return CodeShape::check_failed;
  return CodeShape::ok;
}

std::optional<std::int64_t> code_number(std::string_view code) {
  if (check_shape(code) != CodeShape::ok) return std::nullopt;
  const auto body = code.substr(code.size() - static_cast<std::size_t>(kRandomSymbols) - 1,
                                static_cast<std::size_t>(kRandomSymbols));
  std::int64_t n = 0;
  for (char c : body) n = n * kBase + symbol_value(c);
  return n;
}

std::int64_t discount(const Terms& terms, std::int64_t total_minor) {
  if (total_minor <= 0) return 0;
  std::int64_t d = 0;
  if (terms.amount_minor) {
    d = *terms.amount_minor;
  } else if (terms.percent_e4) {
    // total × percent / 100, percent in units of 1e-4: an exact integer product, rounded down.
    const __int128 product = static_cast<__int128>(total_minor) * *terms.percent_e4;
    d = static_cast<std::int64_t>(product / 1'000'000);
    if (terms.max_minor) d = std::min(d, *terms.max_minor);
  }
  return std::clamp<std::int64_t>(d, 0, total_minor);
}

const char* code_of(Refusal r) {
  switch (r) {
    case Refusal::none:
      return "ok";
    case Refusal::coupon_expired:
      return "coupon_expired";
    case Refusal::coupon_not_owned:
      return "coupon_not_owned";
    case Refusal::coupon_already_redeemed:
      return "coupon_already_redeemed";
    case Refusal::channel_not_allowed:
      return "channel_not_allowed";
    case Refusal::min_total_not_met:
      return "min_total_not_met";
  }
  return "unknown";
}

std::string refusal_detail(Refusal r, const CodeState& c, int digits) {
  switch (r) {
    case Refusal::coupon_expired:
      return "the code expired at " + (c.expires_at ? format_rfc3339(*c.expires_at) : "?");
    case Refusal::coupon_not_owned:
      return "the code belongs to another member";
    case Refusal::coupon_already_redeemed:
      return c.uses_allowed == 1 ? "the code was already redeemed (or is reserved)"
                                 : "every use of the code was redeemed (or is reserved)";
    case Refusal::channel_not_allowed: {
      std::string list;
      for (const auto& ch : c.terms.channels) list += (list.empty() ? "" : ", ") + ch;
      return "the code can be redeemed on " + list + " only";
    }
    case Refusal::min_total_not_met:
      return "the code needs a total of at least " +
             format_money({c.terms.min_total_minor, digits});
    case Refusal::none:
      break;
  }
  return "";
}

Refusal check(const CodeState& code, const std::string& member, std::int64_t total_minor,
              const std::string& channel, TimePoint now, bool reserving) {
  if (code.expires_at && *code.expires_at <= now) return Refusal::coupon_expired;
  if (code.owner && *code.owner != member) return Refusal::coupon_not_owned;
  // An unassigned code goes to its first redeemer: while another member holds a reservation,
  // nobody else may take it (that would make the reservation worthless).
  if (!code.owner && code.held_by_others > 0) return Refusal::coupon_already_redeemed;
  // A member's own hold is the use it may take; otherwise a use must be free of holds.
  const bool own_hold = code.held_by_member && !reserving;
  if (!own_hold &&
      code.used + code.held_by_others + (code.held_by_member ? 1 : 0) >= code.uses_allowed)
    return Refusal::coupon_already_redeemed;
  if (!code.terms.channels.empty() &&
      std::find(code.terms.channels.begin(), code.terms.channels.end(), channel) ==
          code.terms.channels.end())
    return Refusal::channel_not_allowed;
  if (total_minor < code.terms.min_total_minor) return Refusal::min_total_not_met;
  return Refusal::none;
}

UseDecision decide_use(std::string_view code, const CodeState* stored, int digits, const Use& use) {
  UseDecision d;
  const auto shape = check_shape(code);
  if (shape != CodeShape::ok) {
    d.refusal = "unknown_coupon";
    d.detail = shape == CodeShape::check_failed
                   ? "no such code: its check character does not match (mistyped?)"
                   : "no such code: codes look like PREFIX-XXXXXXXXXXX";
    return d;
  }
  if (!stored) {
    d.refusal = "unknown_coupon";
    d.detail = "no such code";
    return d;
  }
  const auto refusal =
      check(*stored, use.member, use.total_minor, use.channel, use.at, use.reserving);
  if (refusal != Refusal::none) {
    d.refusal = code_of(refusal);
    d.detail = refusal_detail(refusal, *stored, digits);
    return d;
  }
  d.discount_minor = discount(stored->terms, use.total_minor);
  if (use.discount_limit) d.discount_minor = std::min(d.discount_minor, *use.discount_limit);
  d.uses_left = std::max(0, stored->uses_allowed - stored->used - stored->held_by_others);
  return d;
}

}  // namespace circolo::engine::coupons
