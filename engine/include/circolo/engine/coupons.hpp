#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "circolo/engine/clock.hpp"

// Coupon codes and the decision whether a code may be used: pure, so every refusal is tested
// exactly. Storage and locking live in db/, the HTTP mapping in api/.
namespace circolo::engine::coupons {

// Code symbols: digits and capitals without look-alikes (0/O, 1/I/L, 2/Z, U/V): 29, a prime,
// so that a weighted check symbol catches every single typo and every swap of neighbours.
inline constexpr std::string_view kAlphabet = "23456789ABCDEFGHJKMNPQRSTVWXY";
// Random symbols per code: 10 × log2(29) ≈ 48.6 bits, then one check symbol.
inline constexpr int kRandomSymbols = 10;
inline constexpr std::size_t kMaxPrefix = 20;

// Fills the buffer with cryptographically strong random bytes (OpenSSL's RAND_bytes in the
// server; a fixed stream in tests).
using RandomBytes = std::function<void(unsigned char* out, std::size_t n)>;

// The check symbol of `body`: position-weighted sum modulo 29 (weights 2, 3, ... and 1 for the
// check symbol itself, all distinct): catches every single mistyped symbol and every swap of two
// neighbours, the check symbol included.
char check_symbol(std::string_view body);

// "PREFIX-" (when a prefix is given) + 10 random symbols + the check symbol. `number`, if given,
// receives code_number of the result.
std::string make_code(std::string_view prefix, const RandomBytes& random,
                      std::int64_t* number = nullptr);

// A prefix may hold capitals, digits and inner hyphens, at most kMaxPrefix characters; lower
// case is accepted and made upper case. nullopt when unusable.
std::optional<std::string> normalise_prefix(std::string_view prefix);

enum class CodeShape { ok, malformed, check_failed };
// What a member typed, as the canonical code: blanks dropped, upper case.
std::string normalise_code(std::string_view input);
// Whether a normalised code can be one of ours at all, without any lookup.
CodeShape check_shape(std::string_view code);

// The number of a well-formed code: its random symbols read in base 29 (below 2^49). Codes are
// stored and looked up by it (an integer key is cheaper to index than text); nullopt if the
// code is not well-formed.
std::optional<std::int64_t> code_number(std::string_view code);

// What a code promises, fixed when it is issued: a later program version does not change it.
struct Terms {
  std::optional<std::int64_t> amount_minor;  // a fixed discount
  std::optional<std::int64_t> percent_e4;    // or a percentage: 10% = 100000 (1e4 per percent)
  std::optional<std::int64_t> max_minor;     // cap of a percentage discount
  std::int64_t min_total_minor = 0;
  std::vector<std::string> channels;  // empty: every channel
};

// The discount on `total_minor`: percentages round down to the minor unit, then the cap; never
// more than the total.
std::int64_t discount(const Terms& terms, std::int64_t total_minor);

enum class Refusal {
  none,
  coupon_expired,
  coupon_not_owned,
  coupon_already_redeemed,  // every use consumed, or held by other members' reservations
  channel_not_allowed,
  min_total_not_met,
};
const char* code_of(Refusal r);

// A stored code as seen inside the transaction that holds its row lock.
struct CodeState {
  std::optional<std::string> owner;  // unassigned codes are bound to their first redeemer
  std::optional<TimePoint> expires_at;
  int uses_allowed = 1;
  int used = 0;
  int held_by_others = 0;       // unexpired reservations of other members
  bool held_by_member = false;  // the asking member holds a reservation of it
  Terms terms;
};

// Whether `member` may use the code now, for a basket of `total_minor` on `channel`. `reserving`:
// a new hold is asked for (a member's own hold does not make room for a second one).
Refusal check(const CodeState& code, const std::string& member, std::int64_t total_minor,
              const std::string& channel, TimePoint now, bool reserving = false);

// The sentence a refusal is explained with ("the code expired at ..."); `digits`: the minor
// units of the currency the terms are in.
std::string refusal_detail(Refusal r, const CodeState& code, int digits);

// One use of a code as asked: by whom, for which basket, where and when.
struct Use {
  std::string member;
  std::int64_t total_minor = 0;
  std::string channel;
  TimePoint at{};
  bool reserving = false;
  // At most this much discount (what earlier codes of the same basket left of the total).
  std::optional<std::int64_t> discount_limit;
};

struct UseDecision {
  std::string refusal = "ok";  // "ok", unknown_coupon, or a Refusal's code
  std::string detail;          // the sentence a refusal is explained with
  std::int64_t discount_minor = 0;
  int uses_left = 0;  // after other members' holds
  bool ok() const { return refusal == "ok"; }
};

// The one decision every use of a code goes through (validate, reserve, redeem and a purchase's
// basket): the typed code's shape, whether it is stored (`stored` null: no such code), then
// check() and the discount. `code` is canonical (normalise_code); `digits` the currency's.
UseDecision decide_use(std::string_view code, const CodeState* stored, int digits, const Use& use);

}  // namespace circolo::engine::coupons
