// tiers review and leaderboard: the member tiers and the points rankings.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <memory>

#include "commands.hpp"

namespace circolo::cli {
namespace {

// POST /v1/admin/tiers/review: lower the tiers members no longer reach (all, or one).
int tiers_review(const Online& o, const std::string& member) {
  int code = 0;
  auto r =
      call(o, "POST",
           "/v1/admin/tiers/review" + (member.empty() ? "" : "?member=" + percent_encode(member)),
           json::object(), code);
  if (!r) return code;
  if (o.json_output) {
    std::cout << r->dump(2) << "\n";
    return 0;
  }
  std::cout << "Reviewed " << (*r)["members"] << " member(s) above the entry tier; "
            << (*r)["lowered"] << " moved down to the tier their qualifying points reach.\n";
  return 0;
}

// GET /v1/leaderboards/points as a table, with a member's own rank if asked.
int leaderboard(const Online& o, const std::string& period, int limit, const std::string& member) {
  int code = 0;
  std::string target = "/v1/leaderboards/points?period=" + percent_encode(period) +
                       "&limit=" + std::to_string(limit);
  if (!member.empty()) target += "&member=" + percent_encode(member);
  auto r = call(o, "GET", target, nullptr, code);
  if (!r) return code;
  if (o.json_output) {
    std::cout << r->dump(2) << "\n";
    return 0;
  }
  const auto& b = *r;
  std::cout << "Points earned, " << period;
  if (b["from"].is_string())
    std::cout << " (" << b["from"].get<std::string>() << " to " << b["until"].get<std::string>()
              << ")";
  std::cout << "\n";
  std::printf("%5s  %-30s  %-24s  %10s\n", "RANK", "MEMBER", "NAME", "POINTS");
  for (const auto& e : b["entries"]) {
    std::printf("%5lld  %-30s  %-24s  %10lld\n", e["rank"].get<long long>(),
                e["member_id"].get<std::string>().c_str(),
                e["name"].is_string() ? e["name"].get<std::string>().c_str() : "-",
                e["points"].get<long long>());
  }
  if (b["member"].is_object()) {
    std::cout << b["member"]["member_id"].get<std::string>() << " is number " << b["member"]["rank"]
              << " with " << b["member"]["points"] << " points.\n";
  }
  return 0;
}

}  // namespace

void register_gamification(CLI::App& app, Context& ctx) {
  struct State {
    std::string review_member;
    std::string board_period = "month", board_member;
    int board_limit = 10;
  };
  auto s = std::make_shared<State>();
  auto* tiers_cmd = app.add_subcommand("tiers", "member tiers");
  tiers_cmd->require_subcommand(1);
  auto* tiers_review_cmd = tiers_cmd->add_subcommand(
      "review",
      "move members whose qualifying points fell below their tier down now (events only raise\n"
      "tiers; the server also reviews once a day)\n"
      "  example: circolo tiers review --member mem_abc");
  tiers_review_cmd->add_option("--member", s->review_member, "review this member only");
  ctx.add_online(tiers_review_cmd,
                 [s](const Online& o) { return tiers_review(o, s->review_member); });

  auto* leaderboard_cmd = app.add_subcommand(
      "leaderboard",
      "points earned in the current day, week, month or year, ranked (ties share a rank)\n"
      "  example: circolo leaderboard --period week --limit 20 --member mem_abc");
  leaderboard_cmd->add_option("--period", s->board_period, "day, week, month, year or all")
      ->check(CLI::IsMember({"day", "week", "month", "year", "all"}))
      ->capture_default_str();
  leaderboard_cmd->add_option("--limit", s->board_limit, "how many entries")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  leaderboard_cmd->add_option("--member", s->board_member, "also show this member's rank");
  ctx.add_online(leaderboard_cmd, [s](const Online& o) {
    return leaderboard(o, s->board_period, s->board_limit, s->board_member);
  });
}

}  // namespace circolo::cli
