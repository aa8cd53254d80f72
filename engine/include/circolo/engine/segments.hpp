#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "circolo/engine/consent.hpp"

// Segment membership: which segments a member enters and leaves when its dynamic segments are
// evaluated again (by its own event, or by the job for everyone), and what the outgoing
// segment.entered / segment.left events carry.
namespace circolo::engine::segments {

struct Update {
  std::vector<std::string> after;          // the member's segments now, sorted
  std::vector<std::string> entered, left;  // sorted
  bool changed() const { return !entered.empty() || !left.empty(); }
};

// `current`: the member's stored segments (sorted). `evaluated`: the dynamic segments whose
// conditions were evaluated (sorted); `holds`: those of them that hold (sorted). Memberships of
// segments not evaluated (static lists, segments the job has not reached) stay as they are.
Update update(const std::vector<std::string>& current, const std::vector<std::string>& evaluated,
              const std::vector<std::string>& holds);

// The data of segment.entered / segment.left: the segment, its name, and the marketing channels
// the member agreed to ("email", "sms", "push"): the CRM and the push provider that act on the
// event may reach the member only through those.
nlohmann::json event_data(const std::string& segment, const std::string& name,
                          const consent::Consents& consents, const std::string& cause);

}  // namespace circolo::engine::segments
