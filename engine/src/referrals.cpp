#include "circolo/engine/referrals.hpp"

#include <algorithm>
#include <cctype>

namespace circolo::engine::referrals {

namespace {

constexpr std::string_view kSymbols = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

bool contains(const std::vector<std::string>& ids, const std::string& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

std::string make_code(std::uint64_t bits) {
  std::string out;
  for (int i = 0; i < 8; ++i) {
    if (i == 4) out += '-';
    out += kSymbols[(bits >> (5 * (7 - i))) & 31];
  }
  return out;
}

std::optional<std::string> normalize_code(std::string_view text) {
  std::string symbols;
  for (const char raw : text) {
    if (raw == ' ' || raw == '-' || raw == '\t') continue;
    char c = static_cast<char>(std::toupper(static_cast<unsigned char>(raw)));
    if (c == 'I' || c == 'L') c = '1';
    if (c == 'O') c = '0';
    if (kSymbols.find(c) == std::string_view::npos) return std::nullopt;
    symbols += c;
    if (symbols.size() > 8) return std::nullopt;
  }
  if (symbols.size() != 8) return std::nullopt;
  return symbols.substr(0, 4) + "-" + symbols.substr(4);
}

std::optional<std::string> refusal_at_start(const StartFacts& facts) {
  // The code's own member (or someone merged into it) cannot bring itself.
  if (facts.member_id == facts.referrer_id ||
      contains(facts.referrer_merged_ids, facts.member_id) || facts.shares_identifier)
    return std::string(kSelfReferral);
  if (!facts.enrolled) return std::string(kAlreadyMember);
  return std::nullopt;
}

std::string refusal_on_merge(const std::string& survivor, const std::string& merged,
                             const std::string& referrer_id,
                             const std::vector<std::string>& referrer_merged) {
  for (const auto& id : {survivor, merged}) {
    if (id == referrer_id || contains(referrer_merged, id)) return std::string(kSelfReferral);
  }
  return std::string(kAlreadyMember);
}

}  // namespace circolo::engine::referrals
