#include "circolo/engine/tiers.hpp"

#include <algorithm>
#include <stdexcept>

namespace circolo::engine::tiers {

Standing standing(std::span<const Level> levels, std::span<const Points> qualifying) {
  if (levels.size() != qualifying.size())
    throw std::invalid_argument("one qualifying sum per tier");
  Standing s;
  for (std::size_t i = 0; i < levels.size(); ++i) {
    if (i > 0 && levels[i].threshold < levels[i - 1].threshold)
      throw std::invalid_argument("tiers must be in ascending threshold order");
    // Tiers are cumulative: reaching gold while missing silver (a shorter window) still is gold.
    // Refunds of older purchases can leave a window negative: it counts as 0 (an entry tier of
    // threshold 0 is always held).
    if (std::max<Points>(qualifying[i], 0) >= levels[i].threshold) s.tier = i;
  }
  const std::size_t next = s.tier ? *s.tier + 1 : 0;
  if (next < levels.size()) {
    s.next = next;
    s.points = qualifying[next] < 0 ? 0 : qualifying[next];
    s.needed = levels[next].threshold - s.points;
  }
  return s;
}

}  // namespace circolo::engine::tiers
