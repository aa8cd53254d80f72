#include "circolo/rules/diff.hpp"

#include <map>

#include "circolo/rules/format.hpp"

namespace circolo::rules {

namespace {

template <class Decl>
std::map<std::string, std::string> texts(const std::vector<Decl>& decls) {
  std::map<std::string, std::string> out;
  for (const auto& d : decls) out[d.id] = format(d);
  return out;
}

void compare(const char* object, const std::map<std::string, std::string>& before,
             const std::map<std::string, std::string>& after, std::vector<Change>& out) {
  for (const auto& [id, text] : after) {
    auto it = before.find(id);
    if (it == before.end())
      out.push_back({Change::Kind::created, object, id, "", text});
    else if (it->second != text)
      out.push_back({Change::Kind::changed, object, id, it->second, text});
  }
  for (const auto& [id, text] : before) {
    if (!after.count(id)) out.push_back({Change::Kind::removed, object, id, text, ""});
  }
}

// A declaration a file has at most once (program, referral): created, changed or removed.
void compare_single(const char* object, const std::string& before, const std::string& after,
                    std::vector<Change>& out) {
  if (before == after) return;
  out.push_back({before.empty()  ? Change::Kind::created
                 : after.empty() ? Change::Kind::removed
                                 : Change::Kind::changed,
                 object, "", before, after});
}

std::string program_text(const ProgramFile& f) {
  return f.program ? format(*f.program) : "";
}

std::string referral_text(const ProgramFile& f) {
  return f.referral ? format(*f.referral) : "";
}

}  // namespace

std::vector<Change> diff(const ProgramFile& current, const ProgramFile& next) {
  std::vector<Change> out;
  compare_single("program", program_text(current), program_text(next), out);
  compare("tier", texts(current.tiers), texts(next.tiers), out);
  compare("coupon", texts(current.coupons), texts(next.coupons), out);
  compare("reward", texts(current.rewards), texts(next.rewards), out);
  compare("challenge", texts(current.challenges), texts(next.challenges), out);
  compare_single("referral", referral_text(current), referral_text(next), out);
  compare("campaign", texts(current.campaigns), texts(next.campaigns), out);
  compare("event", texts(current.events), texts(next.events), out);
  compare("segment", texts(current.segments), texts(next.segments), out);
  return out;
}

}  // namespace circolo::rules
