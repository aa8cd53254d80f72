// campaign list|pause|resume (also spelt `campaigns`): the active program's campaigns.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <memory>

#include "commands.hpp"

namespace circolo::cli {
namespace {

int pause_or_resume(const Online& o, const std::string& action, const std::string& id) {
  int code = 0;
  auto result = call(o, "POST", "/v1/admin/campaigns/" + percent_encode(id) + "/" + action,
                     json::object(), code);
  if (!result) return code;
  if (o.json_output)
    std::cout << result->dump(2) << "\n";
  else
    std::cout << "Campaign " << id << (action == "pause" ? " paused" : " resumed") << ".\n";
  return 0;
}

std::string text_or(const json& v, const std::string& otherwise) {
  return v.is_string() ? v.get<std::string>() : otherwise;
}

int list(const Online& o) {
  int code = 0;
  auto answer = call(o, "GET", "/v1/admin/campaigns", nullptr, code);
  if (!answer) return code;
  if (o.json_output) {
    std::cout << answer->dump(2) << "\n";
    return 0;
  }
  const auto& items = (*answer)["items"];
  if (items.empty()) {
    std::cout << ((*answer)["program_version"].is_null() ? "No program has been applied yet.\n"
                                                         : "The program has no campaigns.\n");
    return 0;
  }
  std::printf("%-24s  %-9s  %-24s  %-27s  %s\n", "CAMPAIGN", "STATE", "BUDGET USED", "LAST FIRED",
              "NAME");
  for (const auto& c : items) {
    const std::string used = std::to_string(c["budget_used"].get<long long>());
    const std::string budget =
        c["budget"].is_null()
            ? "-"
            : used + " of " + std::to_string(c["budget"]["points"].get<long long>());
    std::printf("%-24s  %-9s  %-24s  %-27s  %s\n", c["id"].get<std::string>().c_str(),
                c["state"].get<std::string>().c_str(), budget.c_str(),
                text_or(c["last_fired_at"], "never").c_str(), c["name"].get<std::string>().c_str());
  }
  return 0;
}

}  // namespace

void register_campaign(CLI::App& app, Context& ctx) {
  auto campaign_id = std::make_shared<std::string>();
  auto* campaign_cmd = app.add_subcommand(
      "campaign", "list, pause or resume the campaigns of the active program (or: campaigns)");
  campaign_cmd->alias("campaigns");
  campaign_cmd->require_subcommand(1);
  auto* list_cmd = campaign_cmd->add_subcommand(
      "list",
      "each campaign's state (active, paused, scheduled, ended), budget used and last firing\n"
      "  example: circolo campaigns list");
  ctx.add_online(list_cmd, [](const Online& o) { return list(o); });
  auto* campaign_pause =
      campaign_cmd->add_subcommand("pause", "example: circolo campaign pause weekend-double");
  campaign_pause->add_option("id", *campaign_id, "the campaign id")->required();
  ctx.add_online(campaign_pause, [campaign_id](const Online& o) {
    return pause_or_resume(o, "pause", *campaign_id);
  });
  auto* campaign_resume =
      campaign_cmd->add_subcommand("resume", "example: circolo campaign resume weekend-double");
  campaign_resume->add_option("id", *campaign_id, "the campaign id")->required();
  ctx.add_online(campaign_resume, [campaign_id](const Online& o) {
    return pause_or_resume(o, "resume", *campaign_id);
  });
}

}  // namespace circolo::cli
