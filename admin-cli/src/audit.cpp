// audit: who did what to members and configuration, newest first (GET /v1/admin/audit).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <memory>

#include "commands.hpp"

namespace circolo::cli {
namespace {

struct Filters {
  std::string member, actor, action, from, until;
  int limit = 50;
};

int audit(const Online& o, const Filters& f) {
  std::string query = "?limit=" + std::to_string(f.limit);
  const auto add = [&](const char* name, const std::string& value) {
    if (!value.empty()) query += std::string("&") + name + "=" + percent_encode(value);
  };
  add("target", f.member);
  add("actor", f.actor);
  add("action", f.action);
  add("from", f.from);
  add("until", f.until);
  int code = 0;
  auto page = call(o, "GET", "/v1/admin/audit" + query, nullptr, code);
  if (!page) return code;
  if (o.json_output) {
    std::cout << page->dump(2) << "\n";
    return 0;
  }
  std::printf("%-27s  %-36s  %-15s  %-20s  %-36s  %s\n", "AT", "ACTOR", "FROM", "ACTION", "TARGET",
              "DETAIL");
  for (const auto& e : (*page)["items"]) {
    const auto text = [](const json& v) { return v.is_string() ? v.get<std::string>() : "-"; };
    std::printf("%-27s  %-36s  %-15s  %-20s  %-36s  %s\n", text(e["at"]).c_str(),
                text(e["actor"]).c_str(), text(e["address"]).c_str(), text(e["action"]).c_str(),
                text(e["target"]).c_str(), e["detail"].empty() ? "" : e["detail"].dump().c_str());
  }
  if (!(*page)["next_cursor"].is_null())
    std::cout << "(more: narrow with --member/--actor/--action/--from, or use --json and the API's "
                 "cursor)\n";
  return 0;
}

}  // namespace

void register_audit(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<Filters>();
  auto* cmd =
      app.add_subcommand("audit",
                         "who did what to members and configuration, newest first\n"
                         "  example: circolo audit --member mem_... --from 2026-12-01T00:00:00Z");
  cmd->add_option("--member", f->member, "only what was done to this member (or key, webhook...)");
  cmd->add_option("--actor", f->actor, "only what this key (or member:<id>) did");
  cmd->add_option("--action", f->action, "only this action (points.adjusted, key.revoked...)");
  cmd->add_option("--from", f->from, "from this RFC 3339 time");
  cmd->add_option("--until", f->until, "until this RFC 3339 time");
  cmd->add_option("--limit", f->limit, "entries at most (1-200)")->check(CLI::Range(1, 200));
  ctx.add_online(cmd, [f](const Online& o) { return audit(o, *f); });
}

}  // namespace circolo::cli
