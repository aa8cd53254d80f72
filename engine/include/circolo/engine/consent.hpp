#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace circolo::engine::consent {

// What a member may agree to, each on its own. Marketing and profiling are opt-in (nothing
// until the member says yes); appearing on leaderboards is opt-out (shown, by display name or
// initials, until the member says no).
enum class Purpose { marketing_email, marketing_sms, marketing_push, profiling, leaderboards };

inline constexpr std::array kPurposes = {Purpose::marketing_email, Purpose::marketing_sms,
                                         Purpose::marketing_push, Purpose::profiling,
                                         Purpose::leaderboards};

std::string_view name(Purpose p);
std::optional<Purpose> parse(std::string_view name);
bool by_default(Purpose p);

// The member's explicit choices by purpose name; a purpose not there has its default.
struct Consents {
  std::map<std::string, bool> given;
  bool granted(Purpose p) const;
  friend bool operator==(const Consents&, const Consents&) = default;
};

// Of `asked` (purpose name: granted), the choices not already given as such: an explicit "no"
// where only the default said no is a change too (it is the member's own word now).
std::map<std::string, bool> changes(const Consents& now, const std::map<std::string, bool>& asked);

// The channels ("email", "sms", "push") a marketing notification may reach the member through,
// in that order: those it consented to.
std::vector<std::string> notification_channels(const Consents& consents);

}  // namespace circolo::engine::consent
