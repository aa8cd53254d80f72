// webhooks add|list|deliveries|redrive and events tail: the outgoing events, pushed to endpoints
// or followed live.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <limits>
#include <memory>
#include <sstream>

#include "commands.hpp"
#include "http.hpp"

namespace circolo::cli {
namespace {

int webhooks(const Online& o, const std::string& action, const std::string& id,
             const std::string& url, const std::string& events, const std::string& secret,
             const std::string& status, const std::string& seq) {
  int code = 0;
  std::optional<json> result;
  if (action == "add") {
    json types = json::array();
    std::stringstream list(events);
    for (std::string t; std::getline(list, t, ',');)
      if (!t.empty()) types.push_back(t);
    result = call(o, "POST", "/v1/admin/webhooks",
                  {{"url", url}, {"events", types}, {"secret", secret}}, code);
  } else if (action == "list") {
    result = call(o, "GET", "/v1/admin/webhooks", nullptr, code);
  } else if (action == "deliveries") {
    result = call(o, "GET",
                  "/v1/admin/webhooks/" + percent_encode(id) + "/deliveries" +
                      (status.empty() ? "" : "?status=" + percent_encode(status)),
                  nullptr, code);
  } else {
    result = call(o, "POST",
                  "/v1/admin/webhooks/" + percent_encode(id) + "/deliveries/" +
                      percent_encode(seq) + "/redrive",
                  json::object(), code);
  }
  if (!result) return code;
  if (o.json_output) {
    std::cout << result->dump(2) << "\n";
    return 0;
  }
  const auto& r = *result;
  if (action == "add") {
    std::cout << "Webhook " << r["id"].get<std::string>() << " delivers " << r["events"].dump()
              << " to " << r["url"].get<std::string>() << " from now on.\n";
  } else if (action == "list") {
    std::printf("%-30s  %-8s  %6s  %s\n", "ID", "STATE", "LAG", "URL  EVENTS");
    for (const auto& w : r["items"]) {
      std::printf("%-30s  %-8s  %6lld  ", w["id"].get<std::string>().c_str(),
                  w["disabled_at"].is_null() ? "active" : "disabled", w["lag"].get<long long>());
      std::cout << w["url"].get<std::string>() << "  " << w["events"].dump()
                << (w["failures"].get<int>() > 0
                        ? "  failing (" + std::to_string(w["failures"].get<int>()) + " attempts)"
                        : "")
                << "\n";
    }
  } else if (action == "deliveries") {
    std::printf("%8s  %-20s  %-9s  %8s  %s\n", "SEQ", "TYPE", "STATUS", "ATTEMPTS", "LAST ANSWER");
    for (const auto& d : r["items"]) {
      std::printf("%8lld  %-20s  %-9s  %8d", d["seq"].get<long long>(),
                  d["event_type"].get<std::string>().c_str(),
                  d["status"].get<std::string>().c_str(), d["attempts"].get<int>());
      std::cout << (d["last_status_code"].is_null()
                        ? ""
                        : "  HTTP " + std::to_string(d["last_status_code"].get<int>()))
                << (d["last_error"].is_null() ? "" : "  " + d["last_error"].get<std::string>())
                << "\n";
    }
  } else {
    std::cout << "Event " << seq << " will be delivered again to " << id << ".\n";
  }
  return 0;
}

void print_event(const json& e, bool json_output) {
  if (json_output) {
    std::cout << e.dump() << "\n";
  } else {
    std::printf("%8lld  %-27s  %-20s  %-30s  %s\n", e["seq"].get<long long>(),
                e["at"].get<std::string>().c_str(), e["type"].get<std::string>().c_str(),
                e["member_id"].is_null() ? "-" : e["member_id"].get<std::string>().c_str(),
                e["data"].dump().c_str());
  }
  std::cout.flush();
}

// Recent outgoing events (the feed), and with --follow the new ones live over the WebSocket.
int events_tail(const Online& o, const std::string& member, const std::string& types,
                std::optional<long long> after, bool follow) {
  int code = 0;
  std::string filter;
  if (!member.empty()) filter += "&member=" + percent_encode(member);
  if (!types.empty()) filter += "&types=" + percent_encode(types);
  if (!after) {
    auto latest = call(o, "GET", "/v1/feed?limit=1", nullptr, code);
    if (!latest) return code;
    after = std::max(0LL, (*latest)["last_seq"].get<long long>() - 20);
  }
  for (;;) {
    auto page = call(o, "GET", "/v1/feed?limit=200&after=" + std::to_string(*after) + filter,
                     nullptr, code);
    if (!page) return code;
    for (const auto& e : (*page)["items"]) print_event(e, o.json_output);
    after = (*page)["next_after"].get<long long>();
    if ((*page)["items"].size() < 200) break;
  }
  if (!follow) return 0;
  try {
    circolo::cli::Client client(o.url, o.key);
    circolo::cli::HttpAnswer refusal;
    const bool streamed = client.stream(
        "/v1/stream?after=" + std::to_string(*after) + filter,
        [&](const std::string& message) {
          const auto e = json::parse(message, nullptr, false);
          if (!e.is_discarded()) print_event(e, o.json_output);
        },
        refusal);
    if (!streamed) {
      std::cerr << circolo::cli::describe_refusal(refusal);
      return refusal.status >= 500 ? 3 : 1;
    }
    std::cerr << "the server closed the event stream\n";
    return 3;
  } catch (const circolo::cli::ConnectionError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 3;
  }
}

}  // namespace

void register_webhooks(CLI::App& app, Context& ctx) {
  struct State {
    std::string hook_id, hook_url, hook_events, hook_secret, hook_status, hook_seq;
    std::string tail_member, tail_types;
    long long tail_after = -1;
    bool tail_follow = false;
  };
  auto s = std::make_shared<State>();
  auto* webhooks_cmd = app.add_subcommand("webhooks", "endpoints that receive outgoing events");
  webhooks_cmd->require_subcommand(1);
  auto* webhook_add = webhooks_cmd->add_subcommand(
      "add",
      "register an endpoint\n  example: circolo webhooks add https://crm.example/hooks "
      "--events points.earned,tier.changed --secret \"$HOOK_SECRET\"");
  webhook_add->add_option("url", s->hook_url, "where events are POSTed")->required();
  webhook_add->add_option("--events", s->hook_events, "event types, comma separated")->required();
  webhook_add
      ->add_option("--secret", s->hook_secret, "HMAC key of Circolo-Signature (16+ characters)")
      ->required();
  ctx.add_online(webhook_add, [s](const Online& o) {
    return webhooks(o, "add", "", s->hook_url, s->hook_events, s->hook_secret, "", "");
  });
  auto* webhook_list = webhooks_cmd->add_subcommand(
      "list", "endpoints, lag and failures\n  example: circolo webhooks list");
  ctx.add_online(webhook_list,
                 [](const Online& o) { return webhooks(o, "list", "", "", "", "", "", ""); });
  auto* webhook_deliveries = webhooks_cmd->add_subcommand(
      "deliveries",
      "attempts per event, newest first\n  example: circolo webhooks deliveries "
      "whk_... --status dead");
  webhook_deliveries->add_option("id", s->hook_id, "the webhook id")->required();
  webhook_deliveries->add_option("--status", s->hook_status, "delivered, failing, dead or redrive");
  ctx.add_online(webhook_deliveries, [s](const Online& o) {
    return webhooks(o, "deliveries", s->hook_id, "", "", "", s->hook_status, "");
  });
  auto* webhook_redrive = webhooks_cmd->add_subcommand(
      "redrive", "deliver a dead letter again\n  example: circolo webhooks redrive whk_... 1234");
  webhook_redrive->add_option("id", s->hook_id, "the webhook id")->required();
  webhook_redrive->add_option("seq", s->hook_seq, "the event's seq")->required();
  ctx.add_online(webhook_redrive, [s](const Online& o) {
    return webhooks(o, "redrive", s->hook_id, "", "", "", "", s->hook_seq);
  });

  auto* events_cmd = app.add_subcommand("events", "outgoing events");
  events_cmd->require_subcommand(1);
  auto* events_tail_cmd =
      events_cmd->add_subcommand("tail",
                                 "recent outgoing events; --follow keeps printing new ones\n"
                                 "  example: circolo events tail --member mem_... --follow");
  events_tail_cmd->add_option("--member", s->tail_member, "one member's events");
  events_tail_cmd->add_option("--types", s->tail_types, "types, comma separated");
  events_tail_cmd->add_option("--after", s->tail_after, "from this seq (default: the last 20)")
      ->check(CLI::Range(0LL, std::numeric_limits<long long>::max()));
  events_tail_cmd->add_flag("-f,--follow", s->tail_follow, "keep following (Ctrl-C stops)");
  ctx.add_online(events_tail_cmd, [s](const Online& o) {
    return events_tail(o, s->tail_member, s->tail_types,
                       s->tail_after >= 0 ? std::optional<long long>(s->tail_after) : std::nullopt,
                       s->tail_follow);
  });
}

}  // namespace circolo::cli
