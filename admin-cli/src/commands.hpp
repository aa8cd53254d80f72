// The command groups of circolo: each adds its commands to the app, in the order of `--help`, and
// says what runs when one of them is the command given.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <utility>
#include <vector>

#include "common.hpp"

namespace circolo::cli {

struct Context {
  struct Command {
    CLI::App* app;
    bool online;  // offline commands run before the config file is read
    std::function<int(const Online&)> run;
  };
  Online online;  // --url, --key, --json, then the config file
  std::vector<Command> commands;

  void add_offline(CLI::App* app, std::function<int(const Online&)> run) {
    commands.push_back({app, false, std::move(run)});
  }
  void add_online(CLI::App* app, std::function<int(const Online&)> run) {
    commands.push_back({app, true, std::move(run)});
  }
};

void register_program(CLI::App& app, Context& ctx);  // program ..., simulate
void register_keys(CLI::App& app, Context& ctx);
void register_campaign(CLI::App& app, Context& ctx);
void register_members(CLI::App& app, Context& ctx);
void register_reports(CLI::App& app, Context& ctx);
void register_referrals(CLI::App& app, Context& ctx);     // after members and reports
void register_backtest(CLI::App& app, Context& ctx);      // after program
void register_gamification(CLI::App& app, Context& ctx);  // tiers, leaderboard
void register_coupons(CLI::App& app, Context& ctx);
void register_webhooks(CLI::App& app, Context& ctx);  // webhooks, events
void register_audit(CLI::App& app, Context& ctx);
void register_segments(CLI::App& app, Context& ctx);  // segments ...; members segments
void register_completion(CLI::App& app, Context& ctx);

}  // namespace circolo::cli
