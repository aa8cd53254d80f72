#include "circolo/engine/consent.hpp"

namespace circolo::engine::consent {

std::string_view name(Purpose p) {
  switch (p) {
    case Purpose::marketing_email:
      return "marketing_email";
    case Purpose::marketing_sms:
      return "marketing_sms";
    case Purpose::marketing_push:
      return "marketing_push";
    case Purpose::profiling:
      return "profiling";
    case Purpose::leaderboards:
      return "leaderboards";
  }
  return "";
}

std::optional<Purpose> parse(std::string_view text) {
  for (const auto p : kPurposes)
    if (name(p) == text) return p;
  return std::nullopt;
}

bool by_default(Purpose p) {
  return p == Purpose::leaderboards;
}

bool Consents::granted(Purpose p) const {
  const auto it = given.find(std::string(name(p)));
  return it == given.end() ? by_default(p) : it->second;
}

std::map<std::string, bool> changes(const Consents& now, const std::map<std::string, bool>& asked) {
  std::map<std::string, bool> out;
  for (const auto& [purpose, granted] : asked) {
    const auto it = now.given.find(purpose);
    if (it == now.given.end() || it->second != granted) out[purpose] = granted;
  }
  return out;
}

std::vector<std::string> notification_channels(const Consents& consents) {
  std::vector<std::string> out;
  if (consents.granted(Purpose::marketing_email)) out.emplace_back("email");
  if (consents.granted(Purpose::marketing_sms)) out.emplace_back("sms");
  if (consents.granted(Purpose::marketing_push)) out.emplace_back("push");
  return out;
}

}  // namespace circolo::engine::consent
