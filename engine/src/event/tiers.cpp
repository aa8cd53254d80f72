// Tiers: where a member stands by its qualifying points (events raise, the review lowers), and
// the leaderboard periods points count in.
#include <vector>

#include "circolo/engine/event/decide.hpp"
#include "circolo/engine/tiers.hpp"

namespace circolo::engine::event {

std::optional<std::string> entry_tier(const rules::CompiledProgram& program) {
  const auto& tiers = program.tiers();
  if (tiers.empty() || tiers.front().threshold > 0) return std::nullopt;
  return tiers.front().id;
}

std::optional<std::string> tier_reached(const rules::CompiledProgram& program,
                                        std::span<const ledger::Points> qualifying) {
  const auto& tiers = program.tiers();
  if (tiers.empty()) return std::nullopt;
  std::vector<tiers::Level> levels;
  for (const auto& t : tiers) levels.push_back({t.id, t.threshold});
  const auto standing = tiers::standing(levels, qualifying);
  if (!standing.tier) return std::nullopt;
  return tiers[*standing.tier].id;
}

long tier_rank(const rules::CompiledProgram& program, const std::optional<std::string>& tier) {
  const auto& tiers = program.tiers();
  for (std::size_t i = 0; i < tiers.size(); ++i) {
    if (tier && tiers[i].id == *tier) return static_cast<long>(i);
  }
  return -1;
}

std::optional<std::string> raised_tier(const rules::CompiledProgram& program,
                                       const std::optional<std::string>& current,
                                       std::span<const ledger::Points> qualifying) {
  const auto reached = tier_reached(program, qualifying);
  if (reached == current || tier_rank(program, reached) <= tier_rank(program, current))
    return std::nullopt;
  return reached;
}

std::optional<std::optional<std::string>> lowered_tier(const rules::CompiledProgram& program,
                                                       const std::optional<std::string>& current,
                                                       std::span<const ledger::Points> qualifying) {
  if (!current) return std::nullopt;
  const auto reached = tier_reached(program, qualifying);
  const long rank = tier_rank(program, current);
  if (rank >= 0 && tier_rank(program, reached) >= rank) return std::nullopt;
  if (reached == current) return std::nullopt;
  return reached;
}

std::vector<std::string> leaderboard_periods(const rules::CompiledProgram& program,
                                             TimePoint time) {
  std::vector<std::string> out;
  for (const char* kind : {"day", "week", "month", "year"})
    out.push_back(program.calendar_period(kind, time)->key);
  out.push_back("all");
  return out;
}

}  // namespace circolo::engine::event
