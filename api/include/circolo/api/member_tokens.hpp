#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "circolo/engine/clock.hpp"

namespace circolo::api {

// Short-lived tokens that a touchpoint mints for one member (the app after login): signed with
// HMAC-SHA256 under a secret all instances share.
//   mt_<member id>.<expiry, unix seconds>.<issuing key id>.<generation>.<hex signature>
// A token dies with its issuing key and when the member's tokens are revoked (the member's
// token generation moves on): App::authenticate checks both (cached for a second).
struct MemberToken {
  std::string member_id;
  engine::TimePoint expires_at{};
  std::string issuer_key_id;
  std::int64_t generation = 0;  // the member's token generation when it was minted
};

// The longest a member token lives (POST /v1/members/{id}/tokens ttl_seconds).
inline constexpr std::chrono::seconds kMemberTokenMaxLifetime{3600};

std::string sign_member_token(const MemberToken& token, const std::string& secret);

// nullopt if malformed or badly signed; the token whatever its expiry otherwise (an expired one
// is answered 401 token_expired, saying when, rather than as an unknown key).
std::optional<MemberToken> read_member_token(std::string_view token, const std::string& secret);

// nullopt if malformed, badly signed or expired at `now`.
std::optional<MemberToken> verify_member_token(std::string_view token, const std::string& secret,
                                               engine::TimePoint now);

inline bool looks_like_member_token(std::string_view token) {
  return token.starts_with("mt_");
}

}  // namespace circolo::api
