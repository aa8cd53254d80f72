#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "circolo/engine/clock.hpp"

// Referrals: a member's code brings a new member; the referral completes at the referee's first
// qualifying event (the program says which), and is refused, with a reason marketing can read,
// when it is not a real one. Pure: the caller loads the facts and stores the outcome.
namespace circolo::engine::referrals {

// Reasons, stable: a referral refused at its start or at its completion, expired, reversed.
inline constexpr std::string_view kAlreadyMember = "already_member";
inline constexpr std::string_view kSelfReferral = "self_referral";
inline constexpr std::string_view kReferrerCap = "referrer_cap";
inline constexpr std::string_view kExpired = "expired";
inline constexpr std::string_view kRefunded = "refunded";

// A code: 8 symbols of Crockford's base32 (no I, L, O, U), 40 random bits, grouped for reading
// as "K7M2-QX9P". `bits`: at least 40 random bits (the low 40 are used).
std::string make_code(std::uint64_t bits);
// A code as typed or taken from a link (case, blanks, dashes, and I/L/O read as 1/1/0
// ignored): the stored form, or nothing when it cannot be a code.
std::optional<std::string> normalize_code(std::string_view text);

// A request carrying a code enrolled `member_id` (or found it, already a member).
struct StartFacts {
  std::string referrer_id;  // the code's member, merges followed
  std::string member_id;    // the member the request named or enrolled
  bool enrolled = false;    // enrolled by this request
  // Members merged into the referrer (the same person under other ids).
  std::vector<std::string> referrer_merged_ids;
  // The member has an identifier the referrer once had (unlinked since).
  bool shares_identifier = false;
};
// The reason the referral is refused, or nothing: it starts.
std::optional<std::string> refusal_at_start(const StartFacts& facts);

// After a merge of `merged` into `survivor`, an open referral of either (as referee) with
// referrer `referrer_id` (merges followed, survivor's merged ids included in `referrer_merged`):
// self_referral when the referrer is now the same person, already_member otherwise (the referee
// turned out to be someone who had been a member before).
std::string refusal_on_merge(const std::string& survivor, const std::string& merged,
                             const std::string& referrer_id,
                             const std::vector<std::string>& referrer_merged);

}  // namespace circolo::engine::referrals
