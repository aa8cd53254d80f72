// members find|show|history|adjust|merge|consents|interests|offers: a member's profile, wallet and
// journey.
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>

#include "commands.hpp"

namespace circolo::cli {
namespace {

// A progress or goal value: a count (number) or an amount (decimal string).
std::string text_of(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

int members(const Online& o, const std::string& action, const std::string& id,
            const std::string& by_type, const std::string& by_value, long long points,
            const std::string& reason, const std::string& from) {
  int code = 0;
  std::optional<json> result;
  const std::string member = "/v1/members/" + percent_encode(id);
  if (action == "find") {
    result =
        call(o, "GET", "/v1/members/lookup?type=" + by_type + "&value=" + percent_encode(by_value),
             nullptr, code);
  } else if (action == "show") {
    result = call(o, "GET", member, nullptr, code);
    if (result) {
      auto wallet = call(o, "GET", member + "/wallet", nullptr, code);
      if (!wallet) return code;
      (*result)["wallet"] = *wallet;
    }
  } else if (action == "history") {
    result = call(o, "GET", member + "/timeline?limit=50", nullptr, code);
  } else if (action == "adjust") {
    result =
        call(o, "POST", member + "/points/adjust", {{"points", points}, {"reason", reason}}, code);
  } else {
    result = call(o, "POST", member + "/merge", {{"from", from}}, code);
  }
  if (!result) return code;
  if (o.json_output) {
    std::cout << result->dump(2) << "\n";
    return 0;
  }
  const auto& r = *result;
  if (action == "history") {
    for (const auto& e : r["items"]) {
      std::cout << e["occurred_at"].get<std::string>() << "  " << e["type"].get<std::string>()
                << "  " << (e["channel"].is_null() ? "-" : e["channel"].get<std::string>()) << "  "
                << e["data"].dump() << "\n";
    }
  } else if (action == "adjust") {
    std::cout << "Adjusted by " << r["points"] << "; balance " << r["balance_after"] << ".\n";
  } else {
    // A nameless member's line is its id alone, with no trailing blanks.
    std::cout << r["id"].get<std::string>()
              << (r["profile"]["name"].is_null() ? ""
                                                 : "  " + r["profile"]["name"].get<std::string>())
              << "\n  tier: " << (r["tier"].is_null() ? "-" : r["tier"].get<std::string>())
              << "\n  points: " << r["points"]["available"] << " available, "
              << r["points"]["pending"] << " pending\n";
    for (const auto& i : r["identifiers"]) {
      std::cout << "  " << i["type"].get<std::string>() << ": " << i["value"].get<std::string>()
                << "\n";
    }
    if (r.contains("wallet")) {
      for (const auto& e : r["wallet"]["points"]["expiring"]) {
        std::cout << "  expiring: " << e["points"] << " at " << e["at"].get<std::string>() << "\n";
      }
      for (const auto& c : r["wallet"].value("coupons", json::array())) {
        std::cout << "  coupon: " << c["code"].get<std::string>() << "  "
                  << c["name"].get<std::string>() << "  until "
                  << c["expires_at"].get<std::string>() << "  " << c["uses_left"]
                  << " use(s) left\n";
      }
      const auto& tier = r["wallet"]["tier"];
      if (tier.is_object() && tier["progress"].is_object()) {
        std::cout << "  next tier: " << tier["progress"]["next_tier"].get<std::string>() << " ("
                  << tier["progress"]["points"] << " qualifying points, "
                  << tier["progress"]["needed"] << " more needed)\n";
      }
      for (const auto& c : r["wallet"].value("challenges", json::array())) {
        std::cout << "  challenge: " << c["id"].get<std::string>() << "  "
                  << c["name"].get<std::string>() << "  " << text_of(c["progress"]) << "/"
                  << text_of(c["goal"]);
        if (c.value("completed", false))
          std::cout << "  completed"
                    << (c.value("completions", 0) > 1
                            ? " " + std::to_string(c.value("completions", 0)) + " times"
                            : std::string());
        std::cout << "\n";
      }
      for (const auto& b : r["wallet"].value("badges", json::array())) {
        std::cout << "  badge: " << b["badge"].get<std::string>() << "  since "
                  << b["granted_at"].get<std::string>() << "\n";
      }
    }
  }
  return 0;
}

// Shows what a merge would move and the survivor's tier, asks, then merges (a merge cannot be
// undone: the duplicate's identifiers, points, coupons and history become the survivor's).
int merge(const Online& o, const std::string& into, const std::string& from, bool yes) {
  int code = 0;
  const std::string target = "/v1/members/" + percent_encode(into) + "/merge";
  auto preview = call(o, "POST", target, {{"from", from}, {"dry_run", true}}, code);
  if (!preview) return code;
  const auto& m = (*preview)["moves"];
  if (!o.json_output) {
    const auto tier = [](const json& t) {
      return t.is_null() ? std::string("-") : t.get<std::string>();
    };
    std::cout << "Merging " << from << " into " << into << " moves:\n"
              << "  points: " << m["points"]["available"] << " available, "
              << m["points"]["pending"] << " pending (" << m["lots"] << " lots)\n"
              << "  identifiers:";
    for (const auto& i : m["identifiers"])
      std::cout << " " << i["type"].get<std::string>() << " " << i["value"].get<std::string>();
    std::cout << "\n  coupons: " << m["coupons"] << "\n  badges:";
    for (const auto& b : m["badges"]) std::cout << " " << b.get<std::string>();
    if (m["badges"].empty()) std::cout << " -";
    std::cout << "\n  challenge progress: " << m["challenges"] << "\n  events: " << m["events"]
              << "\n  tier of " << into << ": " << tier((*preview)["tier"]["before"]) << " -> "
              << tier((*preview)["tier"]["after"]) << "\n";
  }
  if (!yes) {
    if (!isatty(STDIN_FILENO)) {
      std::cerr << "circolo: not merged: a merge cannot be undone; confirm with --yes when not at "
                   "a terminal\n";
      return 2;
    }
    std::cout << "Merge? This cannot be undone. [y/N] " << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "y" && answer != "Y" && answer != "yes") {
      std::cout << "Not merged.\n";
      return 0;
    }
  }
  return members(o, "merge", into, "", "", 0, "", from);
}

// Shows the member's consents, after giving and withdrawing those named (staff recording what
// the customer said).
int consents(const Online& o, const std::string& id, const std::vector<std::string>& give,
             const std::vector<std::string>& withdraw) {
  int code = 0;
  const std::string target = "/v1/members/" + percent_encode(id) + "/consents";
  json changes = json::object();
  for (const auto& p : give) changes[p] = true;
  for (const auto& p : withdraw) changes[p] = false;
  auto result = changes.empty() ? call(o, "GET", target, nullptr, code)
                                : call(o, "PATCH", target, changes, code);
  if (!result) return code;
  if (o.json_output) {
    std::cout << result->dump(2) << "\n";
    return 0;
  }
  for (const auto& c : (*result)["consents"]) {
    std::cout << c["purpose"].get<std::string>() << "  " << (c["granted"] ? "yes" : "no");
    if (c["default"] == true)
      std::cout << "  (default)";
    else
      std::cout << "  " << c["source"].get<std::string>() << "  "
                << c["recorded_at"].get<std::string>();
    std::cout << "\n";
  }
  return 0;
}

// What the member is interested in, as the till sees it.
int interests(const Online& o, const std::string& id) {
  int code = 0;
  auto result = call(o, "GET", "/v1/members/" + percent_encode(id) + "/interests", nullptr, code);
  if (!result) return code;
  if (o.json_output) {
    std::cout << result->dump(2) << "\n";
    return 0;
  }
  const auto& r = *result;
  const auto text = [](const json& v) {
    return v.is_null() ? std::string("-") : v.get<std::string>();
  };
  if (r["profiling"] != true) std::cout << "(no consent to profiling: nothing is learnt)\n";
  for (const char* kind : {"categories", "brands", "products"}) {
    std::cout << kind << ":";
    for (const auto& a : r[kind]) {
      char share[16];
      std::snprintf(share, sizeof share, "%.0f%%", 100 * a["affinity"].get<double>());
      std::cout << " " << a["key"].get<std::string>() << " " << share;
    }
    std::cout << (r[kind].empty() ? " -\n" : "\n");
  }
  std::cout << "preferred: " << text(r["preferred_channel"]) << ", store "
            << text(r["preferred_store"]) << "\nlast purchase: "
            << (r["days_since_purchase"].is_null() ? std::string("never")
                                                   : r["days_since_purchase"].dump() + " days ago")
            << "\nspend: " << r["spend"]["days_30"].get<std::string>() << " (30 days), "
            << r["spend"]["days_90"].get<std::string>() << " (90), "
            << r["spend"]["days_365"].get<std::string>() << " (365)\n";
  return 0;
}

// The next best offers, as the till would show them: kind, title and the reason, best first.
int offers(const Online& o, const std::string& id, int limit) {
  int code = 0;
  auto result =
      call(o, "GET", "/v1/members/" + percent_encode(id) + "/offers?limit=" + std::to_string(limit),
           nullptr, code);
  if (!result) return code;
  if (o.json_output) {
    std::cout << result->dump(2) << "\n";
    return 0;
  }
  const auto& r = *result;
  if (r["profiling"] != true)
    std::cout << "(no consent to profiling: only what the member holds or can claim)\n";
  if (r["items"].empty()) std::cout << "nothing to offer now\n";
  for (const auto& item : r["items"]) {
    char kind[24];
    std::snprintf(kind, sizeof kind, "%-15s", item["kind"].get<std::string>().c_str());
    std::cout << kind << item["title"].get<std::string>() << ": "
              << item["reason"].get<std::string>() << "\n";
  }
  return 0;
}

}  // namespace

void register_members(CLI::App& app, Context& ctx) {
  struct State {
    std::string member_id, card, email, phone, reason, from;
    std::vector<std::string> give, withdraw;
    long long adjust_points = 0;
    int offers_limit = 5;
    bool yes = false;
  };
  auto s = std::make_shared<State>();
  auto* members_cmd = app.add_subcommand("members", "find and look after members");
  members_cmd->require_subcommand(1);
  auto* member_find = members_cmd->add_subcommand(
      "find", "by an identifier\n  example: circolo members find --card 4000123412341234");
  auto* by = member_find->add_option_group("identifier");
  by->add_option("--card", s->card, "loyalty card");
  by->add_option("--email", s->email, "email");
  by->add_option("--phone", s->phone, "phone");
  by->require_option(1);
  ctx.add_online(member_find, [s](const Online& o) {
    const std::string type = !s->card.empty() ? "card" : !s->email.empty() ? "email" : "phone";
    return members(o, "find", "", type,
                   !s->card.empty()    ? s->card
                   : !s->email.empty() ? s->email
                                       : s->phone,
                   0, "", "");
  });
  auto* member_show = members_cmd->add_subcommand(
      "show", "profile and wallet\n  example: circolo members show mem_...");
  member_show->add_option("id", s->member_id, "the member id")->required();
  ctx.add_online(member_show, [s](const Online& o) {
    return members(o, "show", s->member_id, "", "", 0, "", "");
  });
  auto* member_history = members_cmd->add_subcommand(
      "history", "the member's journey\n  example: circolo members history mem_...");
  member_history->add_option("id", s->member_id, "the member id")->required();
  ctx.add_online(member_history, [s](const Online& o) {
    return members(o, "history", s->member_id, "", "", 0, "", "");
  });
  auto* member_adjust =
      members_cmd->add_subcommand("adjust",
                                  "add or remove points\n  example: circolo members adjust mem_... "
                                  "-50 --reason \"duplicate receipt\"");
  member_adjust->add_option("id", s->member_id, "the member id")->required();
  member_adjust->add_option("points", s->adjust_points, "points, + or -")->required();
  member_adjust->add_option("--reason", s->reason, "why (kept in the ledger)")->required();
  ctx.add_online(member_adjust, [s](const Online& o) {
    return members(o, "adjust", s->member_id, "", "", s->adjust_points, s->reason, "");
  });
  auto* member_consents = members_cmd->add_subcommand(
      "consents",
      "a member's consent per purpose (marketing_email, marketing_sms, marketing_push, "
      "profiling, leaderboards)\n  example: circolo members consents mem_... --give "
      "marketing_email --withdraw leaderboards");
  member_consents->add_option("id", s->member_id, "the member id")->required();
  member_consents->add_option("--give", s->give, "record the member's yes to a purpose");
  member_consents->add_option("--withdraw", s->withdraw, "record the member's no to a purpose");
  ctx.add_online(member_consents,
                 [s](const Online& o) { return consents(o, s->member_id, s->give, s->withdraw); });
  auto* member_interests = members_cmd->add_subcommand(
      "interests",
      "what the member is interested in (members who agreed to profiling)\n  example: circolo "
      "members interests mem_...");
  member_interests->add_option("id", s->member_id, "the member id")->required();
  ctx.add_online(member_interests, [s](const Online& o) { return interests(o, s->member_id); });
  auto* member_offers = members_cmd->add_subcommand(
      "offers",
      "the next best offers: rewards, codes, challenges, campaigns and recommendations, each with "
      "its reason\n  example: circolo members offers mem_... --limit 10");
  member_offers->add_option("id", s->member_id, "the member id")->required();
  member_offers->add_option("--limit", s->offers_limit, "how many (1 to 20)")
      ->check(CLI::Range(1, 20))
      ->capture_default_str();
  ctx.add_online(member_offers,
                 [s](const Online& o) { return offers(o, s->member_id, s->offers_limit); });
  auto* member_merge = members_cmd->add_subcommand(
      "merge",
      "merge a duplicate into a member (shows what moves, then asks)\n  example: circolo members "
      "merge mem_keep mem_duplicate");
  member_merge->add_option("into", s->member_id, "the member that stays")->required();
  member_merge->add_option("from", s->from, "the duplicate")->required();
  member_merge->add_flag("--yes", s->yes, "merge without asking (scripts)");
  ctx.add_online(member_merge,
                 [s](const Online& o) { return merge(o, s->member_id, s->from, s->yes); });
}

}  // namespace circolo::cli
