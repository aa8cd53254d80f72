#include "circolo/engine/segments.hpp"

#include <algorithm>
#include <iterator>

namespace circolo::engine::segments {

Update update(const std::vector<std::string>& current, const std::vector<std::string>& evaluated,
              const std::vector<std::string>& holds) {
  Update out;
  // Kept: memberships of segments not evaluated now.
  std::set_difference(current.begin(), current.end(), evaluated.begin(), evaluated.end(),
                      std::back_inserter(out.after));
  std::vector<std::string> was;  // of the evaluated ones
  std::set_intersection(current.begin(), current.end(), evaluated.begin(), evaluated.end(),
                        std::back_inserter(was));
  std::set_difference(holds.begin(), holds.end(), was.begin(), was.end(),
                      std::back_inserter(out.entered));
  std::set_difference(was.begin(), was.end(), holds.begin(), holds.end(),
                      std::back_inserter(out.left));
  std::vector<std::string> merged;
  std::set_union(out.after.begin(), out.after.end(), holds.begin(), holds.end(),
                 std::back_inserter(merged));
  out.after = std::move(merged);
  return out;
}

nlohmann::json event_data(const std::string& segment, const std::string& name,
                          const consent::Consents& consents, const std::string& cause) {
  return {{"segment", segment},
          {"name", name},
          {"marketing_channels", consent::notification_channels(consents)},
          {"cause", cause}};
}

}  // namespace circolo::engine::segments
