#include "circolo/api/member_tokens.hpp"

#include <charconv>
#include <vector>

#include "circolo/engine/digest.hpp"

namespace circolo::api {

namespace {

std::string payload(const MemberToken& t) {
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(t.expires_at.time_since_epoch()).count();
  return "mt_" + t.member_id + "." + std::to_string(seconds) + "." + t.issuer_key_id + "." +
         std::to_string(t.generation);
}

bool safe_part(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-'))
      return false;
  }
  return true;
}

}  // namespace

std::string sign_member_token(const MemberToken& token, const std::string& secret) {
  const auto body = payload(token);
  return body + "." + engine::hmac_sha256_hex(secret, body);
}

std::optional<MemberToken> read_member_token(std::string_view token, const std::string& secret) {
  if (!looks_like_member_token(token)) return std::nullopt;
  const auto last_dot = token.rfind('.');
  if (last_dot == std::string_view::npos) return std::nullopt;
  const auto body = token.substr(0, last_dot);
  const auto signature = token.substr(last_dot + 1);
  if (!engine::constant_time_equal(signature, engine::hmac_sha256_hex(secret, body)))
    return std::nullopt;

  std::vector<std::string_view> parts;
  auto rest = body.substr(3);
  for (std::size_t dot; (dot = rest.find('.')) != std::string_view::npos;
       rest.remove_prefix(dot + 1)) {
    parts.push_back(rest.substr(0, dot));
  }
  parts.push_back(rest);
  if (parts.size() != 4 || !safe_part(parts[0]) || !safe_part(parts[2])) return std::nullopt;
  const auto number = [](std::string_view text, long long& out) {
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && p == text.data() + text.size() && !text.empty();
  };
  long long seconds = 0, generation = 0;
  // An expiry outside 1970..5138 is no token of ours (and would overflow the time point).
  if (!number(parts[1], seconds) || !number(parts[3], generation) || generation < 0 ||
      seconds < 0 || seconds > 100'000'000'000LL)
    return std::nullopt;
  return MemberToken{std::string(parts[0]), engine::TimePoint{std::chrono::seconds{seconds}},
                     std::string(parts[2]), generation};
}

std::optional<MemberToken> verify_member_token(std::string_view token, const std::string& secret,
                                               engine::TimePoint now) {
  auto t = read_member_token(token, secret);
  if (!t || t->expires_at <= now) return std::nullopt;
  return t;
}

}  // namespace circolo::api
